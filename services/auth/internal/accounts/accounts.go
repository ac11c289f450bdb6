// Package accounts is the account layer's state: people (users and their
// sign-in identities), sessions, magic links, OAuth states, projects and API
// keys, kept in MongoDB, with API keys mirrored to KV apikeys for the
// gateway and account lifecycle events published on the bus.
//
// Everything that must happen once under concurrency (a magic link spent, an
// OAuth state used, an account created for an address) is decided by an
// insert against a unique index (DESIGN.md §3). Secrets (session tokens,
// magic-link tokens, API keys) are stored only as their SHA-256.
//
// A Store is safe for concurrent use.
package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/store"
)

// Collections owned by auth.
const (
	CollUsers          = "users"
	CollIdentities     = "identities"
	CollSessions       = "sessions"
	CollMagicLinks     = "magic_links"
	CollMagicLinkUses  = "magic_link_uses"
	CollOAuthStates    = "oauth_states"
	CollOAuthStateUses = "oauth_state_uses"
	CollProjects       = "projects"
	CollKeys           = "api_keys"
	// CollKeyRevocations holds one record per revoked key (see kvsync.go).
	CollKeyRevocations = "api_key_revocations"
	// CollKeySuspensions holds one record per key an operator suspended,
	// deleted when the key is restored (see suspend.go).
	CollKeySuspensions = "api_key_suspensions"
	// CollKeySuspensionLog keeps every suspension of a key with its
	// restore, for the user's data export (see suspend.go).
	CollKeySuspensionLog = "api_key_suspension_log"
	// CollFreeGrants holds the keyed hash of every address that received
	// free requests (see freegrant.go); kept after the account is deleted.
	CollFreeGrants = "free_grants"
)

// Domain errors. The HTTP layer maps them to status codes.
var (
	// ErrNotFound is returned for an object that does not exist or does not
	// belong to the caller: the two are deliberately indistinguishable.
	ErrNotFound = errors.New("not found")
	// ErrInvalid wraps a request that breaks a rule (a message says which).
	ErrInvalid = errors.New("invalid request")
	// ErrLinkInvalid is a magic link that is unknown, expired or used.
	ErrLinkInvalid = errors.New("sign-in link is invalid, expired or already used")
	// ErrStateInvalid is an OAuth state that is unknown, expired, used or
	// issued for another provider.
	ErrStateInvalid = errors.New("sign-in state is invalid, expired or already used")
	// ErrUnauthenticated is a missing, unknown or expired session.
	ErrUnauthenticated = errors.New("not signed in")
)

// Publisher publishes an event with its id as Nats-Msg-Id and waits for the ack.
type Publisher interface {
	Publish(ctx context.Context, ev events.Event) (bus.PublishResult, error)
}

// Lifetimes.
const (
	SessionTTL   = 7 * 24 * time.Hour
	MagicLinkTTL = 15 * time.Minute
	OAuthTTL     = 10 * time.Minute
)

// Deps are what a Store is built from.
type Deps struct {
	Store *store.Store
	Bus   Publisher
	// Keys is bucket apikeys; or OpenKeys opens it on first use (the
	// bucket may not be declared yet when the service starts: a write
	// before it is fails, and the relay does it again).
	Keys     jetstream.KeyValue
	OpenKeys func(context.Context) (jetstream.KeyValue, error)
	Now      func() time.Time // time.Now when nil
	Logger   *slog.Logger
	// GrantKey is the secret of the keyed hash under which addresses that
	// received free requests are recorded (AUTH_FREE_GRANT_SECRET).
	GrantKey []byte
	// MailKey seals the link of every sign-in mail for the notifier
	// (MAIL_SEAL_KEY); required to send one.
	MailKey events.MailSealKey
	// BeforeKVWrite, when set, is called with a key's id after the
	// database reads that decide a KV apikeys write and before the write:
	// tests use it to force interleavings of concurrent writers.
	BeforeKVWrite func(keyID string)
}

