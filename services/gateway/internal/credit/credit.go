// Package credit decides, in memory, whether a request may start: the
// account must have a free request or enough credit to hold the request's
// worst-case cost, and the key must be under its spend cap.
//
// Credit comes from a lease (api/events/lease.go): the ledger, the single
// writer of balances, grants this replica part of an account's balance and
// free requests, recorded in its journal, and the replica admits requests
// only within it. Its counters are cumulative: the replica may admit at
// most Granted in all, so a cost it settled stays counted against the
// lease (never released by a timer or a clock comparison); the ledger
// keeps Granted − Used leased until it has applied the replica's usage.
// The replica asks for a lease on an account's first request and when its
// lease runs low (one request in flight per account; the others wait for
// it), renews the leases it holds, gives back what an idle account does not
// use, and gives everything back at shutdown.
//
// A lease is valid for Validity after the replica SENT the request that
// last renewed it, by this process's monotonic clock; the ledger reclaims
// it only after its own, longer TTL. While no valid lease covers a request
// (the bus or the ledger is down) it is refused with ErrUnavailable, never
// admitted on an old balance.
//
// Without a Leaser (this module's tests, which run no ledger) the Book
// admits against the balances view alone, which is safe only with a single
// replica.
//
// All methods are safe for concurrent use.
package credit

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/pkg/ids"
)

// Errors returned by Admit.
var (
	ErrInsufficient = errors.New("insufficient credit")
	ErrSpendCap     = errors.New("key spend cap reached")
	// ErrUnavailable: the request is not covered by a valid lease and the
	// ledger could not be asked for one.
	ErrUnavailable = errors.New("credit lease unavailable")
)

// Balances gives the ledger's latest balance of an account.
type Balances interface {
	Get(accountID string) (events.BalanceV1, bool)
}

// Leaser asks the ledger for a lease operation and returns its reply.
type Leaser interface {
	Lease(ctx context.Context, r events.LeaseRequestV1) (events.LeaseV1, error)
}

// Config tunes a Book.
type Config struct {
	// Replica is this gateway process's id (events.UsageRecordedV1.Replica).
	Replica string
	// FreeCap is the most a free request may cost.
	FreeCap money.Micros
	// Leaser asks the ledger; nil: admit against the balances view (one
	// replica only).
	Leaser Leaser
	// Validity is how long a lease may be used after the request that last
	// renewed it was sent. It must be shorter than the ledger's lease TTL.
	Validity time.Duration
	// Timeout bounds one lease request.
	Timeout time.Duration
	// Multiple sizes a lease: it asks for Multiple times the worst case of
	// the request that found the lease short (more when several wait),
	// bounded by what the account has available.
	Multiple int64
	// IdleReturn: an account with no request for this long gives back the
	// lease it does not use.
	IdleReturn time.Duration
}

func (c *Config) defaults() {
	if c.Validity <= 0 {
		c.Validity = 30 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 3 * time.Second
	}
	if c.Multiple <= 0 {
		c.Multiple = 4
	}
	if c.IdleReturn <= 0 {
		c.IdleReturn = c.Validity / 3
	}
}

// shortBackoff: after the ledger granted less than asked, the account's
// requests do not ask again for this long (or until its balance changes),
// so a spent account costs no bus round trip per request.
const shortBackoff = time.Second

// Book keeps the leases, holds and settled costs per account.
type Book struct {
	bal Balances
	cfg Config
	mu  sync.Mutex
	acc map[string]*account
}

type account struct {
	// The lease as the ledger last answered (cumulative counters).
	granted, used         money.Micros
	grantedFree, usedFree int64
	known                 bool      // a reply has been received
	validUntil            time.Time // monotonic
	// This replica's own cumulative counts.
	settled     money.Micros
	settledFree int64
	// askedAt is settled+held when this replica last asked for money.
	askedAt  money.Micros
	held     money.Micros
	heldFree int64
	keyHeld  map[string]money.Micros
	// keyPend are settled costs by key the ledger has not yet applied
	// (released as its high-water mark, Used, passes their position).
	keyPend    []keyCost
	keyPendSum map[string]money.Micros
	lastUse    time.Time
	// asking is closed when the lease request in flight ends; last is its
	// outcome.
	asking  chan struct{}
	last    askResult
	waiters int
	// shortUntil (shortFreeUntil): the ledger granted less money (free
	// requests) than asked; until then, or until the account's balance
	// changes, none is asked for again.
	shortUntil, shortFreeUntil time.Time
}

