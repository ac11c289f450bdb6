// Package store is onekey's shared MongoDB infrastructure: a client bound to one database ([Open]),
// declarative start-up indexes ([Store.EnsureIndexes]), duplicate-key detection ([IsDuplicate]), an expiry
// [Sweeper] that replaces TTL indexes, and an in-process FerretDB server ([StartEmbedded]) for devstack and
// tests. It holds no business rules; each service declares its own collections and indexes.
//
// Everything here must behave the same on MongoDB and on FerretDB v1.24 (see DESIGN.md §3). In particular:
// no TTL or partial indexes, no transactions, no change streams, and no reliance on concurrent updates of one
// document being serialized. "Exactly once under concurrency" is decided by an insert against a unique index.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

const (
	// connectTimeout bounds dialing one server and its handshake.
	connectTimeout = 10 * time.Second
	// serverSelectionTimeout bounds how long an operation waits for a usable server; the driver's default of
	// 30 s makes a down database look like a hang.
	serverSelectionTimeout = 10 * time.Second
	// pingTimeout bounds the reachability check in Open.
	pingTimeout = 15 * time.Second
)

// Store is a MongoDB client bound to one database. It is safe for concurrent use; the underlying driver pools
// connections. Operations are bounded by the contexts their callers pass.
type Store struct {
	client *mongo.Client
	db     *mongo.Database
	logger *slog.Logger
}

// Open connects to the MongoDB (or FerretDB) deployment at uri, selects database, and pings it, so a wrong
// address fails here rather than on the first query. Timeouts given in uri (connectTimeoutMS,
// serverSelectionTimeoutMS) take precedence over the defaults. A nil logger discards logs.
func Open(ctx context.Context, uri, database string, logger *slog.Logger) (*Store, error) {
	if database == "" {
		return nil, errors.New("open store: empty database name")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}

	client, err := connect(ctx, uri)
	if err != nil {
		return nil, fmt.Errorf("open store %q: %w", database, err)
	}
	return &Store{client: client, db: client.Database(database), logger: logger}, nil
}

// clientOptions are the defaults, then the URI, so that explicit URI
// options win. The default write concern is majority, journaled: on a
// replica set a write acknowledged by the primary alone can be rolled back
// when it fails over, and the ledger acks an event once its journal entry
// is written, so an entry rolled back would be an event lost. (FerretDB
// has one node and accepts it.) Set w= in MONGODB_URI only knowing that.
func clientOptions(uri string) *options.ClientOptions {
	return options.Client().
		SetConnectTimeout(connectTimeout).
		SetServerSelectionTimeout(serverSelectionTimeout).
		SetWriteConcern(writeconcern.Majority()).
		ApplyURI(uri)
}

// connect creates a client for uri and pings the primary.
func connect(ctx context.Context, uri string) (*mongo.Client, error) {
	client, err := mongo.Connect(clientOptions(uri))
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}

	pingCtx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if err := client.Ping(pingCtx, readpref.Primary()); err != nil {
		discCtx, discCancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer discCancel()
		_ = client.Disconnect(discCtx) // the ping error is the one worth reporting
		return nil, fmt.Errorf("ping: %w", err)
	}
	return client, nil
}

// DB returns the database this store is bound to.
func (s *Store) DB() *mongo.Database { return s.db }

// Collection returns the named collection of the store's database.
func (s *Store) Collection(name string) *mongo.Collection { return s.db.Collection(name) }

// Close disconnects the client, waiting (bounded by ctx) for in-use connections to be returned to the pool.
// The Store must not be used afterwards.
func (s *Store) Close(ctx context.Context) error {
	if err := s.client.Disconnect(ctx); err != nil {
		return fmt.Errorf("close store %q: %w", s.db.Name(), err)
	}
	return nil
}

// IsDuplicate reports whether err, or any error it wraps, is a duplicate-key error from a unique index,
// including one inside a bulk write. It is how callers learn that a concurrent writer won an insert race.
func IsDuplicate(err error) bool {
	return mongo.IsDuplicateKeyError(err)
}
