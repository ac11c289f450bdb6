// Package credit decides, in memory, whether a request may start: the
// account must have a free request left or enough balance to hold the
// request's worst-case cost, and the key must be under its spend cap.
//
// The balances come from KV balances, written by the ledger after it has
// applied usage events. Between a request's end and the ledger's next
// balance for that account, the request's cost stays reserved here as a
// pending debit, so a burst of requests cannot spend the same dollar twice
// while the ledger catches up. A pending debit is dropped when a balance
// written after it was settled arrives, or after PendingTTL.
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
)

// Errors returned by Admit.
var (
	ErrInsufficient = errors.New("insufficient credit")
	ErrSpendCap     = errors.New("key spend cap reached")
)

// PendingTTL bounds how long a settled cost is held back from the balance
// when the ledger sends no newer balance.
const PendingTTL = 2 * time.Minute

// Balances gives the ledger's latest balance of an account.
type Balances interface {
	Get(accountID string) (events.BalanceV1, bool)
}

// Book keeps holds and pending debits per account.
type Book struct {
	bal     Balances
	freeCap money.Micros
	now     func() time.Time
	mu      sync.Mutex
	acc     map[string]*account
}

type account struct {
	heldMicros money.Micros
	heldFree   int64
	keyHeld    map[string]money.Micros
	// pending is a FIFO in settle order, with running sums, so that
	// admission costs O(1) however many requests await the ledger.
	pending    []pending
	head       int
	pendMicros money.Micros
	pendFree   int64
	pendKey    map[string]money.Micros
}

// dropWhile removes pending debits from the head while drop says so.
func (a *account) dropWhile(drop func(pending) bool) {
	for a.head < len(a.pending) && drop(a.pending[a.head]) {
		p := a.pending[a.head]
		a.pending[a.head] = pending{}
		a.head++
		if p.free {
			a.pendFree--
		} else {
			a.pendMicros -= p.micros
		}
		if p.micros != 0 {
			if a.pendKey[p.keyID] -= p.micros; a.pendKey[p.keyID] <= 0 {
				delete(a.pendKey, p.keyID)
			}
		}
	}
	if a.head == len(a.pending) {
		a.pending, a.head = a.pending[:0], 0
	} else if a.head > 1024 && a.head > len(a.pending)/2 {
		a.pending = append(a.pending[:0], a.pending[a.head:]...)
		a.head = 0
	}
}

func (a *account) expire(now time.Time) {
	a.dropWhile(func(p pending) bool { return now.Sub(p.at) > PendingTTL })
}

type pending struct {
	at     time.Time
	micros money.Micros
	free   bool
	keyID  string
}

// NewBook returns a Book reading balances from bal. freeCap is the most a
// free request may cost.
func NewBook(bal Balances, freeCap money.Micros, now func() time.Time) *Book {
	if now == nil {
		now = time.Now
	}
	return &Book{bal: bal, freeCap: freeCap, now: now, acc: map[string]*account{}}
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

// Admit reserves up to r.Want (at least r.Least) for a request, or says
// why not. A free request is used only when r.Least is within the free
// cap; the hold then covers at most the free cap.
func (b *Book) Admit(ctx context.Context, r Request) (Hold, error) {
	_ = ctx
	least := min(r.Least, r.Want)
	bal, _ := b.bal.Get(r.AccountID)
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	a := b.acc[r.AccountID]
	if a == nil {
		a = &account{keyHeld: map[string]money.Micros{}, pendKey: map[string]money.Micros{}}
		b.acc[r.AccountID] = a
	}
	a.expire(now)
	pendMicros, pendFree := a.pendMicros, a.pendFree
	keyRoom := money.Micros(-1) // no cap
	if r.CapMicros > 0 {
		keyRoom = r.CapMicros - (bal.KeySpendMicros[r.KeyID] + a.keyHeld[r.KeyID] + a.pendKey[r.KeyID])
		if keyRoom < least {
			b.gc(r.AccountID, a)
			return Hold{}, ErrSpendCap
		}
	}
	h := Hold{AccountID: r.AccountID, KeyID: r.KeyID}
	if bal.FreeRequestsLeft-a.heldFree-pendFree > 0 && least <= b.freeCap {
		h.Free = true
		h.Micros = min(r.Want, b.freeCap)
		a.heldFree++
		return h, nil
	}
	avail := bal.BalanceMicros - a.heldMicros - pendMicros
	if keyRoom >= 0 {
		avail = min(avail, keyRoom)
	}
	if avail <= 0 || avail < least {
		b.gc(r.AccountID, a)
		return Hold{}, ErrInsufficient
	}
	h.Micros = min(r.Want, avail)
	a.heldMicros += h.Micros
	a.keyHeld[r.KeyID] += h.Micros
	return h, nil
}

// Settle releases h and keeps cost reserved as a pending debit until the
// ledger's balance reflects it.
func (b *Book) Settle(h Hold, cost money.Micros, used bool) {
	if h.AccountID == "" {
		return // no hold was taken
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	a := b.acc[h.AccountID]
	if a == nil {
		return
	}
	if h.Free {
		a.heldFree--
	} else {
		a.heldMicros -= h.Micros
		if a.keyHeld[h.KeyID] -= h.Micros; a.keyHeld[h.KeyID] <= 0 {
			delete(a.keyHeld, h.KeyID)
		}
	}
	// The ledger uses a free request only for a request that costs
	// something; a free one costs nothing either way.
	if used && (cost > 0 || !h.Free) {
		p := pending{at: now, keyID: h.KeyID, micros: cost, free: h.Free}
		if h.Free {
			p.micros = 0 // the ledger uses a free request instead of debiting
		}
		a.pending = append(a.pending, p)
		if p.free {
			a.pendFree++
		} else {
			a.pendMicros += p.micros
		}
		if p.micros != 0 {
			a.pendKey[p.keyID] += p.micros
		}
	}
	b.gc(h.AccountID, a)
}

// BalanceChanged is called when the ledger wrote a new balance: pending
// debits settled before it was written are now part of it.
func (b *Book) BalanceChanged(accountID string, v events.BalanceV1) {
	b.mu.Lock()
	defer b.mu.Unlock()
	a := b.acc[accountID]
	if a == nil {
		return
	}
	a.dropWhile(func(p pending) bool { return !p.at.After(v.UpdatedAt) })
	b.gc(accountID, a)
}

func (b *Book) gc(id string, a *account) {
	if a.heldFree == 0 && a.heldMicros == 0 && a.head == len(a.pending) {
		delete(b.acc, id)
	}
}

// Available is what the account may still spend: the ledger's balance less
// holds and pending debits, and its free requests less those in use.
func (b *Book) Available(accountID string) (money.Micros, int64) {
	bal, _ := b.bal.Get(accountID)
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	a := b.acc[accountID]
	if a == nil {
		return bal.BalanceMicros, max(bal.FreeRequestsLeft, 0)
	}
	a.expire(now)
	m := bal.BalanceMicros - a.heldMicros - a.pendMicros
	free := bal.FreeRequestsLeft - a.heldFree - a.pendFree
	return m, max(free, 0)
}