type keyCost struct {
	pos    money.Micros // settled after this cost
	key    string
	micros money.Micros
}

type askResult struct {
	err    error
	gotAny bool // the lease grew
}

// NewBook returns a Book reading balances from bal.
func NewBook(bal Balances, cfg Config) *Book {
	cfg.defaults()
	return &Book{bal: bal, cfg: cfg, acc: map[string]*account{}}
}

// Hold is an admitted request's reservation. Settle it exactly once.
type Hold struct {
	AccountID string
	KeyID     string
	// Free: the request uses one of the account's free requests and is
	// charged nothing.
	Free bool
	// Micros is the cost the hold covers, between the request's Least and
	// Want. For a free hold it is at most the free cap. When it is below
	// Want the caller must bound the request (an output limit) so that it
	// cannot cost more than Micros.
	Micros money.Micros
}

// Request is what a request asks to hold.
type Request struct {
	AccountID string
	KeyID     string
	// CapMicros is the key's spend cap, 0 for none.
	CapMicros money.Micros
	// Want is the request's worst-case cost as the client sent it.
	Want money.Micros
	// Least is the smallest hold the request can run with (the caller can
	// lower its output limit down to it); Least == Want when the client set
	// its own output limit.
	Least money.Micros
}

func (b *Book) get(id string) *account {
	a := b.acc[id]
	if a == nil {
		a = &account{keyHeld: map[string]money.Micros{}, keyPendSum: map[string]money.Micros{}}
		b.acc[id] = a
	}
	return a
}

// Admit reserves up to r.Want (at least r.Least) for a request, or says
// why not. A free request is used only when r.Least is within the free
// cap; the hold then covers at most the free cap. It may wait for a lease
// request (at most Config.Timeout); ctx ends the wait.
func (b *Book) Admit(ctx context.Context, r Request) (Hold, error) {
	least := max(min(r.Least, r.Want), 0)
	for range 16 {
		bal, seen := b.bal.Get(r.AccountID)
		now := time.Now()
		b.mu.Lock()
		a := b.get(r.AccountID)
		a.lastUse = now
		keyRoom := money.Micros(-1) // no cap
		if r.CapMicros > 0 {
			keyRoom = r.CapMicros - (bal.KeySpendMicros[r.KeyID] + a.keyHeld[r.KeyID] + a.keyPendSum[r.KeyID])
			if keyRoom < least {
				b.mu.Unlock()
				return Hold{}, ErrSpendCap
			}
		}
		// Free requests come first: while the account may have some left
		// that this replica's lease does not hold, ask for them before
		// paying.
		freeOK := least <= b.cfg.FreeCap
		askFree := freeOK && now.After(a.shortFreeUntil) && (!seen || bal.FreeRequestsLeft-bal.LeasedFree > 0)
		if h, ok := b.take(a, r, bal, least, keyRoom, now, askFree); ok {
			b.mu.Unlock()
			return h, nil
		}
		if b.cfg.Leaser == nil {
			b.mu.Unlock()
			return Hold{}, ErrInsufficient
		}
		var res askResult
		waited := a.asking != nil
		if waited {
			ch := a.asking
			a.waiters++
			b.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				b.mu.Lock()
				a.waiters--
				b.mu.Unlock()
				return Hold{}, ErrUnavailable
			}
			b.mu.Lock()
			a.waiters--
			res = a.last
			b.mu.Unlock()
		} else {
			askMicros := now.After(a.shortUntil)
			if now.Before(a.validUntil) && !askFree && !askMicros {
				b.mu.Unlock()
				return Hold{}, ErrInsufficient
			}
			// Sized for this request and those waiting, a few times over;
			// at least twice what this replica spent on the account since
			// it last asked (a busy account's lease doubles until it lasts,
			// so lease requests become rarer instead of coming every few
			// requests); and at least a sixteenth of what the account has
			// available, so a well-funded account needs few asks from the
			// start. The ledger grants no more than is available.
			n := min(b.cfg.Multiple+int64(a.waiters), 8*b.cfg.Multiple)
			req := events.LeaseRequestV1{V: 1, ID: ids.New("lse"), AccountID: r.AccountID, Replica: b.cfg.Replica, Op: events.LeaseGrant}
			if askMicros {
				spent := a.settled + a.held - a.askedAt
				req.Micros = max(max(r.Want, 1)*money.Micros(n), 2*spent, (bal.BalanceMicros-bal.LeasedMicros)/16)
				a.askedAt = a.settled + a.held
			}
			if askFree {
				req.Free = n
			}
			a.asking = make(chan struct{})
			b.mu.Unlock()
			res = b.ask(a, req)
		}
		if res.err != nil {
			return Hold{}, ErrUnavailable
		}
		b.mu.Lock()
		now = time.Now()
		h, ok := b.take(a, r, bal, least, keyRoom, now, freeOK && now.After(a.shortFreeUntil) && (!seen || bal.FreeRequestsLeft-bal.LeasedFree > 0))
		b.mu.Unlock()
		if ok {
			return h, nil
		}
		if !res.gotAny && !waited {
			return Hold{}, ErrInsufficient
		}
		// The lease grew but others took it first, or the request waited
		// for was not made for this one (a renewal): look again.
	}
	return Hold{}, ErrInsufficient
}

