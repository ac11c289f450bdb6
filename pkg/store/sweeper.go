package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// ExpiresAtField is the document field the [Sweeper] reads: a BSON date after which the document may be
// deleted. Documents without it, or with a non-date value, never expire.
const ExpiresAtField = "expires_at"

// defaultSweepInterval is used when NewSweeper is given a non-positive interval.
const defaultSweepInterval = time.Minute

// Sweeper deletes expired documents, standing in for TTL indexes, which FerretDB refuses. Like a TTL index it
// gives no promise about when an expired document disappears, only that it will: readers that care must
// still check expires_at themselves.
//
// Several sweepers (e.g. one per replica of a service) may run against the same collections; deletes are
// idempotent.
type Sweeper struct {
	store       *Store
	logger      *slog.Logger
	interval    time.Duration
	now         func() time.Time
	collections []string
}

// NewSweeper returns a sweeper over the named collections of st. It sweeps every interval (one minute if
// interval ≤ 0) using now as the clock (time.Now if nil). A nil logger discards logs. Declare
// [Sweeper.Indexes] in the service's EnsureIndexes call so that sweeps do not scan whole collections.
func NewSweeper(st *Store, logger *slog.Logger, interval time.Duration, now func() time.Time, collections ...string) *Sweeper {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if interval <= 0 {
		interval = defaultSweepInterval
	}
	if now == nil {
		now = time.Now
	}
	return &Sweeper{
		store:       st,
		logger:      logger,
		interval:    interval,
		now:         now,
		collections: append([]string(nil), collections...),
	}
}

// Indexes returns an ascending index on expires_at for each swept collection, named "expires_at_1" (the
// server's default name, so it matches an index created by hand).
func (s *Sweeper) Indexes() []Index {
	idx := make([]Index, 0, len(s.collections))
	for _, c := range s.collections {
		idx = append(idx, Index{Collection: c, Keys: bson.D{{Key: ExpiresAtField, Value: 1}}, Name: ExpiresAtField + "_1"})
	}
	return idx
}

// SweepOnce deletes, in every swept collection, the documents whose expires_at is a date strictly before
// now(). It tries every collection even if one fails, and returns how many documents were deleted in all
// together with the joined errors.
func (s *Sweeper) SweepOnce(ctx context.Context) (deleted int64, err error) {
	// A BSON date has millisecond precision; compare against the same value the server will store.
	cutoff := bson.NewDateTimeFromTime(s.now())
	// $lt against a date matches only date values (MongoDB's type bracketing, which FerretDB follows), so
	// missing, null or non-date expires_at values are left alone.
	filter := bson.D{{Key: ExpiresAtField, Value: bson.D{{Key: "$lt", Value: cutoff}}}}

	var errs []error
	for _, c := range s.collections {
		res, err := s.store.Collection(c).DeleteMany(ctx, filter)
		if err != nil {
			errs = append(errs, fmt.Errorf("sweep expired documents from %s: %w", c, err))
			continue
		}
		deleted += res.DeletedCount
	}
	return deleted, errors.Join(errs...)
}

// Run sweeps once immediately and then every interval until ctx is cancelled, when it returns nil. A failed
// sweep is logged and retried at the next tick rather than ending Run: the documents it missed are still
// there to be deleted, and a database hiccup should not stop the service. Each sweep is bounded by a timeout
// of at least a minute.
func (s *Sweeper) Run(ctx context.Context) error {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		s.sweep(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (s *Sweeper) sweep(ctx context.Context) {
	sweepCtx, cancel := context.WithTimeout(ctx, max(s.interval, time.Minute))
	defer cancel()
	n, err := s.SweepOnce(sweepCtx)
	switch {
	case err != nil && ctx.Err() != nil:
		// Shutting down; the interrupted sweep is not a failure.
	case err != nil:
		s.logger.Warn("sweep expired documents", "deleted", n, "error", err)
	case n > 0:
		s.logger.Debug("swept expired documents", "deleted", n)
	}
}
