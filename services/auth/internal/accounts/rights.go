package accounts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/onekey-oss/onekey/api/cryptopay"
	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/notices"
	"github.com/onekey-oss/onekey/api/readmodel"
)

// Export is everything onekey stores about a person.
type Export struct {
	ExportedAt time.Time  `json:"exported_at"`
	Account    User       `json:"account"`
	Identities []Identity `json:"identities"`
	Sessions   []Session  `json:"sessions"`
	Projects   []Project  `json:"projects"`
	Keys       []Key      `json:"api_keys"`
	// KeySuspensions are the operator's suspensions of the user's keys
	// (suspend.go: which suspension, and why the operator's name is not
	// in it).
	KeySuspensions []ExportedSuspension `json:"api_key_suspensions"`
	// MagicLinks are pending sign-in links to the address (times only).
	MagicLinks []MagicLink `json:"pending_sign_in_links"`
	// The ledger's records, as stored (balance, journal, usage metadata
	// and daily rollups).
	Ledger struct {
		Account json.RawMessage   `json:"account,omitempty"`
		Journal []json.RawMessage `json:"journal"`
		Usage   []json.RawMessage `json:"usage"`
		Rollups []json.RawMessage `json:"usage_rollups"`
	} `json:"ledger"`
	// Records other services keep under the account id, by collection
	// (crypto wallets and claims, sent-mail records), as stored.
	Records map[string][]json.RawMessage `json:"records"`
}

// foreignCollections hold other services' records keyed by account_id.
func foreignCollections() []string {
	return []string{
		cryptopay.CollWallets, cryptopay.CollClaims, cryptopay.CollCredits,
		"notifier_mails", // services/notifier's CollMails
		notices.CollDeliveries,
	}
}

// Export gathers all of a user's data.
func (s *Store) Export(ctx context.Context, accountID string) (Export, error) {
	var x Export
	u, err := s.UserByID(ctx, accountID)
	if err != nil {
		return Export{}, err
	}
	x.ExportedAt, x.Account = s.now(), u
	byAccount := bson.D{{Key: "account_id", Value: accountID}}
	if err := s.all(ctx, CollIdentities, byAccount, &x.Identities); err != nil {
		return Export{}, err
	}
	if err := s.all(ctx, CollSessions, byAccount, &x.Sessions); err != nil {
		return Export{}, err
	}
	if err := s.all(ctx, CollProjects, byAccount, &x.Projects); err != nil {
		return Export{}, err
	}
	if x.Keys, err = s.keys(ctx, byAccount); err != nil {
		return Export{}, err
	}
	if x.KeySuspensions, err = s.exportSuspensions(ctx, accountID, x.Keys); err != nil {
		return Export{}, err
	}
	if err := s.all(ctx, CollMagicLinks, bson.D{{Key: "email", Value: u.Email}}, &x.MagicLinks); err != nil {
		return Export{}, err
	}
	x.Records = map[string][]json.RawMessage{}
	for _, coll := range foreignCollections() {
		if x.Records[coll], err = s.raw(ctx, coll, byAccount); err != nil {
			return Export{}, err
		}
	}
	acc, err := s.raw(ctx, readmodel.CollAccounts, bson.D{{Key: "_id", Value: accountID}})
	if err != nil {
		return Export{}, err
	}
	if len(acc) == 1 {
		x.Ledger.Account = acc[0]
	}
	if x.Ledger.Journal, err = s.raw(ctx, readmodel.CollJournal, byAccount); err != nil {
		return Export{}, err
	}
	if x.Ledger.Usage, err = s.raw(ctx, readmodel.CollUsage, byAccount); err != nil {
		return Export{}, err
	}
	if x.Ledger.Rollups, err = s.raw(ctx, readmodel.CollRollups, byAccount); err != nil {
		return Export{}, err
	}
	return x, nil
}

func (s *Store) all(ctx context.Context, coll string, filter bson.D, out any) error {
	cur, err := s.st.Collection(coll).Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return fmt.Errorf("export %s: %w", coll, err)
	}
	if err := cur.All(ctx, out); err != nil {
		return fmt.Errorf("export %s: %w", coll, err)
	}
	return nil
}

// raw reads documents of a collection auth does not own as relaxed
// extended JSON, so the export shows them exactly as stored.
func (s *Store) raw(ctx context.Context, coll string, filter bson.D) ([]json.RawMessage, error) {
	cur, err := s.st.Collection(coll).Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", coll, err)
	}
	defer cur.Close(ctx)
	out := []json.RawMessage{}
	for cur.Next(ctx) {
		j, err := bson.MarshalExtJSON(cur.Current, false, false)
		if err != nil {
			return nil, fmt.Errorf("export %s: %w", coll, err)
		}
		out = append(out, j)
	}
	return out, cur.Err()
}

