package accounts

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/ids"
	"github.com/onekey-oss/onekey/pkg/store"
)

// User is one person; its id is also their ledger account id.
type User struct {
	ID        string    `bson:"_id" json:"account_id"`
	Email     string    `bson:"email" json:"email"`
	Name      string    `bson:"name,omitempty" json:"name,omitempty"`
	CreatedAt time.Time `bson:"created_at" json:"created_at"`
	// Settled is set once the default project exists and account.created
	// has been published (see settle). Until then the relay retries.
	Settled bool `bson:"settled" json:"-"`
	// DeletedAt marks a tombstone: the person's data is (being) removed.
	DeletedAt *time.Time `bson:"deleted_at,omitempty" json:"-"`
	// DeleteAnnounced is set once account.deleted has been published.
	DeleteAnnounced bool `bson:"delete_announced,omitempty" json:"-"`
	// Created is set on the User that UserForEmail (or UserForIdentity)
	// returns when that call made the account: a sign-up. Not stored.
	Created bool `bson:"-" json:"-"`
}

// Identity links a provider's subject to a user.
type Identity struct {
	ID        string    `bson:"_id" json:"-"` // provider + ":" + subject
	Provider  string    `bson:"provider" json:"provider"`
	Subject   string    `bson:"subject" json:"subject"`
	AccountID string    `bson:"account_id" json:"-"`
	Email     string    `bson:"email" json:"email"`
	CreatedAt time.Time `bson:"created_at" json:"created_at"`
}

// NormalizeEmail returns the canonical (trimmed, lower-case) form of a plain
// address, or ErrInvalid.
func NormalizeEmail(raw string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(raw))
	if len(e) < 3 || len(e) > 254 || strings.ContainsAny(e, " <>\"(),;:\r\n\t") {
		return "", invalid("email: not an address")
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || strings.Count(e, "@") != 1 {
		return "", invalid("email: not an address")
	}
	return e, nil
}

// defaultProjectID is derived from the account id so that creating it is
// an idempotent insert, whoever (request or relay) gets there first.
func defaultProjectID(accountID string) string {
	return "prj_" + strings.TrimPrefix(accountID, "acc_")
}

// DefaultProjectID is the id of the project every new account starts with.
func DefaultProjectID(accountID string) string { return defaultProjectID(accountID) }

// UserByID returns a live (not deleted) user.
func (s *Store) UserByID(ctx context.Context, id string) (User, error) {
	var u User
	err := s.st.Collection(CollUsers).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&u)
	if errors.Is(err, mongo.ErrNoDocuments) || (err == nil && u.DeletedAt != nil) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("find user: %w", err)
	}
	return u, nil
}

// UserForEmail returns the user with this (normalized) address, creating
// and settling one if there is none. Concurrent calls for one address end
// with one user: the unique index on email decides.
func (s *Store) UserForEmail(ctx context.Context, email, name string) (User, error) {
	for range 3 {
		var u User
		err := s.st.Collection(CollUsers).FindOne(ctx, bson.D{{Key: "email", Value: email}}).Decode(&u)
		if err == nil {
			if !u.Settled {
				if err := s.settle(ctx, u); err != nil {
					return User{}, err
				}
				u.Settled = true
			}
			return u, nil
		}
		if !errors.Is(err, mongo.ErrNoDocuments) {
			return User{}, fmt.Errorf("find user by email: %w", err)
		}
		u = User{ID: ids.New("acc"), Email: email, Name: name, CreatedAt: s.now()}
		_, err = s.st.Collection(CollUsers).InsertOne(ctx, u)
		if store.IsDuplicate(err) {
			continue // another sign-in created it: read theirs
		}
		if err != nil {
			return User{}, fmt.Errorf("create user: %w", err)
		}
		if err := s.settle(ctx, u); err != nil {
			// The user exists; the relay finishes settling it.
			return User{}, err
		}
		u.Settled, u.Created = true, true
		return u, nil
	}
	return User{}, fmt.Errorf("create user: lost the race three times")
}

