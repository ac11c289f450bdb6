package accounts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/store"
)

// KV apikeys is the gateway's only source of keys, and many writers keep
// it: a key's creation, a limit update, a revoke, an account deletion, the
// relay and the start-up sync, on every auth replica at once. None of them
// writes what it read earlier. Each reads the entry's revision, then the
// key from the database, and writes with a compare-and-set on that
// revision (a delete when the key no longer exists), starting again on a
// conflict. So the writer whose write lands last read the database after
// every earlier successful write, which came after its own writer's
// database change: KV ends with the database's latest state, and a limit
// update that read a key before it was revoked can no longer write
// "active" over the revoke.
//
// Revocation is one-way in the database too. It is decided by a unique
// insert into CollKeyRevocations, never undone while the key exists; the
// key document's status is only a copy of it. (FerretDB applies an update
// by writing back the whole document it read, so a limit update racing a
// revoke could write "active" back into the document; the record is what
// every reader believes.) An operator's suspension is a record too, in
// CollKeySuspensions (suspend.go): present while the key is suspended,
// deleted by its restore. A key's status is therefore: revoked if it has a
// revocation record, else suspended if it has a suspension record, else
// active; its document's status is a copy that synced repairs (a document
// that says revoked is believed too: keys revoked before the records).

// maxKVAttempts bounds the retries of one key's KV write on revision
// conflicts, which need a concurrent writer of the same key each time.
const maxKVAttempts = 10

// revocation records that a key was revoked; its _id (the key id) makes
// the decision once and for good.
type revocation struct {
	ID        string    `bson:"_id"`
	AccountID string    `bson:"account_id"`
	RevokedAt time.Time `bson:"revoked_at"`
}

// recordRevocation revokes k for good; revoking a revoked key is harmless.
func (s *Store) recordRevocation(ctx context.Context, k Key, at time.Time) error {
	_, err := s.st.Collection(CollKeyRevocations).InsertOne(ctx, revocation{ID: k.ID, AccountID: k.AccountID, RevokedAt: at})
	if err != nil && !store.IsDuplicate(err) {
		return fmt.Errorf("revoke key %s: %w", k.ID, err)
	}
	return nil
}

// withRevocations sets each key's status from its records: revoked if it
// has a revocation record (or its document says so), else suspended if it
// has a suspension record (its Suspension from the record), else active,
// whatever its document says. It returns the ids of the keys with a
// revocation record.
func (s *Store) withRevocations(ctx context.Context, keys []Key) (map[string]bool, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	inIDs := bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}
	cur, err := s.st.Collection(CollKeyRevocations).Find(ctx, inIDs)
	if err != nil {
		return nil, fmt.Errorf("read key revocations: %w", err)
	}
	var revs []revocation
	if err := cur.All(ctx, &revs); err != nil {
		return nil, fmt.Errorf("read key revocations: %w", err)
	}
	cur, err = s.st.Collection(CollKeySuspensions).Find(ctx, inIDs)
	if err != nil {
		return nil, fmt.Errorf("read key suspensions: %w", err)
	}
	var susps []suspension
	if err := cur.All(ctx, &susps); err != nil {
		return nil, fmt.Errorf("read key suspensions: %w", err)
	}
	at := make(map[string]time.Time, len(revs))
	for _, r := range revs {
		at[r.ID] = r.RevokedAt
	}
	held := make(map[string]suspension, len(susps))
	for _, r := range susps {
		held[r.ID] = r
	}
	recorded := make(map[string]bool, len(revs))
	for i := range keys {
		k := &keys[i]
		k.SuspendedAt, k.SuspensionReason = nil, ""
		if t, ok := at[k.ID]; ok {
			recorded[k.ID] = true
			k.Status = events.KeyRevoked
			if k.RevokedAt == nil {
				k.RevokedAt = &t
			}
			continue
		}
		if k.Status == events.KeyRevoked {
			continue // revoked before revocations were records (SyncKeys records it)
		}
		if r, ok := held[k.ID]; ok {
			k.Status = events.KeySuspended
			k.Suspension = &Suspension{Actor: r.Actor, Reason: r.Reason, At: r.At}
			since := r.At.UTC()
			k.SuspendedAt, k.SuspensionReason = &since, r.Reason
			continue
		}
		// A document that says suspended without a record is one whose
		// restore stopped between the record and the document.
		k.Status = events.KeyActive
	}
	return recorded, nil
}

func kvValue(k Key) events.APIKeyV1 {
	return events.APIKeyV1{
		V: 1, KeyID: k.ID, ProjectID: k.ProjectID, AccountID: k.AccountID, Status: k.Status,
		RPM: k.RPM, SpendCapMicros: k.SpendCapMicros, ExpiresAt: k.KeyExpiresAt, UpdatedAt: k.UpdatedAt,
	}
}

