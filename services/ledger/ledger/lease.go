package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/ids"
	"github.com/onekey-oss/onekey/services/ledger/internal/book"
)

// Credit leases (api/events/lease.go). Requests arrive on core NATS and
// are applied by the writer loop in its batches, like bus events: a grant
// or return that changes a lease is a journal entry whose id is the
// request's, so a repeated request applies once; one that changes nothing
// (a renewal) only renews. The reply is sent once the batch is written.
//
// The ledger reclaims a lease its replica has not renewed (asked for,
// renewed or returned) for LeaseTTL by the ledger's own clock. The
// replica stops admitting on its lease well before: it counts its
// validity from the moment it sent its last renewal, on its own clock.

// leaseQueue bounds the requests waiting for the writer; past it the
// NATS client drops them and the replica's request times out.
const leaseQueue = 4096

// subscribeLeases starts taking lease requests. The writer reads them
// from s.leaseReqs.
func (s *Service) subscribeLeases() (*nats.Subscription, error) {
	s.leaseReqs = make(chan *nats.Msg, leaseQueue)
	// With partitions every writer takes every request and keeps its own
	// accounts' (takeLeases); with one, the queue group is as before.
	queue := "ledger"
	if s.cfg.Partitions > 1 {
		queue = ""
	}
	sub, err := s.bus.Conn().ChanQueueSubscribe(events.FamilyLease+".*", queue, s.leaseReqs)
	if err != nil {
		return nil, fmt.Errorf("ledger: subscribe to lease requests: %w", err)
	}
	_ = sub.SetPendingLimits(leaseQueue, 64<<20)
	return sub, nil
}

// takeLeases returns the lease requests of this partition's accounts
// waiting, up to n, and drops the others' (their partition answers them).
func (s *Service) takeLeases(n int) []*nats.Msg {
	var out []*nats.Msg
	for len(out) < n {
		select {
		case m := <-s.leaseReqs:
			if s.owns(events.AccountOf(m.Subject)) {
				out = append(out, m)
			}
		default:
			return out
		}
	}
	return out
}

// watchLeases makes every lease found in the accounts at start-up count as
// renewed now: the ledger cannot know when its replicas last renewed, so it
// gives them a full TTL.
func (s *Service) watchLeases(ctx context.Context) error {
	accs, err := s.db.LeasedAccounts(ctx)
	if err != nil {
		return err
	}
	now := s.now()
	for _, id := range accs {
		if !s.owns(id) {
			continue
		}
		a, err := s.account(ctx, id)
		if err != nil {
			return err
		}
		for r, l := range a.Leases {
			if m, f := l.Outstanding(); m > 0 || f > 0 {
				s.renew(id, r, now)
			}
		}
	}
	return nil
}

func (s *Service) renew(account, replica string, at time.Time) {
	m := s.renewed[account]
	if m == nil {
		m = map[string]time.Time{}
		s.renewed[account] = m
	}
	m[replica] = at
}

// expired returns a reclaim for each lease not renewed for LeaseTTL, and
// forgets it.
func (s *Service) expired() []book.Event {
	now := s.now()
	if now.Sub(s.lastReclaimScan) < s.cfg.LeaseTTL/10 {
		return nil
	}
	s.lastReclaimScan = now
	var out []book.Event
	for acc, reps := range s.renewed {
		for r, at := range reps {
			if now.Sub(at) > s.cfg.LeaseTTL {
				out = append(out, book.Reclaim(ids.New("lrc"), acc, r, now.UTC()))
				delete(reps, r)
			}
		}
		if len(reps) == 0 {
			delete(s.renewed, acc)
		}
	}
	return out
}

// leaseAnswer is a lease request to answer after its batch.
type leaseAnswer struct {
	msg *nats.Msg
	ev  book.Event
	err string
}

// answerLeases replies to each request with its replica's lease as the
// accounts now hold it, and renews the leases asked about. Lost replies
// are harmless: the replica asks again with the same id.
func (s *Service) answerLeases(ctx context.Context, answers []leaseAnswer) {
	now := s.now()
	for _, q := range answers {
		r := events.LeaseV1{V: 1, ID: q.ev.ID, AccountID: q.ev.Account}
		if q.ev.Lease != nil {
			r.Replica = q.ev.Lease.Replica
		}
		if q.err != "" {
			r.Error = q.err
		} else {
			a, err := s.account(ctx, q.ev.Account)
			if err != nil {
				r.Error = "the ledger could not read the account"
				s.log.Warn("ledger: lease reply", "account", q.ev.Account, "err", err)
			} else {
				r.Lease = a.Leases[r.Replica]
				r.AvailableMicros, r.AvailableFree = a.Available()
				s.renew(q.ev.Account, r.Replica, now)
			}
		}
		raw, err := json.Marshal(r)
		if err != nil {
			continue
		}
		if err := q.msg.Respond(raw); err != nil {
			s.log.Debug("ledger: lease reply not sent", "account", q.ev.Account, "err", err)
		}
	}
	s.m.leaseRequests.Add(ctx, int64(len(answers)))
}

// noteUsageLeases makes a replica's lease that usage left outstanding
// (a replica the ledger has not heard from since it started) subject to
// reclaim.
func (s *Service) noteUsageLeases(accounts []book.Account) {
	now := s.now()
	for _, a := range accounts {
		for r, l := range a.Leases {
			if m, f := l.Outstanding(); m > 0 || f > 0 {
				if _, ok := s.renewed[a.ID][r]; !ok {
					s.renew(a.ID, r, now)
				}
			}
		}
	}
}
