package store

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Index declares one index a service needs. Only plain and unique (optionally compound) indexes are offered:
// FerretDB refuses TTL and partial indexes, so expiry is done by the [Sweeper] instead.
type Index struct {
	Collection string
	// Keys in order, each 1 (ascending) or -1 (descending), e.g. bson.D{{Key: "account_id", Value: 1}}.
	Keys   bson.D
	Unique bool
	// Name is optional; empty means the server's default name (e.g. "account_id_1_day_-1").
	Name string
}

// EnsureIndexes creates the given indexes, creating their collections as needed. It is meant to run at every
// start-up: creating an index that already exists with the same keys and options changes nothing. An index
// that exists under the same name (or keys) with different options is an error, not silently replaced; change
// an index by giving it a new name and dropping the old one deliberately. (FerretDB compares only name and
// keys: it silently keeps an existing index whose uniqueness differs from the declaration, where MongoDB
// reports a conflict.)
func (s *Store) EnsureIndexes(ctx context.Context, indexes []Index) error {
	for i, idx := range indexes {
		if idx.Collection == "" {
			return fmt.Errorf("ensure indexes: index %d (%q) has no collection", i, idx.Name)
		}
		if len(idx.Keys) == 0 {
			return fmt.Errorf("ensure indexes: index %d (%q) on %s has no keys", i, idx.Name, idx.Collection)
		}
	}

	var errs []error
	for _, idx := range indexes {
		opts := options.Index()
		if idx.Unique {
			// Only ever sent when true: "unique: false" is the default and spelling it out is not needed.
			opts.SetUnique(true)
		}
		if idx.Name != "" {
			opts.SetName(idx.Name)
		}
		// One createIndexes command per index, never a batch: FerretDB v1.24 panics (and drops the connection)
		// when one command names two or more indexes that already exist, which is every start-up but the first.
		model := mongo.IndexModel{Keys: idx.Keys, Options: opts}
		if _, err := s.db.Collection(idx.Collection).Indexes().CreateOne(ctx, model); err != nil {
			errs = append(errs, fmt.Errorf("ensure index %v on %s.%s: %w", idx.Keys, s.db.Name(), idx.Collection, err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	s.logger.Debug("indexes ensured", "database", s.db.Name(), "indexes", len(indexes))
	return nil
}
