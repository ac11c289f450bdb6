package ledger

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/bus"
)

// writerState says whether this process is the writer, and what the
// writer has bound to in its current term of the lease.
type writerState struct {
	holding atomic.Bool
	// term is the current term's: made anew each time the lease is taken,
	// before holding is set, so a term never reads the last one's.
	term atomic.Pointer[writerTerm]
}

// writerTerm is one holding of the writer lease.
type writerTerm struct {
	lease *bus.Lease
	bound *bus.Bound
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
		s.writer.term.Store(&writerTerm{lease: lease, bound: bus.NewBound(s.binds()...)})
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

// Writing reports whether this process holds the writer lease (a second
// ledger waits, not writing). A writer may still be waiting for its
// consumers and bucket: see Ready.
func (s *Service) Writing() bool { return s.writer.holding.Load() }

// Ready is the ledger's readiness (the admin server's /readyz): it holds
// its partition's writer lease and, in this term of the lease, has bound
// to KV balances and to every durable consumer of its partition (declared
// by the bus admin; the writer waits for them, never exits). It is false
// again as soon as the lease is lost (while the batch in hand finishes)
// and once Run stops.
func (s *Service) Ready() bool {
	t := s.writer.term.Load()
	if !s.writer.holding.Load() || t == nil || !t.bound.Ready() {
		return false
	}
	select {
	case <-t.lease.Lost():
		return false
	default:
		return true
	}
}

// binds names what the writer binds to before it applies anything: bucket
// balances and its partition's consumers (the bucket leases is bound by
// holding the lease).
func (s *Service) binds() []string {
	return append([]string{events.BucketBalances}, events.LedgerConsumers(s.cfg.Partitions, s.cfg.Partition)...)
}

// markBound records, for Ready, that the writer is bound to name.
func (s *Service) markBound(name string) {
	if t := s.writer.term.Load(); t != nil {
		t.bound.Mark(name)
	}
}
