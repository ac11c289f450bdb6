package accounts

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/onekey-oss/onekey/api/apikey"
	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/api/readmodel"
	"github.com/onekey-oss/onekey/pkg/ids"
)

// Soft caps against runaway clients (checked before an insert, so
// concurrent creations may pass them by a few).
const (
	MaxProjects       = 100
	MaxKeysPerProject = 200
)

// Project groups API keys.
type Project struct {
	ID        string    `bson:"_id" json:"id"`
	AccountID string    `bson:"account_id" json:"-"`
	Name      string    `bson:"name" json:"name"`
	CreatedAt time.Time `bson:"created_at" json:"created_at"`
}

// Key is an API key's metadata. The key itself is shown once, at creation;
// only its hash is kept.
type Key struct {
	ID             string       `bson:"_id" json:"id"`
	AccountID      string       `bson:"account_id" json:"-"`
	ProjectID      string       `bson:"project_id" json:"project_id"`
	Name           string       `bson:"name" json:"name"`
	Hash           string       `bson:"hash" json:"-"`
	Prefix         string       `bson:"prefix" json:"prefix"`
	Status         string       `bson:"status" json:"status"`
	RPM            int          `bson:"rpm" json:"rpm"`
	SpendCapMicros money.Micros `bson:"spend_cap_micros" json:"spend_cap_micros"`
	// KeyExpiresAt is when the key stops working (not expires_at: the
	// sweeper would delete the document).
	KeyExpiresAt *time.Time `bson:"key_expires_at,omitempty" json:"expires_at,omitempty"`
	CreatedAt    time.Time  `bson:"created_at" json:"created_at"`
	RevokedAt    *time.Time `bson:"revoked_at,omitempty" json:"revoked_at,omitempty"`
	// Suspension is the operator's hold while the key is suspended (from
	// its record), and afterwards the last one, with who restored it: the
	// operator's audit, not shown to the key's user.
	Suspension *Suspension `bson:"suspension,omitempty" json:"-"`
	// SuspendedAt and SuspensionReason are the hold as the key's user sees
	// it, set (by withRevocations, from the record) only while the key is
	// suspended: since when and why, the reason as the operator wrote it;
	// never who (see ExportedSuspension).
	SuspendedAt      *time.Time `bson:"-" json:"suspended_at,omitempty"`
	SuspensionReason string     `bson:"-" json:"suspension_reason,omitempty"`
	UpdatedAt        time.Time  `bson:"updated_at" json:"-"`
	// KVSynced is false from a change until KV apikeys holds it: the
	// relay writes keys whose change did not reach KV (an outbox flag).
	KVSynced bool `bson:"kv_synced" json:"-"`
	// LastUsed is the last UTC day with usage, from the ledger's rollups.
	LastUsed string `bson:"-" json:"last_used,omitempty"`
}

// KeyLimits are the per-key limits; zero values mean no limit.
type KeyLimits struct {
	RPM            int          `json:"rpm"`
	SpendCapMicros money.Micros `json:"spend_cap_micros"`
	ExpiresAt      *time.Time   `json:"expires_at,omitempty"`
}

func (s *Store) validLimits(l KeyLimits) error {
	if l.RPM < 0 || l.RPM > 1_000_000 {
		return invalid("rpm must be between 0 (no limit) and 1000000")
	}
	if l.SpendCapMicros < 0 {
		return invalid("spend_cap_micros must not be negative")
	}
	if l.ExpiresAt != nil && !l.ExpiresAt.After(s.now()) {
		return invalid("expires_at must be in the future")
	}
	return nil
}

func validName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 100 || !utf8.ValidString(name) {
		return "", invalid("name must be 1 to 100 characters")
	}
	return name, nil
}

func owned(accountID, id string) bson.D {
	return bson.D{{Key: "_id", Value: id}, {Key: "account_id", Value: accountID}}
}

