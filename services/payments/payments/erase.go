package payments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/onekey-oss/onekey/api/cryptopay"
	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/store"
)

// collErased: _id = account id of an account whose crypto data was erased
// (with erased_at). It holds no personal data, only the opaque id, which
// the kept transaction records carry too.
const collErased = "erased_accounts"

// onAccountDeleted (consumer payments-accounts) erases the personal crypto
// data payments holds of a deleted account: its claims that never credited
// anything (pending ones, which chainwatcher would otherwise still confirm,
// and rejected ones), its linked wallets and its outstanding wallet-link
// nonces. It keeps the anonymized transaction records accounting needs:
// confirmed claims, chainwatcher's credits and card payments, none of which
// holds a name or an e-mail address.
//
// The account is first marked erased (a unique insert), so that a wallet
// link or claim request of the account still in flight, which stores its
// document and then looks for the mark, removes what it stored itself if
// it came too late for the deletes below (see undoIfErased).
//
// Idempotent: the mark is inserted once, and every step deletes by account id, so a redelivered (or
// replayed) account.deleted finds nothing left to delete and changes
// nothing more. A message that cannot be decoded, or whose account is not
// the one its subject names, is permanent (dead-lettered), never retried.
func (s *Service) onAccountDeleted(ctx context.Context, msg jetstream.Msg) error {
	var ev events.AccountDeletedV1
	if err := json.Unmarshal(msg.Data(), &ev); err != nil {
		return fmt.Errorf("decode account.deleted: %w: %w", err, bus.ErrPermanent)
	}
	if err := events.ValidToken(ev.AccountID); err != nil {
		return fmt.Errorf("account.deleted %s: account id: %w: %w", ev.ID, err, bus.ErrPermanent)
	}
	if subj := events.AccountOf(msg.Subject()); subj != ev.AccountID {
		return fmt.Errorf("account.deleted %s: names account %q on the subject of %q: %w", ev.ID, ev.AccountID, subj, bus.ErrPermanent)
	}
	mark := bson.D{{Key: "_id", Value: ev.AccountID}, {Key: "erased_at", Value: s.now().UTC()}}
	if _, err := s.st.Collection(collErased).InsertOne(ctx, mark); err != nil && !store.IsDuplicate(err) {
		return fmt.Errorf("mark %s erased: %w", ev.AccountID, err)
	}
	n, err := s.eraseCrypto(ctx, ev.AccountID)
	if err != nil {
		return err
	}
	s.log.Info("erased crypto data of a deleted account", "account", ev.AccountID,
		"claims", n.claims, "wallets", n.wallets, "nonces", n.nonces)
	return nil
}

type erased struct{ claims, wallets, nonces int64 }

// eraseCrypto deletes account's unconfirmed claims, then its wallets, then
// its nonces. Claims go first: a chainwatcher pass that read a pending
// claim before this re-reads it before crediting (chainwatcher's check) and
// finds it gone; while the wallets are still there it cannot reject the
// claim for want of a linked wallet either.
func (s *Service) eraseCrypto(ctx context.Context, account string) (erased, error) {
	var n erased
	res, err := s.st.Collection(cryptopay.CollClaims).DeleteMany(ctx, bson.D{
		{Key: "account_id", Value: account},
		{Key: "status", Value: bson.D{{Key: "$ne", Value: events.ClaimConfirmed}}},
	})
	if err != nil {
		return n, fmt.Errorf("erase claims of %s: %w", account, err)
	}
	n.claims = res.DeletedCount
	res, err = s.st.Collection(cryptopay.CollWallets).DeleteMany(ctx, bson.D{{Key: "account_id", Value: account}})
	if err != nil {
		return n, fmt.Errorf("erase wallets of %s: %w", account, err)
	}
	n.wallets = res.DeletedCount
	res, err = s.st.Collection(cryptopay.CollNonces).DeleteMany(ctx, bson.D{{Key: "account_id", Value: account}})
	if err != nil {
		return n, fmt.Errorf("erase wallet-link nonces of %s: %w", account, err)
	}
	n.nonces = res.DeletedCount
	return n, nil
}

// undoIfErased is called by a request handler right after it stored doc
// (filter selects it) for account. If the account was marked erased
// meanwhile, it deletes doc again and reports true: either the handler's
// insert came before the mark, and so before the erasure's deletes, which
// remove it; or it came after, and then this check sees the mark.
func (s *Service) undoIfErased(ctx context.Context, account, coll string, filter bson.D) (bool, error) {
	err := s.st.Collection(collErased).FindOne(ctx, bson.D{{Key: "_id", Value: account}}).Err()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up erasure of %s: %w", account, err)
	}
	if _, err := s.st.Collection(coll).DeleteOne(ctx, filter); err != nil {
		return true, fmt.Errorf("undo %s of erased account %s: %w", coll, account, err)
	}
	return true, nil
}