// settle gives a new user its default project and announces the account
// to the ledger, which grants the free requests unless the address already
// had them (see grantFree). Each step is idempotent,
// so a retry by the relay after a crash is safe.
func (s *Store) settle(ctx context.Context, u User) error {
	p := Project{ID: defaultProjectID(u.ID), AccountID: u.ID, Name: "Default project", CreatedAt: u.CreatedAt}
	if _, err := s.st.Collection(CollProjects).InsertOne(ctx, p); err != nil && !store.IsDuplicate(err) {
		return fmt.Errorf("settle %s: default project: %w", u.ID, err)
	}
	free, err := s.grantFree(ctx, u)
	if err != nil {
		return fmt.Errorf("settle %s: %w", u.ID, err)
	}
	ev := events.AccountCreatedV1{V: 1, ID: "account.created:" + u.ID, Time: u.CreatedAt, AccountID: u.ID, NoFreeRequests: !free}
	if _, err := s.bus.Publish(ctx, ev); err != nil {
		return fmt.Errorf("settle %s: %w", u.ID, err)
	}
	_, err = s.st.Collection(CollUsers).UpdateOne(ctx, bson.D{{Key: "_id", Value: u.ID}}, bson.D{{Key: "$set", Value: bson.D{{Key: "settled", Value: true}}}})
	if err != nil {
		return fmt.Errorf("settle %s: mark settled: %w", u.ID, err)
	}
	return nil
}

// UserForIdentity signs in through a provider. A known identity gives its
// user. Otherwise the provider must have verified the address: only then is
// the identity linked to the user with that address (or a new one).
func (s *Store) UserForIdentity(ctx context.Context, provider, subject, email string, verified bool, name string) (User, error) {
	if provider == "" || subject == "" {
		return User{}, invalid("identity without provider or subject")
	}
	id := provider + ":" + subject
	var idn Identity
	err := s.st.Collection(CollIdentities).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&idn)
	switch {
	case err == nil:
		u, err := s.UserByID(ctx, idn.AccountID)
		if err == nil {
			return u, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return User{}, err
		}
		// The account was deleted: drop the stale link and start afresh.
		if _, err := s.st.Collection(CollIdentities).DeleteOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
			return User{}, fmt.Errorf("drop stale identity: %w", err)
		}
	case !errors.Is(err, mongo.ErrNoDocuments):
		return User{}, fmt.Errorf("find identity: %w", err)
	}
	if !verified {
		return User{}, invalid("%s did not verify this e-mail address", provider)
	}
	email, err = NormalizeEmail(email)
	if err != nil {
		return User{}, err
	}
	u, err := s.UserForEmail(ctx, email, name)
	if err != nil {
		return User{}, err
	}
	idn = Identity{ID: id, Provider: provider, Subject: subject, AccountID: u.ID, Email: email, CreatedAt: s.now()}
	if _, err := s.st.Collection(CollIdentities).InsertOne(ctx, idn); err != nil && !store.IsDuplicate(err) {
		return User{}, fmt.Errorf("link identity: %w", err)
	}
	if u.Name == "" && name != "" {
		_, _ = s.st.Collection(CollUsers).UpdateOne(ctx, bson.D{{Key: "_id", Value: u.ID}}, bson.D{{Key: "$set", Value: bson.D{{Key: "name", Value: name}}}})
		u.Name = name
	}
	return u, nil
}

// Rename corrects a user's display name (the data right to correction; an
// empty name removes it).
func (s *Store) Rename(ctx context.Context, accountID, name string) (User, error) {
	name = strings.TrimSpace(name)
	if len([]rune(name)) > 100 {
		return User{}, invalid("name must be at most 100 characters")
	}
	update := bson.D{{Key: "$set", Value: bson.D{{Key: "name", Value: name}}}}
	if name == "" {
		update = bson.D{{Key: "$unset", Value: bson.D{{Key: "name", Value: ""}}}}
	}
	res, err := s.st.Collection(CollUsers).UpdateOne(ctx, bson.D{{Key: "_id", Value: accountID}, {Key: "deleted_at", Value: bson.D{{Key: "$exists", Value: false}}}}, update)
	if err != nil {
		return User{}, fmt.Errorf("rename user: %w", err)
	}
	if res.MatchedCount == 0 {
		return User{}, ErrNotFound
	}
	return s.UserByID(ctx, accountID)
}