// Store is the account layer's state.
type Store struct {
	st       *store.Store
	bus      Publisher
	kvMu     sync.Mutex
	kv       jetstream.KeyValue
	openKeys func(context.Context) (jetstream.KeyValue, error)
	now      func() time.Time
	log      *slog.Logger

	grantKey      []byte
	mailKey       events.MailSealKey
	beforeKVWrite func(keyID string)
	days          *dayCache // usagedays.go
}

// New returns a Store. Call EnsureIndexes before serving.
func New(d Deps) *Store {
	now := d.Now
	if now == nil {
		now = time.Now
	}
	log := d.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{st: d.Store, bus: d.Bus, kv: d.Keys, openKeys: d.OpenKeys, now: func() time.Time { return now().UTC().Truncate(time.Millisecond) }, log: log, grantKey: d.GrantKey, mailKey: d.MailKey, beforeKVWrite: d.BeforeKVWrite,
		days: newDayCache(cachedDayRows)}
}

// bucket is bucket apikeys, opened on first use.
func (s *Store) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	s.kvMu.Lock()
	defer s.kvMu.Unlock()
	if s.kv != nil {
		return s.kv, nil
	}
	if s.openKeys == nil {
		return nil, fmt.Errorf("bucket %s: not configured", events.BucketAPIKeys)
	}
	kv, err := s.openKeys(ctx)
	if err != nil {
		return nil, err
	}
	s.kv = kv
	return kv, nil
}

// Now is the store's clock.
func (s *Store) Now() time.Time { return s.now() }

// SweptCollections are the collections whose documents carry expires_at.
func SweptCollections() []string {
	return []string{CollSessions, CollMagicLinks, CollMagicLinkUses, CollOAuthStates, CollOAuthStateUses}
}

// Indexes are the indexes auth needs (besides the sweeper's).
func Indexes() []store.Index {
	return []store.Index{
		{Collection: CollUsers, Keys: bson.D{{Key: "email", Value: 1}}, Unique: true, Name: "email_unique"},
		{Collection: CollUsers, Keys: bson.D{{Key: "settled", Value: 1}}, Name: "settled_1"},
		{Collection: CollIdentities, Keys: bson.D{{Key: "account_id", Value: 1}}, Name: "account_id_1"},
		{Collection: CollSessions, Keys: bson.D{{Key: "account_id", Value: 1}}, Name: "account_id_1"},
		{Collection: CollMagicLinks, Keys: bson.D{{Key: "email", Value: 1}}, Name: "email_1"},
		{Collection: CollProjects, Keys: bson.D{{Key: "account_id", Value: 1}, {Key: "created_at", Value: 1}}, Name: "account_id_1_created_at_1"},
		{Collection: CollKeys, Keys: bson.D{{Key: "account_id", Value: 1}, {Key: "project_id", Value: 1}}, Name: "account_id_1_project_id_1"},
		{Collection: CollKeys, Keys: bson.D{{Key: "hash", Value: 1}}, Unique: true, Name: "hash_unique"},
		{Collection: CollKeys, Keys: bson.D{{Key: "kv_synced", Value: 1}}, Name: "kv_synced_1"},
		{Collection: CollKeyRevocations, Keys: bson.D{{Key: "account_id", Value: 1}}, Name: "account_id_1"},
		{Collection: CollKeySuspensions, Keys: bson.D{{Key: "account_id", Value: 1}}, Name: "account_id_1"},
		{Collection: CollKeySuspensionLog, Keys: bson.D{{Key: "account_id", Value: 1}}, Name: "account_id_1"},
		{Collection: CollFreeGrants, Keys: bson.D{{Key: "account_id", Value: 1}}, Name: "account_id_1"},
	}
}

// EnsureIndexes creates the indexes (idempotent).
func (s *Store) EnsureIndexes(ctx context.Context) error {
	sw := store.NewSweeper(s.st, nil, 0, nil, SweptCollections()...)
	return s.st.EnsureIndexes(ctx, append(Indexes(), sw.Indexes()...))
}

// NewToken returns 256 random bits, base64url without padding.
func NewToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// HashToken is the hex SHA-256 of a secret: the only form in which one is stored.
func HashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}
