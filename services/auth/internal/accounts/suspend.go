package accounts

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

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
//
// Auth keeps a key's current suspension (its record) or else its last one
// (in the key's document, with the restore), not every earlier one: the
// export holds what is stored.
type ExportedSuspension struct {
	KeyID       string     `json:"key_id"`
	By          string     `json:"by"`
	Reason      string     `json:"reason"`
	SuspendedAt time.Time  `json:"suspended_at"`
	RestoredAt  *time.Time `json:"restored_at,omitempty"`
}

// exportSuspensions lists the suspensions keys carry (see withRevocations).
func exportSuspensions(keys []Key) []ExportedSuspension {
	out := []ExportedSuspension{}
	for _, k := range keys {
		sp := k.Suspension
		if sp == nil {
			continue
		}
		by, _, _ := strings.Cut(sp.Actor, ":")
		if by == "" {
			by = "operator"
		}
		out = append(out, ExportedSuspension{KeyID: k.ID, By: by, Reason: sp.Reason, SuspendedAt: sp.At, RestoredAt: sp.RestoredAt})
	}
	return out
}
