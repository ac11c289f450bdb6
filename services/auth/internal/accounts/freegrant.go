package accounts

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/onekey-oss/onekey/pkg/store"
)

// Free requests are granted once per verified address, ever. Every address
// an account was opened for (magic link: the mail proves it; Google only
// with email_verified; GitHub only a verified primary address) is recorded
// in CollFreeGrants as a keyed hash: an HMAC-SHA-256 under a server secret,
// never the address, so the record tells nothing to whoever reads the
// database without the secret, and cannot be reversed by hashing a list of
// addresses. The record survives the account's deletion (its account id is
// removed then): it is what keeps "delete the account, sign in again" from
// granting the free requests again. The unique insert of the record decides
// whether an account gets them.

// freeGrant records that an address received its free requests.
type freeGrant struct {
	ID string `bson:"_id"` // the address's keyed hash
	// AccountID is the account that received them, while it exists, so a
	// retried settle of that account decides the same way.
	AccountID string    `bson:"account_id,omitempty"`
	GrantedAt time.Time `bson:"granted_at"`
}

// addressKey is the keyed hash of a normalized address.
func (s *Store) addressKey(email string) string {
	m := hmac.New(sha256.New, s.grantKey)
	m.Write([]byte("onekey free grant v1\x00"))
	m.Write([]byte(email))
	return hex.EncodeToString(m.Sum(nil))
}

// grantFree decides whether account u, opened for its verified address,
// gets the free requests: yes only if no account of that address ever got
// them (or u itself already did). Safe to call again for the same user.
func (s *Store) grantFree(ctx context.Context, u User) (bool, error) {
	id := s.addressKey(u.Email)
	_, err := s.st.Collection(CollFreeGrants).InsertOne(ctx, freeGrant{ID: id, AccountID: u.ID, GrantedAt: s.now()})
	if err == nil {
		return true, nil
	}
	if !store.IsDuplicate(err) {
		return false, fmt.Errorf("record free grant: %w", err)
	}
	var g freeGrant
	err = s.st.Collection(CollFreeGrants).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&g)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return false, nil // never deleted; cannot happen
	}
	if err != nil {
		return false, fmt.Errorf("read free grant: %w", err)
	}
	return g.AccountID == u.ID, nil
}

// keepGrant records, before an account is deleted, that its address had
// the free requests (accounts opened before grants were recorded have no
// record yet), and forgets which account that was.
func (s *Store) keepGrant(ctx context.Context, u User) error {
	_, err := s.st.Collection(CollFreeGrants).InsertOne(ctx, freeGrant{ID: s.addressKey(u.Email), GrantedAt: u.CreatedAt})
	if err != nil && !store.IsDuplicate(err) {
		return fmt.Errorf("keep free grant: %w", err)
	}
	return s.forgetGrantAccount(ctx, u.ID)
}

// forgetGrantAccount removes a deleted account's id from its grant record.
func (s *Store) forgetGrantAccount(ctx context.Context, accountID string) error {
	_, err := s.st.Collection(CollFreeGrants).UpdateMany(ctx, bson.D{{Key: "account_id", Value: accountID}},
		bson.D{{Key: "$unset", Value: bson.D{{Key: "account_id", Value: ""}}}})
	if err != nil {
		return fmt.Errorf("free grant: forget account: %w", err)
	}
	return nil
}
