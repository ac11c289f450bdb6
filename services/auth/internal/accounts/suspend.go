package accounts

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/store"
)

// An operator suspends a key (onekeyctl key suspend, through auth's
// events.SubjectKeyStatus) and restores it; the key's user cannot restore
// it, but may still revoke it, and a revoked key stays revoked. As with a
// revocation (kvsync.go), a record decides: a suspension is a unique insert
// into CollKeySuspensions (a second one is a no-op), a restore deletes it;
// then the key's document copies the status and KV apikeys is written from
// a fresh read of both. A crash between the record and the document is
// repaired by the start-up sync or by the operator running the command
// again (both idempotent), one between the document and KV by the relay
// (kv_synced is false). A revocation record outranks a suspension, so a
// suspension racing the user's revoke leaves the key revoked.

// ErrKeyRevoked is a suspension or restore of a revoked key: revocation is
// for good.
var ErrKeyRevoked = errors.New("the key is revoked")

// Suspension is who suspended a key, when and why, and once restored, who
// restored it and when.
type Suspension struct {
	Actor      string     `bson:"actor" json:"actor"`
	Reason     string     `bson:"reason" json:"reason"`
	At         time.Time  `bson:"at" json:"at"`
	RestoredBy string     `bson:"restored_by,omitempty" json:"restored_by,omitempty"`
	RestoredAt *time.Time `bson:"restored_at,omitempty" json:"restored_at,omitempty"`
}

// suspension is the record of a suspended key; its _id (the key id) makes
// a second suspension a no-op.
type suspension struct {
	ID        string    `bson:"_id"`
	AccountID string    `bson:"account_id"`
	Actor     string    `bson:"actor"`
	Reason    string    `bson:"reason"`
	At        time.Time `bson:"at"`
}

// keyByID reads any account's key by id, its records included.
func (s *Store) keyByID(ctx context.Context, keyID string) (Key, error) {
	var k Key
	err := s.st.Collection(CollKeys).FindOne(ctx, bson.D{{Key: "_id", Value: keyID}}).Decode(&k)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Key{}, ErrNotFound
	}
	if err != nil {
		return Key{}, fmt.Errorf("find key %s: %w", keyID, err)
	}
	one := []Key{k}
	if _, err := s.withRevocations(ctx, one); err != nil {
		return Key{}, err
	}
	return one[0], nil
}

// SuspendKey suspends a key of any account for the operator actor, with a
// reason, and returns it as the database and KV apikeys now have it;
// changed is false when it was suspended already (the first suspension's
// actor and reason stand). A revoked key is refused with ErrKeyRevoked,
// also when the revoke raced this suspension and won.
func (s *Store) SuspendKey(ctx context.Context, keyID, actor, reason string) (k Key, changed bool, err error) {
	if actor == "" || reason == "" {
		return Key{}, false, invalid("a suspension needs an actor and a reason")
	}
	k, err = s.keyByID(ctx, keyID)
	if err != nil {
		return Key{}, false, err
	}
	if k.Status == events.KeyRevoked {
		return k, false, ErrKeyRevoked
	}
	if k.Status != events.KeySuspended {
		now := s.now()
		rec := suspension{ID: k.ID, AccountID: k.AccountID, Actor: actor, Reason: reason, At: now}
		_, err := s.st.Collection(CollKeySuspensions).InsertOne(ctx, rec)
		switch {
		case store.IsDuplicate(err):
			// Another suspension won: its actor and reason stand.
		case err != nil:
			return Key{}, false, fmt.Errorf("suspend key %s: %w", k.ID, err)
		default:
			changed = true
			_, err = s.st.Collection(CollKeys).UpdateOne(ctx, bson.D{{Key: "_id", Value: k.ID}, {Key: "status", Value: bson.D{{Key: "$ne", Value: events.KeyRevoked}}}},
				bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: events.KeySuspended},
					{Key: "suspension", Value: Suspension{Actor: actor, Reason: reason, At: now}},
					{Key: "updated_at", Value: now}, {Key: "kv_synced", Value: false}}}})
			if err != nil {
				return Key{}, false, fmt.Errorf("suspend key %s: %w", k.ID, err)
			}
			// Lost in a crash before it, the export still has this
			// suspension from the record (exportSuspensions).
			_, err = s.st.Collection(CollKeySuspensionLog).InsertOne(ctx, suspensionLogEntry{ID: logID(k.ID, now), KeyID: k.ID,
				AccountID: k.AccountID, Actor: actor, Reason: reason, At: now})
			if err != nil && !store.IsDuplicate(err) {
				return Key{}, false, fmt.Errorf("suspend key %s: log: %w", k.ID, err)
			}
		}
	}
	k, found, err := s.syncKey(ctx, k.ID, k.Hash)
	if err != nil {
		return Key{}, false, err
	}
	if !found {
		return Key{}, false, ErrNotFound // deleted with its account meanwhile
	}
	if k.Status == events.KeyRevoked {
		return k, false, ErrKeyRevoked
	}
	return k, changed, nil
}

