package ledger

import (
	"context"
	"sync/atomic"
	"time"
)

// writerState says whether this process is the writer.
type writerState struct {
	holding atomic.Bool
}

// Run applies events while this process holds its partition's writer
// lease on the bus (events.LedgerLease in bucket "leases", see bus.Lease;
// events.LeaseLedger with one partition; partition.go),
// so two ledgers never write at once, even when a rollout or an operator
// starts a second one. Until it holds the lease it waits (Writing reports
// false; it never exits for that). If it loses the lease (it could not
// renew it in time), it stops consuming, finishes the batch in hand, forgets
// its cached account states and waits to take the lease again. On cancel
// it finishes the batch in hand, releases the lease and returns nil. It
// returns an error if the writer cannot start, or (tests only) when a
// FailPoint fails; the lease is released then too. From its start to its
// return it also answers generation lookups (generation.go), writer or not.
func (s *Service) Run(ctx context.Context) error {
	stopLookups, err := s.answerGenerations(ctx) // generation.go: any ledger process answers them
	if err != nil {
		return err
	}
	defer stopLookups()
	for {
		lease, err := s.bus.AcquireLease(ctx, s.leaseOptions())
		if err != nil {
			return nil // ctx ended while waiting
		}
		if other, err := s.otherCountHolding(ctx); other != "" || err != nil {
			s.log.Error("ledger: a ledger of another partition count is running (or the leases cannot be read); waiting",
				"lease", other, "partitions", s.cfg.Partitions, "err", err)
			rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_ = lease.Release(rctx)
			rcancel()
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(otherCountBackoff):
			}
			continue
		}
		wctx, cancel := lease.Context(ctx)
		s.writer.holding.Store(true)
		err = s.runWriter(wctx)
		s.writer.holding.Store(false)
		cancel()
		lost := lease.LostReason() != ""
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if rerr := lease.Release(rctx); rerr != nil {
			s.log.Warn("ledger: release the writer lease (it expires by itself)", "err", rerr)
		}
		rcancel()
		if err != nil || ctx.Err() != nil || !lost {
			return err
		}
		// Another writer may change accounts (and credit leases) from now
		// on: what this one cached is stale.
		clear(s.accounts)
		clear(s.days)
		clear(s.renewed)
		s.log.Error("ledger: lost the writer lease; waiting to take it again")
	}
}

// Writing reports whether this process holds the writer lease and applies
// events (its readiness: a second ledger waits, not ready).
func (s *Service) Writing() bool { return s.writer.holding.Load() }
