package credit

import (
	"context"
	"time"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/ids"
)

// Maintain keeps the leases until ctx ends: every third of Validity it
// renews the lease of each account in use (or whose settled costs the
// ledger has not yet applied), gives back what an idle account does not
// use, and forgets accounts the ledger has caught up with. Without a
// Leaser it only waits for ctx.
func (b *Book) Maintain(ctx context.Context) {
	if b.cfg.Leaser == nil {
		<-ctx.Done()
		return
	}
	t := time.NewTicker(b.cfg.Validity / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			b.maintain(ctx)
		}
	}
}

func (b *Book) maintain(ctx context.Context) {
	type job struct {
		a   *account
		req events.LeaseRequestV1
	}
	var jobs []job
	now := time.Now()
	b.mu.Lock()
	for id, a := range b.acc {
		if a.asking != nil {
			continue
		}
		busy := a.held > 0 || a.heldFree > 0
		unused := a.granted > a.settled || a.grantedFree > a.settledFree
		unapplied := a.settled > a.used || a.settledFree > a.usedFree
		req := events.LeaseRequestV1{V: 1, ID: ids.New("lse"), AccountID: id, Replica: b.cfg.Replica}
		switch {
		case !busy && now.Sub(a.lastUse) > b.cfg.IdleReturn && unused:
			req.Op, req.KeepMicros, req.KeepFree = events.LeaseReturn, a.settled, a.settledFree
		case busy || unused || unapplied:
			req.Op = events.LeaseGrant // renews
		case a.known:
			delete(b.acc, id) // the ledger has applied all of it and holds nothing for it
			continue
		default:
			continue
		}
		a.asking = make(chan struct{})
		jobs = append(jobs, job{a, req})
	}
	b.mu.Unlock()
	for _, j := range jobs {
		if ctx.Err() != nil {
			// Release the accounts not asked about.
			b.mu.Lock()
			close(j.a.asking)
			j.a.asking = nil
			b.mu.Unlock()
			continue
		}
		b.ask(j.a, j.req)
	}
}

// ReturnAll gives back every lease's unused part: at shutdown, once no
// request runs and every usage event has been handed to the bus. It
// returns how many returns failed (the ledger reclaims those after its
// TTL).
func (b *Book) ReturnAll(ctx context.Context) int {
	if b.cfg.Leaser == nil {
		return 0
	}
	type job struct {
		a   *account
		req events.LeaseRequestV1
	}
	var jobs []job
	b.mu.Lock()
	for id, a := range b.acc {
		if a.asking != nil || !a.known || (a.granted <= a.settled && a.grantedFree <= a.settledFree) {
			continue
		}
		a.asking = make(chan struct{})
		jobs = append(jobs, job{a, events.LeaseRequestV1{V: 1, ID: ids.New("lse"), AccountID: id, Replica: b.cfg.Replica,
			Op: events.LeaseReturn, KeepMicros: a.settled + a.held, KeepFree: a.settledFree + a.heldFree}})
	}
	b.mu.Unlock()
	failed := 0
	for _, j := range jobs {
		if ctx.Err() != nil {
			b.mu.Lock()
			close(j.a.asking)
			j.a.asking = nil
			b.mu.Unlock()
			failed++
			continue
		}
		if res := b.ask(j.a, j.req); res.err != nil {
			failed++
		}
	}
	return failed
}