// kvLatest returns the latest entry of hash in KV apikeys: its value (nil
// when deleted) and its revision (0 when the bucket never had it). A
// delete marker has a revision too, which Get does not tell; History does
// (the bucket keeps one revision per key), but costs a consumer, so it is
// asked only when exact is set: otherwise a deleted entry reads as never
// written, and a write on revision 0 then fails as a conflict.
func (s *Store) kvLatest(ctx context.Context, hash string, exact bool) ([]byte, uint64, error) {
	kv, err := s.bucket(ctx)
	if err != nil {
		return nil, 0, err
	}
	e, err := kv.Get(ctx, hash)
	if err == nil {
		return e.Value(), e.Revision(), nil
	}
	if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, fmt.Errorf("read kv %s: %w", events.BucketAPIKeys, err)
	}
	if !exact {
		return nil, 0, nil
	}
	h, err := kv.History(ctx, hash)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read kv %s: %w", events.BucketAPIKeys, err)
	}
	last := h[len(h)-1]
	if last.Operation() == jetstream.KeyValuePut {
		return last.Value(), last.Revision(), nil
	}
	return nil, last.Revision(), nil
}

// keyByHash reads a key afresh from the database, its records included.
// docStatus is what its document says.
func (s *Store) keyByHash(ctx context.Context, hash string) (k Key, found bool, docStatus string, err error) {
	err = s.st.Collection(CollKeys).FindOne(ctx, bson.D{{Key: "hash", Value: hash}}).Decode(&k)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Key{}, false, "", nil
	}
	if err != nil {
		return Key{}, false, "", fmt.Errorf("read key: %w", err)
	}
	docStatus = k.Status
	one := []Key{k}
	if _, err := s.withRevocations(ctx, one); err != nil {
		return Key{}, false, "", err
	}
	return one[0], true, docStatus, nil
}

// writeKV makes the entry of hash, last seen as cur at revision rev, say
// what the database said: k, or nothing when the key no longer exists, and
// reports whether that took a write. It fails with
// jetstream.ErrKeyRevisionMismatch when the entry changed since.
func (s *Store) writeKV(ctx context.Context, hash string, k Key, found bool, cur []byte, rev uint64) (bool, error) {
	kv, err := s.bucket(ctx)
	if err != nil {
		return false, err
	}
	if !found {
		if cur == nil {
			return false, nil // nothing there, or a delete marker already
		}
		// A purge leaves no earlier value of the key in the bucket.
		return true, kv.Purge(ctx, hash, jetstream.LastRevision(rev))
	}
	raw, err := json.Marshal(kvValue(k))
	if err != nil {
		return false, fmt.Errorf("encode key %s: %w", k.ID, err)
	}
	if bytes.Equal(raw, cur) {
		return false, nil
	}
	// Update on the revision read, also when it is 0 (never written) or a
	// delete marker's: Create would also write over a marker that appeared
	// after the read.
	_, err = kv.Update(ctx, hash, raw, rev)
	return true, err
}

// syncKey makes KV apikeys agree with the database about the key with this
// hash (keyID names it in errors and for the test hook) and returns the key
// as the database has it now; found is false when it no longer exists. An
// error leaves kv_synced false for the relay.
func (s *Store) syncKey(ctx context.Context, keyID, hash string) (Key, bool, error) {
	for attempt := 1; ; attempt++ {
		cur, rev, err := s.kvLatest(ctx, hash, attempt > 1)
		if err != nil {
			return Key{}, false, fmt.Errorf("sync key %s: %w", keyID, err)
		}
		k, found, docStatus, err := s.keyByHash(ctx, hash)
		if err != nil {
			return Key{}, false, fmt.Errorf("sync key %s: %w", keyID, err)
		}
		if s.beforeKVWrite != nil {
			s.beforeKVWrite(keyID)
		}
		_, err = s.writeKV(ctx, hash, k, found, cur, rev)
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) && attempt < maxKVAttempts {
			continue // another writer got there first: read both again
		}
		if err != nil {
			return Key{}, false, fmt.Errorf("sync key %s to kv %s: %w", keyID, events.BucketAPIKeys, err)
		}
		if found {
			s.synced(ctx, k, docStatus)
		}
		return k, found, nil
	}
}

// synced marks k's document as written to KV and, if its status (a copy
// of its records, docStatus) disagrees with them, repairs the copy: a lost
// update wrote back an older status over a revocation or a suspension, or
// a suspension or a restore stopped between its record and the document.
// Failures are only logged: the relay writes the key again, and readers
// believe the records anyway.
func (s *Store) synced(ctx context.Context, k Key, docStatus string) {
	if !k.KVSynced {
		_, err := s.st.Collection(CollKeys).UpdateOne(ctx,
			bson.D{{Key: "_id", Value: k.ID}, {Key: "updated_at", Value: k.UpdatedAt}, {Key: "kv_synced", Value: false}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "kv_synced", Value: true}}}})
		if err != nil {
			s.log.Warn("mark key synced; the relay will write it again", "key_id", k.ID, "err", err)
		}
	}
	if k.Status == docStatus {
		return
	}
	set := bson.D{{Key: "status", Value: k.Status}}
	switch k.Status {
	case events.KeyRevoked:
		set = append(set, bson.E{Key: "revoked_at", Value: k.RevokedAt})
	case events.KeySuspended:
		set = append(set, bson.E{Key: "suspension", Value: k.Suspension})
	}
	// Only over the status read: a change since then repairs itself.
	_, err := s.st.Collection(CollKeys).UpdateOne(ctx, bson.D{{Key: "_id", Value: k.ID}, {Key: "status", Value: docStatus}},
		bson.D{{Key: "$set", Value: set}})
	if err != nil {
		s.log.Warn("repair key's status", "key_id", k.ID, "err", err)
	}
}

