package web

import (
	"container/list"
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/onekey-oss/onekey/api/readmodel"
	"github.com/onekey-oss/onekey/services/auth/internal/accounts"
)

// ledgerView is what the pages show of an account's ledger state: its
// document, its rollups of the last MaxUsageDays days and its payments.
type ledgerView struct {
	Account  readmodel.Account
	Rollups  []readmodel.Rollup // days ≥ From, sorted by day
	From     time.Time
	payments []accounts.Payment
	rolled   bool // Rollups loaded
	paid     bool // payments loaded
}

// viewCache keeps the rollups and payments of the accounts viewed last,
// keyed by the ledger's sequence number of the account: an unchanged seq
// means unchanged rollups and payments (the ledger writes them before the
// account document), so a repeat view reads only the account document.
// When the seq changed, accounts.RollupsOf reads only the days the ledger
// changed (by _id, usually today's) and takes the others from its own
// cache; see api/readmodel/views.go for why reads are by _id only.
//
// Safe for concurrent use; at most maxAccounts are kept (least recently
// used dropped).
type viewCache struct {
	mu          sync.Mutex
	maxAccounts int
	order       *list.List // of string (account id), front = most recent
	entries     map[string]*cacheEntry
}

type cacheEntry struct {
	seq  int64
	day  string // the UTC day From was computed on
	view *ledgerView
	elem *list.Element
}

func newViewCache(max int) *viewCache {
	return &viewCache{maxAccounts: max, order: list.New(), entries: map[string]*cacheEntry{}}
}

func (c *viewCache) get(account string, seq int64, day string) *ledgerView {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[account]
	if !ok || e.seq != seq || e.day != day {
		return nil
	}
	c.order.MoveToFront(e.elem)
	return e.view
}

func (c *viewCache) put(account string, seq int64, day string, v *ledgerView) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[account]; ok {
		e.seq, e.day, e.view = seq, day, v
		c.order.MoveToFront(e.elem)
		return
	}
	c.entries[account] = &cacheEntry{seq: seq, day: day, view: v, elem: c.order.PushFront(account)}
	for c.order.Len() > c.maxAccounts {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.entries, last.Value.(string))
	}
}

// What a page needs of the ledger view besides the account document.
const (
	needRollups  = 1 << iota // the rollups of the last MaxUsageDays days
	needPayments             // the payment history
)

// ledger returns the account's ledger view with what need asks for, from
// the cache when the account has not changed since it was read.
func (p *Pages) ledger(ctx context.Context, accountID string, need int) (*ledgerView, error) {
	la, err := p.acc.LedgerAccount(ctx, accountID)
	if err != nil {
		return nil, err
	}
	seq := la.Seq
	today := day(p.acc.Now())
	key := readmodel.Day(today)
	out := ledgerView{}
	if v := p.cache.get(accountID, seq, key); v != nil {
		out = *v
	}
	out.Account = la
	if need&needRollups != 0 && !out.rolled {
		from := today.AddDate(0, 0, -(MaxUsageDays - 1))
		rs, err := p.acc.RollupsOf(ctx, la, from, today)
		if err != nil {
			return nil, err
		}
		out.Rollups, out.From, out.rolled = rs, from, true
	}
	if need&needPayments != 0 && !out.paid {
		pays, err := p.acc.PaymentsOf(ctx, la)
		if err != nil {
			return nil, err
		}
		out.payments, out.paid = pays, true
	}
	p.cache.put(accountID, seq, key, &out)
	return &out, nil
}

// since returns the rollups of days ≥ from (shared: not to be changed).
func (v *ledgerView) since(from time.Time) []readmodel.Rollup {
	return v.Rollups[v.first(readmodel.Day(from)):]
}

// between returns the rollups of days from..to (shared: not to be
// changed).
func (v *ledgerView) between(from, to time.Time) []readmodel.Rollup {
	i, j := v.first(readmodel.Day(from)), v.first(readmodel.Day(to.AddDate(0, 0, 1)))
	return v.Rollups[i:max(i, j)]
}

// first is the index of the first rollup of a day ≥ day (Rollups are
// sorted by day).
func (v *ledgerView) first(day string) int {
	i, _ := slices.BinarySearchFunc(v.Rollups, day, func(r readmodel.Rollup, d string) int { return strings.Compare(r.Day, d) })
	return i
}