// take holds what the request needs if the lease (or, without a Leaser,
// the balance) covers it. b.mu is held.
//
// With wantFree (a lease mode only) a request that could be free is not
// paid from the lease while the lease holds no free request: the caller
// asks the ledger for free requests first.
func (b *Book) take(a *account, r Request, bal events.BalanceV1, least, keyRoom money.Micros, now time.Time, wantFree bool) (Hold, bool) {
	var freeRoom int64
	var room money.Micros
	switch {
	case b.cfg.Leaser == nil:
		u := bal.Leases[b.cfg.Replica]
		freeRoom = bal.FreeRequestsLeft - (a.settledFree - min(u.UsedFree, a.settledFree)) - a.heldFree
		room = bal.BalanceMicros - (a.settled - min(u.UsedMicros, a.settled)) - a.held
	case now.Before(a.validUntil):
		freeRoom = a.grantedFree - a.settledFree - a.heldFree
		room = a.granted - a.settled - a.held
	default:
		return Hold{}, false
	}
	h := Hold{AccountID: r.AccountID, KeyID: r.KeyID}
	if freeRoom > 0 && least <= b.cfg.FreeCap {
		h.Free, h.Micros = true, min(r.Want, b.cfg.FreeCap)
		a.heldFree++
		return h, true
	}
	if wantFree && b.cfg.Leaser != nil {
		return Hold{}, false
	}
	if keyRoom >= 0 {
		room = min(room, keyRoom)
	}
	if room <= 0 || room < least {
		return Hold{}, false
	}
	h.Micros = min(r.Want, room)
	a.held += h.Micros
	a.keyHeld[r.KeyID] += h.Micros
	return h, true
}

// ask sends one lease request for a (whose asking channel the caller set)
// and records the reply.
func (b *Book) ask(a *account, req events.LeaseRequestV1) askResult {
	sent := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.Timeout)
	resp, err := b.cfg.Leaser.Lease(ctx, req)
	cancel()
	if err == nil && resp.Error != "" {
		err = errors.New(resp.Error)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var res askResult
	if err != nil {
		res.err = err
	} else {
		before, beforeFree := a.granted, a.grantedFree
		b.record(a, resp, sent)
		res.gotAny = a.granted > before || a.grantedFree > beforeFree
		if req.Op == events.LeaseGrant {
			if a.granted-before < req.Micros {
				a.shortUntil = time.Now().Add(shortBackoff)
			}
			if a.grantedFree-beforeFree < req.Free {
				a.shortFreeUntil = time.Now().Add(shortBackoff)
			}
		}
	}
	a.last = res
	close(a.asking)
	a.asking = nil
	return res
}