// relayKeys writes to KV the keys whose last change did not reach it.
func (s *Store) relayKeys(ctx context.Context, cutoff time.Time) error {
	keys, err := s.keys(ctx, bson.D{{Key: "kv_synced", Value: false}, {Key: "updated_at", Value: bson.D{{Key: "$lt", Value: cutoff}}}})
	if err != nil {
		return err
	}
	var errs []error
	for _, k := range keys {
		if _, _, err := s.syncKey(ctx, k.ID, k.Hash); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// kvEntry is one key's latest state in a snapshot of KV apikeys.
type kvEntry struct {
	value []byte // nil: deleted
	rev   uint64
}

// kvSnapshot reads the latest entry of every key of KV apikeys, delete
// markers included.
func (s *Store) kvSnapshot(ctx context.Context) (map[string]kvEntry, error) {
	kv, err := s.bucket(ctx)
	if err != nil {
		return nil, err
	}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("read kv %s: %w", events.BucketAPIKeys, err)
	}
	defer func() { _ = w.Stop() }()
	out := map[string]kvEntry{}
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("read kv %s: watch ended", events.BucketAPIKeys)
			}
			if e == nil {
				return out, nil // the replay of current values is complete
			}
			var v []byte
			if e.Operation() == jetstream.KeyValuePut {
				v = e.Value()
			}
			out[e.Key()] = kvEntry{value: v, rev: e.Revision()}
		case <-ctx.Done():
			return nil, fmt.Errorf("read kv %s: %w", events.BucketAPIKeys, ctx.Err())
		}
	}
}

// SyncKeys makes KV apikeys agree with the database, as each key's writer
// would (see syncKey), in one pass: it reads the whole bucket, then every
// key, writes each entry that differs with a compare-and-set on the
// revision it read (a conflicting key is synced again from fresh reads),
// and deletes the entries of keys that no longer exist. It repairs writes a
// crash lost and is run at start-up, by every replica. It returns the
// number of entries it wrote or deleted.
func (s *Store) SyncKeys(ctx context.Context) (int, error) {
	snap, err := s.kvSnapshot(ctx)
	if err != nil {
		return 0, fmt.Errorf("sync keys: %w", err)
	}
	// Read after the bucket, so that each key's database state is newer
	// than its entry's revision (what makes the compare-and-set safe).
	var keys []Key
	if err := s.all(ctx, CollKeys, bson.D{}, &keys); err != nil {
		return 0, fmt.Errorf("sync keys: %w", err)
	}
	docStatus := make([]string, len(keys))
	for i, k := range keys {
		docStatus[i] = k.Status
	}
	recorded := map[string]bool{}
	for i := 0; i < len(keys); i += 500 {
		r, err := s.withRevocations(ctx, keys[i:min(i+500, len(keys))])
		if err != nil {
			return 0, fmt.Errorf("sync keys: %w", err)
		}
		maps.Copy(recorded, r)
	}
	n := 0
	var errs []error
	write := func(k Key, hash string, found bool, docStatus string) {
		e := snap[hash]
		if s.beforeKVWrite != nil {
			s.beforeKVWrite(k.ID)
		}
		wrote, err := s.writeKV(ctx, hash, k, found, e.value, e.rev)
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			wrote = true // by someone: read both again
			_, _, err = s.syncKey(ctx, k.ID, hash)
		} else if err == nil && found {
			s.synced(ctx, k, docStatus)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("sync key %s: %w", k.ID, err))
		} else if wrote {
			n++
		}
	}
	live := make(map[string]bool, len(keys))
	for i, k := range keys {
		live[k.Hash] = true
		if docStatus[i] == events.KeyRevoked && !recorded[k.ID] {
			// Revoked before revocations were records: make it one-way.
			if err := s.recordRevocation(ctx, k, derefOr(k.RevokedAt, k.UpdatedAt)); err != nil {
				errs = append(errs, err)
			}
		}
		write(k, k.Hash, true, docStatus[i])
	}
	// Entries of keys that no longer exist (a deletion that stopped after
	// the database, say): the database was read after the bucket, so a key
	// missing from it is gone.
	for hash, e := range snap {
		if live[hash] || e.value == nil {
			continue
		}
		var v events.APIKeyV1
		_ = json.Unmarshal(e.value, &v) // only for the key id in errors
		write(Key{ID: v.KeyID}, hash, false, "")
	}
	return n, errors.Join(errs...)
}

func derefOr(t *time.Time, def time.Time) time.Time {
	if t != nil {
		return *t
	}
	return def
}
