package ledger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/services/ledger/internal/book"
)

// inMsg is a message and the durable consumer it came from.
type inMsg struct {
	msg      jetstream.Msg
	consumer string
}

// consumer is one durable the ledger reads.
type consumer struct {
	name    string
	c       jetstream.Consumer
	ackWait time.Duration
}

// idleWait is how long one fetch waits for messages when the ledger has
// nothing to do; the writer rotates it over the consumers.
const idleWait = 50 * time.Millisecond

// runWriter (run by Run while it holds the writer lease, writerlease.go)
// declares the ledger's indexes, finishes any batch a previous run left
// half-written, then applies events until ctx is cancelled.
//
// The writer pulls a batch only when it is ready for one (no prefetch), so
// no message waits in a buffer while its ack wait runs; messages of a
// batch being written are kept alive with in-progress acks. On cancel Run
// finishes the batch in hand (its messages are acked) and returns nil. It
// returns an error if it cannot start, or (tests only) when a FailPoint
// fails.
func (s *Service) runWriter(ctx context.Context) error {
	if err := s.st.EnsureIndexes(ctx, s.Indexes()); err != nil {
		if ctx.Err() != nil {
			return nil // cancelled while starting: a clean stop
		}
		return fmt.Errorf("ledger: %w", err)
	}
	// Bind to what the admin declared, waiting while it is not there.
	kv, err := s.bus.WaitKV(ctx, events.BucketBalances)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("ledger: %w", err)
	}
	s.kv = kv
	s.markBound(events.BucketBalances)
	var cons []consumer
	for _, name := range events.LedgerConsumers(s.cfg.Partitions, s.cfg.Partition) {
		c, err := s.bus.WaitConsumer(ctx, name)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("ledger: %w", err)
		}
		s.m.setConsumer(name, c)
		s.markBound(name)
		cons = append(cons, consumer{name: name, c: c, ackWait: c.CachedInfo().Config.AckWait})
	}
	s.log.Debug("ledger: starting")
	if err := s.recoverUntilDone(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	if err := s.watchLeases(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("ledger: %w", err)
	}
	sub, err := s.subscribeLeases()
	if err != nil {
		return err
	}
	defer func() { _ = sub.Unsubscribe() }()

	var wg sync.WaitGroup
	defer wg.Wait()
	sweepCtx, stopSweeper := context.WithCancel(ctx)
	defer stopSweeper()
	if s.cfg.Partition == 0 { // one sweeper for all partitions (partition.go)
		sweeper := s.sweeper()
		wg.Go(func() { _ = sweeper.Run(sweepCtx) })
	}
	wg.Go(func() { s.republishBalances(sweepCtx) }) // KV balances equal to the database after a restore

	next := 0
	for ctx.Err() == nil {
		batch, leases := s.fetch(ctx, cons, &next)
		reclaims := s.expired()
		if len(batch) == 0 && len(leases) == 0 && len(reclaims) == 0 {
			continue
		}
		err := s.applyAlive(context.WithoutCancel(ctx), batch, leases, reclaims, cons)
		var crash failPointError
		switch {
		case err == nil:
		case errors.As(err, &crash):
			return crash.err
		default:
			s.m.batchErrors.Add(ctx, 1)
			s.log.Error("ledger: batch failed; it will be retried", "batch_size", len(batch), "err", err)
			for _, m := range batch {
				_ = m.msg.NakWithDelay(s.cfg.RetryBackoff)
			}
			// Lease requests get no reply: the replicas ask again.
			clear(s.accounts)
			clear(s.days)
			if err := s.recoverUntilDone(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
	}
	return nil
}

// fetch takes what each consumer has and the lease requests waiting, up
// to a batch; when there are none it waits briefly on one consumer
// (rotating).
func (s *Service) fetch(ctx context.Context, cons []consumer, next *int) ([]inMsg, []*nats.Msg) {
	leases := s.takeLeases(s.cfg.BatchSize)
	var out []inMsg
	take := func(c consumer, b jetstream.MessageBatch) {
		for m := range b.Messages() {
			out = append(out, inMsg{msg: m, consumer: c.name})
		}
		if err := b.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && ctx.Err() == nil {
			s.log.Warn("ledger: fetch", "consumer", c.name, "err", err)
		}
	}
	for _, c := range cons {
		room := s.cfg.BatchSize - len(out) - len(leases)
		if room <= 0 {
			break
		}
		b, err := c.c.FetchNoWait(room)
		if err != nil {
			s.log.Warn("ledger: fetch", "consumer", c.name, "err", err)
			continue
		}
		take(c, b)
	}
	if len(out) > 0 || len(leases) > 0 || ctx.Err() != nil {
		return out, leases
	}
	c := cons[*next%len(cons)]
	*next++
	b, err := c.c.Fetch(s.cfg.BatchSize, jetstream.FetchMaxWait(idleWait))
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("ledger: fetch", "consumer", c.name, "err", err)
			time.Sleep(idleWait)
		}
		return nil, s.takeLeases(s.cfg.BatchSize)
	}
	take(c, b)
	return out, s.takeLeases(max(s.cfg.BatchSize-len(out), 1))
}

// applyAlive applies a batch while telling the server, every third of
// the shortest ack wait, that its messages are still being worked on.
func (s *Service) applyAlive(ctx context.Context, batch []inMsg, leases []*nats.Msg, reclaims []book.Event, cons []consumer) error {
	every := time.Duration(0)
	for _, c := range cons {
		if c.ackWait > 0 && (every == 0 || c.ackWait/3 < every) {
			every = c.ackWait / 3
		}
	}
	if every <= 0 {
		every = 10 * time.Second
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				for _, m := range batch {
					_ = m.msg.InProgress()
				}
			}
		}
	})
	err := s.apply(ctx, batch, leases, reclaims)
	close(done)
	wg.Wait()
	return err
}

// recoverUntilDone finishes half-written batches, retrying with a backoff
// while the database fails, until it succeeds or ctx ends.
func (s *Service) recoverUntilDone(ctx context.Context) error {
	for {
		err := s.recover(context.WithoutCancel(ctx))
		var crash failPointError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &crash):
			return crash.err
		}
		s.m.batchErrors.Add(ctx, 1)
		s.log.Error("ledger: finishing a half-written batch failed; retrying", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(s.cfg.RetryBackoff):
		}
	}
}

// failPointError carries a FailPoint's error out of a batch.
type failPointError struct{ err error }

func (e failPointError) Error() string { return "fail point: " + e.err.Error() }

func (s *Service) point(name string) error {
	if err := s.fail(name); err != nil {
		s.log.Debug("ledger: fail point", "point", name, "err", err)
		return failPointError{err}
	}
	return nil
}
