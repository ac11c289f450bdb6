package ledger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/onekey-oss/onekey/api/events"
)

// inMsg is a message and the durable consumer it came from.
type inMsg struct {
	msg      jetstream.Msg
	consumer string
}

// consumers the ledger reads, each a durable of api/events.
var consumerNames = []string{events.ConsumerLedgerAccounts, events.ConsumerLedgerBilling, events.ConsumerLedgerUsage}

// Run declares the ledger's indexes, finishes any batch a previous run
// left half-written, then applies events until ctx is cancelled. On cancel
// it stops pulling, finishes the batch in hand (its messages are acked),
// naks the messages pulled but not started so they come back at once, and
// returns nil. It returns an error if it cannot start, or (tests only) when
// a FailPoint fails.
func (s *Service) Run(ctx context.Context) error {
	if err := s.st.EnsureIndexes(ctx, s.Indexes()); err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	kv, err := s.bus.KV(ctx, events.BucketBalances)
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	s.kv = kv
	if err := s.recoverUntilDone(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	runCtx, stop := context.WithCancel(ctx)
	defer stop()

	sweeper := s.sweeper()
	wg.Go(func() { _ = sweeper.Run(runCtx) })

	in := make(chan inMsg, 2*s.cfg.BatchSize)
	var iters []jetstream.MessagesContext
	for _, name := range consumerNames {
		cons, err := s.bus.Consumer(ctx, name)
		if err != nil {
			return fmt.Errorf("ledger: %w", err)
		}
		s.m.setConsumer(name, cons)
		it, err := cons.Messages(jetstream.PullMaxMessages(s.cfg.BatchSize))
		if err != nil {
			return fmt.Errorf("ledger: consume %s: %w", name, err)
		}
		iters = append(iters, it)
		wg.Go(func() { s.pull(runCtx, name, it, in) })
	}
	defer func() {
		for _, it := range iters {
			it.Stop()
		}
	}()

	batch := make([]inMsg, 0, s.cfg.BatchSize)
	for {
		batch = batch[:0]
		select {
		case <-ctx.Done():
			stop()
			for _, it := range iters {
				it.Stop()
			}
			naks(in)
			return nil
		case m := <-in:
			batch = append(batch, m)
		}
	fill:
		for len(batch) < s.cfg.BatchSize {
			select {
			case m := <-in:
				batch = append(batch, m)
			default:
				break fill
			}
		}
		err := s.apply(context.WithoutCancel(ctx), batch)
		var crash failPointError
		switch {
		case err == nil:
		case errors.As(err, &crash):
			return crash.err
		default:
			s.m.batchErrors.Add(ctx, 1)
			s.log.Error("ledger: batch failed; it will be retried", "messages", len(batch), "err", err)
			for _, m := range batch {
				_ = m.msg.NakWithDelay(s.cfg.RetryBackoff)
			}
			clear(s.accounts)
			if err := s.recoverUntilDone(ctx); err != nil {
				if ctx.Err() != nil {
					naks(in)
					return nil
				}
				return err
			}
		}
	}
}

// pull feeds the writer from one consumer until ctx ends or the iterator
// stops.
func (s *Service) pull(ctx context.Context, name string, it jetstream.MessagesContext, in chan<- inMsg) {
	for {
		msg, err := it.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) || ctx.Err() != nil {
				return
			}
			s.log.Warn("ledger: next message", "consumer", name, "err", err)
			continue
		}
		select {
		case in <- inMsg{msg: msg, consumer: name}:
		case <-ctx.Done():
			_ = msg.Nak()
			return
		}
	}
}

// naks hands back what was pulled but not applied, so it is redelivered
// at once rather than after the ack wait.
func naks(in chan inMsg) {
	for {
		select {
		case m := <-in:
			_ = m.msg.Nak()
		default:
			return
		}
	}
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
		return failPointError{err}
	}
	return nil
}