// DeleteAccount removes a person's data: it first turns the user into a
// tombstone (no e-mail, no name), then deletes their sessions, keys (from
// the database and KV apikeys), projects, identities and pending sign-in
// links, notice deliveries, and finally publishes account.deleted. The ledger's records stay,
// keyed by the opaque account id only. Every step is idempotent; if one
// fails the relay finishes the job from the tombstone.
func (s *Store) DeleteAccount(ctx context.Context, accountID string) error {
	u, err := s.UserByID(ctx, accountID)
	if err != nil {
		return err
	}
	// Before the address goes: its free grant outlives the account.
	if err := s.keepGrant(ctx, u); err != nil {
		return fmt.Errorf("delete account: %w", err)
	}
	now := s.now()
	// The address is replaced, not unset: the unique index on email would
	// otherwise see every tombstone as the same missing value.
	_, err = s.st.Collection(CollUsers).UpdateOne(ctx, bson.D{{Key: "_id", Value: accountID}}, bson.D{
		{Key: "$set", Value: bson.D{{Key: "email", Value: "deleted:" + accountID}, {Key: "deleted_at", Value: now}, {Key: "delete_announced", Value: false}}},
		{Key: "$unset", Value: bson.D{{Key: "name", Value: ""}}},
	})
	if err != nil {
		return fmt.Errorf("delete account: tombstone: %w", err)
	}
	if _, err := s.st.Collection(CollMagicLinks).DeleteMany(ctx, bson.D{{Key: "email", Value: u.Email}}); err != nil {
		return fmt.Errorf("delete account: magic links: %w", err)
	}
	return s.purge(ctx, accountID)
}

// purge removes what a tombstoned account still has and announces it.
func (s *Store) purge(ctx context.Context, accountID string) error {
	byAccount := bson.D{{Key: "account_id", Value: accountID}}
	if _, err := s.st.Collection(CollSessions).DeleteMany(ctx, byAccount); err != nil {
		return fmt.Errorf("delete account: sessions: %w", err)
	}
	keys, err := s.keys(ctx, byAccount)
	if err != nil {
		return err
	}
	// Revoked first (in KV too), so that if the deletion stops between
	// the database and KV the entries left are refused by the gateway;
	// then deleted, and their entries purged (a purge keeps nothing of a
	// key in the bucket) by the usual writer, which also keeps a racing
	// update from writing one back.
	for _, k := range keys {
		if err := s.recordRevocation(ctx, k, s.now()); err != nil {
			return fmt.Errorf("delete account: %w", err)
		}
		if _, _, err := s.syncKey(ctx, k.ID, k.Hash); err != nil {
			return fmt.Errorf("delete account: %w", err)
		}
	}
	if _, err := s.st.Collection(CollKeys).DeleteMany(ctx, byAccount); err != nil {
		return fmt.Errorf("delete account: %s: %w", CollKeys, err)
	}
	for _, k := range keys {
		if _, _, err := s.syncKey(ctx, k.ID, k.Hash); err != nil {
			return fmt.Errorf("delete account: %w", err)
		}
	}
	if err := s.forgetGrantAccount(ctx, accountID); err != nil {
		return fmt.Errorf("delete account: %w", err)
	}
	for _, coll := range []string{CollKeyRevocations, CollKeySuspensions, CollKeySuspensionLog, CollProjects, CollIdentities, notices.CollDeliveries} {
		if _, err := s.st.Collection(coll).DeleteMany(ctx, byAccount); err != nil {
			return fmt.Errorf("delete account: %s: %w", coll, err)
		}
	}
	ev := events.AccountDeletedV1{V: 1, ID: "account.deleted:" + accountID, Time: s.now(), AccountID: accountID}
	if _, err := s.bus.Publish(ctx, ev); err != nil {
		return fmt.Errorf("delete account: %w", err)
	}
	if _, err := s.st.Collection(CollUsers).UpdateOne(ctx, bson.D{{Key: "_id", Value: accountID}}, bson.D{{Key: "$set", Value: bson.D{{Key: "delete_announced", Value: true}}}}); err != nil {
		return fmt.Errorf("delete account: mark announced: %w", err)
	}
	return nil
}

// Relay finishes work a crash or a bus outage interrupted: new users not yet
// settled (default project, account.created), deleted accounts not yet
// purged and announced, and key changes not yet in KV apikeys. Only users older than grace are touched, so the
// request that is settling one right now is left to finish. It is safe to
// run from several replicas at once: every step is idempotent.
func (s *Store) Relay(ctx context.Context, grace time.Duration) error {
	cutoff := s.now().Add(-grace)
	var pending []User
	if err := s.all(ctx, CollUsers, bson.D{{Key: "settled", Value: false}, {Key: "deleted_at", Value: bson.D{{Key: "$exists", Value: false}}}, {Key: "created_at", Value: bson.D{{Key: "$lt", Value: cutoff}}}}, &pending); err != nil {
		return err
	}
	var errs []error
	for _, u := range pending {
		if err := s.settle(ctx, u); err != nil {
			errs = append(errs, err)
		}
	}
	var deleted []User
	if err := s.all(ctx, CollUsers, bson.D{{Key: "delete_announced", Value: false}, {Key: "deleted_at", Value: bson.D{{Key: "$lt", Value: cutoff}}}}, &deleted); err != nil {
		return err
	}
	for _, u := range deleted {
		if err := s.purge(ctx, u.ID); err != nil {
			errs = append(errs, err)
		}
	}
	if err := s.relayKeys(ctx, cutoff); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