// record takes the ledger's reply: the lease's counters, and its validity
// counted from when the request was sent. b.mu is held.
func (b *Book) record(a *account, resp events.LeaseV1, sent time.Time) {
	if !a.known && a.settled == 0 && a.settledFree == 0 {
		// A fresh start on an account this replica has leased before (its
		// state was dropped once the ledger had applied everything): its
		// settled counts are what the ledger has applied.
		a.settled, a.settledFree = resp.UsedMicros, resp.UsedFree
	}
	a.known = true
	a.granted, a.grantedFree = resp.GrantedMicros, resp.GrantedFree
	b.applied(a, resp.UsedMicros, resp.UsedFree)
	a.validUntil = sent.Add(b.cfg.Validity)
}

// applied moves the ledger's high-water mark of this replica's usage and
// releases the key spend it covers. b.mu is held.
func (b *Book) applied(a *account, used money.Micros, usedFree int64) {
	a.used, a.usedFree = max(a.used, used), max(a.usedFree, usedFree)
	i := 0
	for ; i < len(a.keyPend) && a.keyPend[i].pos <= a.used; i++ {
		k := a.keyPend[i]
		if a.keyPendSum[k.key] -= k.micros; a.keyPendSum[k.key] <= 0 {
			delete(a.keyPendSum, k.key)
		}
	}
	a.keyPend = append(a.keyPend[:0], a.keyPend[i:]...)
}

// Settle releases h; when used, cost (or, for a free hold, one free
// request) counts as settled under the lease until the ledger has applied
// it.
func (b *Book) Settle(h Hold, cost money.Micros, used bool) {
	if h.AccountID == "" {
		return // no hold was taken
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	a := b.acc[h.AccountID]
	if a == nil {
		return
	}
	if h.Free {
		a.heldFree--
		if used {
			a.settledFree++
		}
		return
	}
	a.held -= h.Micros
	if a.keyHeld[h.KeyID] -= h.Micros; a.keyHeld[h.KeyID] <= 0 {
		delete(a.keyHeld, h.KeyID)
	}
	if used && cost > 0 {
		a.settled += cost
		a.keyPend = append(a.keyPend, keyCost{pos: a.settled, key: h.KeyID, micros: cost})
		a.keyPendSum[h.KeyID] += cost
	}
}

// BalanceChanged is called when the ledger wrote a new balance: it carries
// the ledger's high-water mark of this replica's applied usage, and may
// have made credit available again.
func (b *Book) BalanceChanged(accountID string, v events.BalanceV1) {
	b.mu.Lock()
	defer b.mu.Unlock()
	a := b.acc[accountID]
	if a == nil {
		return
	}
	if l, ok := v.Leases[b.cfg.Replica]; ok {
		b.applied(a, l.UsedMicros, l.UsedFree)
	}
	a.shortUntil, a.shortFreeUntil = time.Time{}, time.Time{}
}

// Available is what the account may still spend as this replica sees it:
// the ledger's balance less what this replica holds and has settled that
// the ledger has not yet applied, and its free requests likewise.
func (b *Book) Available(accountID string) (money.Micros, int64) {
	bal, _ := b.bal.Get(accountID)
	b.mu.Lock()
	defer b.mu.Unlock()
	a := b.acc[accountID]
	if a == nil {
		return bal.BalanceMicros, max(bal.FreeRequestsLeft, 0)
	}
	u := bal.Leases[b.cfg.Replica]
	m := bal.BalanceMicros - a.held - max(a.settled-max(a.used, u.UsedMicros), 0)
	free := bal.FreeRequestsLeft - a.heldFree - max(a.settledFree-max(a.usedFree, u.UsedFree), 0)
	return m, max(free, 0)
}