// RestoreKey lifts an operator's suspension of a key for the operator
// actor and returns it as the database and KV apikeys now have it; changed
// is false when it was not suspended. A revoked key is refused with
// ErrKeyRevoked: it stays revoked.
func (s *Store) RestoreKey(ctx context.Context, keyID, actor string) (k Key, changed bool, err error) {
	if actor == "" {
		return Key{}, false, invalid("a restore needs an actor")
	}
	k, err = s.keyByID(ctx, keyID)
	if err != nil {
		return Key{}, false, err
	}
	if k.Status == events.KeyRevoked {
		return k, false, ErrKeyRevoked
	}
	if k.Status == events.KeySuspended {
		now := s.now()
		audit := *k.Suspension
		audit.RestoredBy, audit.RestoredAt = actor, &now
		res, err := s.st.Collection(CollKeySuspensions).DeleteOne(ctx, bson.D{{Key: "_id", Value: k.ID}})
		if err != nil {
			return Key{}, false, fmt.Errorf("restore key %s: %w", k.ID, err)
		}
		changed = res.DeletedCount == 1
		_, err = s.st.Collection(CollKeys).UpdateOne(ctx, bson.D{{Key: "_id", Value: k.ID}, {Key: "status", Value: events.KeySuspended}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: events.KeyActive}, {Key: "suspension", Value: audit},
				{Key: "updated_at", Value: now}, {Key: "kv_synced", Value: false}}}})
		if err != nil {
			return Key{}, false, fmt.Errorf("restore key %s: %w", k.ID, err)
		}
		if changed {
			// Only the restore whose delete took the record gets here. An
			// upsert: a suspension older than the log enters it now.
			_, err = s.st.Collection(CollKeySuspensionLog).UpdateOne(ctx, bson.D{{Key: "_id", Value: logID(k.ID, audit.At)}},
				bson.D{{Key: "$set", Value: bson.D{{Key: "restored_by", Value: actor}, {Key: "restored_at", Value: now}}},
					{Key: "$setOnInsert", Value: bson.D{{Key: "key_id", Value: k.ID}, {Key: "account_id", Value: k.AccountID},
						{Key: "actor", Value: audit.Actor}, {Key: "reason", Value: audit.Reason}, {Key: "at", Value: audit.At}}}},
				options.UpdateOne().SetUpsert(true))
			if err != nil {
				return Key{}, false, fmt.Errorf("restore key %s: log: %w", k.ID, err)
			}
		}
	}
	k, found, err := s.syncKey(ctx, k.ID, k.Hash)
	if err != nil {
		return Key{}, false, err
	}
	if !found {
		return Key{}, false, ErrNotFound
	}
	if k.Status == events.KeyRevoked {
		return k, false, ErrKeyRevoked
	}
	return k, changed, nil
}

// suspensionLogEntry is one suspension of a key in CollKeySuspensionLog:
// inserted by the suspension, its restore set by the restore. Its _id is
// the key id and the suspension's time, so each suspension has one.
type suspensionLogEntry struct {
	ID         string     `bson:"_id"`
	KeyID      string     `bson:"key_id"`
	AccountID  string     `bson:"account_id"`
	Actor      string     `bson:"actor"`
	Reason     string     `bson:"reason"`
	At         time.Time  `bson:"at"`
	RestoredBy string     `bson:"restored_by,omitempty"`
	RestoredAt *time.Time `bson:"restored_at,omitempty"`
}

// logID names a suspension of keyID at at (milliseconds: what the
// database keeps of a time, so that a time read back names it alike).
func logID(keyID string, at time.Time) string {
	return fmt.Sprintf("%s@%d", keyID, at.UnixMilli())
}

// ExportedSuspension is a suspension of one of the user's keys as their
// data export shows it: that the operator suspended it, when, why (the
// reason as the operator wrote it, which `onekeyctl key suspend --help`
// tells them), and when it was restored.
//
// The actor's name is not exported, only its kind (the part of
// "operator:<name>" before the colon). The name is a person of the
// operator's staff: their personal data, not the user's, and the right of
// access does not reach it where handing it over would affect that
// person's rights (GDPR Art. 15(4)); naming the staff member to the
// holder of a key they suspended, often for abuse, would also invite
// retaliation and social engineering. The user learns who acted in the
// sense that matters to them (the service's operator) and can ask the
// operator, who keeps the name in its audit (`onekeyctl account show`,
// `key list --suspended`).
type ExportedSuspension struct {
	KeyID       string     `json:"key_id"`
	By          string     `json:"by"`
	Reason      string     `json:"reason"`
	SuspendedAt time.Time  `json:"suspended_at"`
	RestoredAt  *time.Time `json:"restored_at,omitempty"`
}

// exportSuspensions lists every suspension of the account's keys, oldest
// first: the log's, and those the keys carry (see withRevocations) that
// the log lacks (a crash between the record and the log, a suspension from
// before the log).
func (s *Store) exportSuspensions(ctx context.Context, accountID string, keys []Key) ([]ExportedSuspension, error) {
	var logged []suspensionLogEntry
	if err := s.all(ctx, CollKeySuspensionLog, bson.D{{Key: "account_id", Value: accountID}}, &logged); err != nil {
		return nil, err
	}
	out := []ExportedSuspension{}
	seen := map[string]bool{}
	add := func(id, keyID string, sp Suspension) {
		if seen[id] {
			return
		}
		seen[id] = true
		by, _, _ := strings.Cut(sp.Actor, ":")
		if by == "" {
			by = "operator"
		}
		out = append(out, ExportedSuspension{KeyID: keyID, By: by, Reason: sp.Reason, SuspendedAt: sp.At.UTC(), RestoredAt: sp.RestoredAt})
	}
	for _, l := range logged {
		add(l.ID, l.KeyID, Suspension{Actor: l.Actor, Reason: l.Reason, At: l.At, RestoredAt: l.RestoredAt})
	}
	for _, k := range keys {
		if k.Suspension != nil {
			add(logID(k.ID, k.Suspension.At), k.ID, *k.Suspension)
		}
	}
	slices.SortStableFunc(out, func(a, b ExportedSuspension) int { return a.SuspendedAt.Compare(b.SuspendedAt) })
	return out, nil
}