// Projects lists a user's projects, oldest first.
func (s *Store) Projects(ctx context.Context, accountID string) ([]Project, error) {
	cur, err := s.st.Collection(CollProjects).Find(ctx, bson.D{{Key: "account_id", Value: accountID}}, options.Find().SetSort(bson.D{{Key: "created_at", Value: 1}, {Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	out := []Project{}
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	return out, nil
}

// Project returns one of the user's projects, or ErrNotFound.
func (s *Store) Project(ctx context.Context, accountID, id string) (Project, error) {
	var p Project
	err := s.st.Collection(CollProjects).FindOne(ctx, owned(accountID, id)).Decode(&p)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Project{}, ErrNotFound
	}
	if err != nil {
		return Project{}, fmt.Errorf("find project: %w", err)
	}
	return p, nil
}

// CreateProject adds a project.
func (s *Store) CreateProject(ctx context.Context, accountID, name string) (Project, error) {
	name, err := validName(name)
	if err != nil {
		return Project{}, err
	}
	n, err := s.st.Collection(CollProjects).CountDocuments(ctx, bson.D{{Key: "account_id", Value: accountID}})
	if err != nil {
		return Project{}, fmt.Errorf("count projects: %w", err)
	}
	if n >= MaxProjects {
		return Project{}, invalid("at most %d projects per account", MaxProjects)
	}
	p := Project{ID: ids.New("prj"), AccountID: accountID, Name: name, CreatedAt: s.now()}
	if _, err := s.st.Collection(CollProjects).InsertOne(ctx, p); err != nil {
		return Project{}, fmt.Errorf("create project: %w", err)
	}
	return p, nil
}

// RenameProject renames one of the user's projects.
func (s *Store) RenameProject(ctx context.Context, accountID, id, name string) (Project, error) {
	name, err := validName(name)
	if err != nil {
		return Project{}, err
	}
	res, err := s.st.Collection(CollProjects).UpdateOne(ctx, owned(accountID, id), bson.D{{Key: "$set", Value: bson.D{{Key: "name", Value: name}}}})
	if err != nil {
		return Project{}, fmt.Errorf("rename project: %w", err)
	}
	if res.MatchedCount == 0 {
		return Project{}, ErrNotFound
	}
	return s.Project(ctx, accountID, id)
}

// DeleteProject revokes every key of one of the user's projects, then
// deletes it. A failure part-way leaves the project in place, so a retry
// finishes the job.
func (s *Store) DeleteProject(ctx context.Context, accountID, id string) error {
	if _, err := s.Project(ctx, accountID, id); err != nil {
		return err
	}
	keys, err := s.keys(ctx, bson.D{{Key: "account_id", Value: accountID}, {Key: "project_id", Value: id}})
	if err != nil {
		return err
	}
	for _, k := range keys {
		if _, err := s.RevokeKey(ctx, accountID, id, k.ID); err != nil {
			return err
		}
	}
	if _, err := s.st.Collection(CollProjects).DeleteOne(ctx, owned(accountID, id)); err != nil {
		return fmt.Errorf("delete project: %w", err)
	}
	return nil
}

func (s *Store) keys(ctx context.Context, filter bson.D) ([]Key, error) {
	cur, err := s.st.Collection(CollKeys).Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "created_at", Value: 1}, {Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	out := []Key{}
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	if _, err := s.withRevocations(ctx, out); err != nil {
		return nil, err
	}
	return out, nil
}

// Keys lists the keys of one of the user's projects, with the day each was
// last used.
func (s *Store) Keys(ctx context.Context, accountID, projectID string) ([]Key, error) {
	if _, err := s.Project(ctx, accountID, projectID); err != nil {
		return nil, err
	}
	keys, err := s.keys(ctx, bson.D{{Key: "account_id", Value: accountID}, {Key: "project_id", Value: projectID}})
	if err != nil {
		return nil, err
	}
	last, err := s.lastUsed(ctx, accountID)
	if err != nil {
		return nil, err
	}
	for i := range keys {
		keys[i].LastUsed = last[keys[i].ID]
	}
	return keys, nil
}

// lastUsed maps key id → the latest day it has a rollup for.
func (s *Store) lastUsed(ctx context.Context, accountID string) (map[string]string, error) {
	since := readmodel.Day(s.now().AddDate(0, 0, -400))
	cur, err := s.st.Collection(readmodel.CollRollups).Find(ctx,
		bson.D{{Key: "account_id", Value: accountID}, {Key: "day", Value: bson.D{{Key: "$gte", Value: since}}}},
		options.Find().SetProjection(bson.D{{Key: "key_id", Value: 1}, {Key: "day", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("read rollups: %w", err)
	}
	var rows []readmodel.Rollup
	if err := cur.All(ctx, &rows); err != nil {
		return nil, fmt.Errorf("read rollups: %w", err)
	}
	out := map[string]string{}
	for _, r := range rows {
		if r.Day > out[r.KeyID] {
			out[r.KeyID] = r.Day
		}
	}
	return out, nil
}

// CreateKey makes a key in one of the user's projects and returns it in
// full (the only time it is ever shown). The key is stored first, then
// written to KV apikeys; a failed KV write is repaired by the relay.
func (s *Store) CreateKey(ctx context.Context, accountID, projectID, name string, l KeyLimits) (string, Key, error) {
	if _, err := s.Project(ctx, accountID, projectID); err != nil {
		return "", Key{}, err
	}
	name, err := validName(name)
	if err != nil {
		return "", Key{}, err
	}
	if err := s.validLimits(l); err != nil {
		return "", Key{}, err
	}
	n, err := s.st.Collection(CollKeys).CountDocuments(ctx, bson.D{{Key: "account_id", Value: accountID}, {Key: "project_id", Value: projectID}})
	if err != nil {
		return "", Key{}, fmt.Errorf("count keys: %w", err)
	}
	if n >= MaxKeysPerProject {
		return "", Key{}, invalid("at most %d keys per project", MaxKeysPerProject)
	}
	full, err := apikey.New(nil)
	if err != nil {
		return "", Key{}, err
	}
	now := s.now()
	k := Key{
		ID: ids.New("key"), AccountID: accountID, ProjectID: projectID, Name: name,
		Hash: apikey.Hash(full), Prefix: apikey.Display(full), Status: events.KeyActive,
		RPM: l.RPM, SpendCapMicros: l.SpendCapMicros, KeyExpiresAt: utcPtr(l.ExpiresAt),
		CreatedAt: now, UpdatedAt: now,
	}
	if _, err := s.st.Collection(CollKeys).InsertOne(ctx, k); err != nil {
		return "", Key{}, fmt.Errorf("create key: %w", err)
	}
	k, found, err := s.syncKey(ctx, k.ID, k.Hash)
	if err != nil {
		return "", Key{}, err
	}
	if !found {
		return "", Key{}, ErrNotFound // deleted with its account meanwhile
	}
	return full, k, nil
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC().Truncate(time.Millisecond)
	return &u
}

// findKey returns one of the user's keys in one of their projects.
func (s *Store) findKey(ctx context.Context, accountID, projectID, keyID string) (Key, error) {
	var k Key
	err := s.st.Collection(CollKeys).FindOne(ctx, bson.D{{Key: "_id", Value: keyID}, {Key: "account_id", Value: accountID}, {Key: "project_id", Value: projectID}}).Decode(&k)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Key{}, ErrNotFound
	}
	if err != nil {
		return Key{}, fmt.Errorf("find key: %w", err)
	}
	one := []Key{k}
	if _, err := s.withRevocations(ctx, one); err != nil {
		return Key{}, err
	}
	return one[0], nil
}

// errKeyRevoked answers a change to a revoked key.
func errKeyRevoked() error { return invalid("the key is revoked; a revoked key cannot be changed") }

// errKeyNotActive answers a user's change to a key that is not active.
func errKeyNotActive(k Key) error {
	if k.Status == events.KeySuspended {
		return invalid("the key is suspended by the operator of this service; only they can restore it (you may still revoke it)")
	}
	return errKeyRevoked()
}

// UpdateKeyLimits changes a key's limits (and KV apikeys). A revoked key
// is refused (revocation is one-way), and so is a suspended one (only the
// operator lifts a suspension).
func (s *Store) UpdateKeyLimits(ctx context.Context, accountID, projectID, keyID string, l KeyLimits) (Key, error) {
	k, err := s.findKey(ctx, accountID, projectID, keyID)
	if err != nil {
		return Key{}, err
	}
	if k.Status != events.KeyActive {
		return Key{}, errKeyNotActive(k)
	}
	if err := s.validLimits(l); err != nil {
		return Key{}, err
	}
	// Only the changed fields, and only while active: never the status
	// (on FerretDB a racing revoke can still be overwritten in the
	// document, but not its revocation record, which decides).
	set := bson.D{{Key: "rpm", Value: l.RPM}, {Key: "spend_cap_micros", Value: l.SpendCapMicros}, {Key: "updated_at", Value: s.now()}, {Key: "kv_synced", Value: false}}
	update := bson.D{{Key: "$set", Value: set}}
	if exp := utcPtr(l.ExpiresAt); exp != nil {
		update = bson.D{{Key: "$set", Value: append(set, bson.E{Key: "key_expires_at", Value: *exp})}}
	} else {
		update = append(update, bson.E{Key: "$unset", Value: bson.D{{Key: "key_expires_at", Value: ""}}})
	}
	res, err := s.st.Collection(CollKeys).UpdateOne(ctx, bson.D{{Key: "_id", Value: k.ID}, {Key: "status", Value: events.KeyActive}}, update)
	if err != nil {
		return Key{}, fmt.Errorf("update key: %w", err)
	}
	k, found, err := s.syncKey(ctx, k.ID, k.Hash)
	if err != nil {
		return Key{}, err
	}
	if !found {
		return Key{}, ErrNotFound
	}
	if res.MatchedCount == 0 || k.Status != events.KeyActive {
		return Key{}, errKeyNotActive(k)
	}
	return k, nil
}

// RevokeKey revokes one of the user's keys, for good: a unique revocation
// record decides it, then the key's document and KV apikeys (which the
// gateway watches) say so. Revoking a revoked key is harmless, and writes
// KV again (repairing a write that failed the first time).
func (s *Store) RevokeKey(ctx context.Context, accountID, projectID, keyID string) (Key, error) {
	k, err := s.findKey(ctx, accountID, projectID, keyID)
	if err != nil {
		return Key{}, err
	}
	if k.Status != events.KeyRevoked {
		now := s.now()
		if err := s.recordRevocation(ctx, k, now); err != nil {
			return Key{}, err
		}
		if _, err := s.st.Collection(CollKeys).UpdateOne(ctx, bson.D{{Key: "_id", Value: k.ID}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: events.KeyRevoked}, {Key: "revoked_at", Value: now}, {Key: "updated_at", Value: now}, {Key: "kv_synced", Value: false}}}}); err != nil {
			return Key{}, fmt.Errorf("revoke key: %w", err)
		}
	}
	k, found, err := s.syncKey(ctx, k.ID, k.Hash)
	if err != nil {
		return Key{}, err
	}
	if !found {
		return Key{}, ErrNotFound
	}
	return k, nil
}
