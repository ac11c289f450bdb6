package credit_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/services/gateway/internal/credit"
)

type balances struct {
	mu sync.Mutex
	m  map[string]events.BalanceV1
}

func (b *balances) Get(id string) (events.BalanceV1, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	v, ok := b.m[id]
	return v, ok
}

func admit(b *credit.Book, capMicros, worst money.Micros) (credit.Hold, error) {
	return b.Admit(context.Background(), credit.Request{AccountID: "a", KeyID: "k", CapMicros: capMicros, Want: worst, Least: worst})
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestBook_SettledCostStaysReservedUntilTheLedgersNextBalance(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Unix(1_000_000, 0)}
	bal := &balances{m: map[string]events.BalanceV1{"a": {BalanceMicros: 100, UpdatedAt: c.t}}}
	b := credit.NewBook(bal, money.Dollar, c.now)
	h, err := admit(b, 0, 60)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admit(b, 0, 60); !errors.Is(err, credit.ErrInsufficient) {
		t.Fatalf("second hold: %v", err)
	}
	c.t = c.t.Add(time.Second)
	b.Settle(h, 30, true)
	if m, _ := b.Available("a"); m != 70 {
		t.Errorf("available after settling 30 = %d", m)
	}
	// A balance written before the settle does not include it.
	b.BalanceChanged("a", events.BalanceV1{BalanceMicros: 100, UpdatedAt: c.t.Add(-time.Millisecond)})
	if m, _ := b.Available("a"); m != 70 {
		t.Errorf("available after a stale balance = %d", m)
	}
	// The ledger's balance after the settle includes the debit.
	bal.m["a"] = events.BalanceV1{BalanceMicros: 70, UpdatedAt: c.t.Add(time.Millisecond)}
	b.BalanceChanged("a", bal.m["a"])
	if m, _ := b.Available("a"); m != 70 {
		t.Errorf("available after the ledger's balance = %d", m)
	}
}

func TestBook_PendingDebitsExpireAfterTTL(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Unix(1_000_000, 0)}
	bal := &balances{m: map[string]events.BalanceV1{"a": {BalanceMicros: 1000}}}
	b := credit.NewBook(bal, money.Dollar, c.now)
	for range 10 {
		h, err := admit(b, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		b.Settle(h, 10, true)
	}
	if m, _ := b.Available("a"); m != 900 {
		t.Errorf("available = %d", m)
	}
	c.t = c.t.Add(credit.PendingTTL + time.Second)
	if m, _ := b.Available("a"); m != 1000 {
		t.Errorf("available after the TTL = %d", m)
	}
}

func TestBook_FreeRequestsFirstThenSpendCap(t *testing.T) {
	t.Parallel()
	bal := &balances{m: map[string]events.BalanceV1{"a": {BalanceMicros: money.Dollar, FreeRequestsLeft: 1, KeySpendMicros: map[string]money.Micros{"k": 90}}}}
	b := credit.NewBook(bal, money.Dollar, nil)
	h, err := admit(b, 100, 5)
	if err != nil || !h.Free {
		t.Fatalf("first request: %+v %v, want a free one", h, err)
	}
	if _, err := admit(b, 100, 20); !errors.Is(err, credit.ErrSpendCap) {
		t.Errorf("over the cap: %v", err)
	}
	if h2, err := admit(b, 100, 5); err != nil || h2.Free {
		t.Errorf("under the cap: %+v %v", h2, err)
	}
}

func TestBook_ConcurrentAdmitsNeverHoldMoreThanTheBalance(t *testing.T) {
	t.Parallel()
	bal := &balances{m: map[string]events.BalanceV1{"a": {BalanceMicros: 1000}}}
	b := credit.NewBook(bal, money.Dollar, nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var held money.Micros
	for range 200 {
		wg.Go(func() {
			if h, err := admit(b, 0, 50); err == nil {
				mu.Lock()
				held += h.Micros
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if held != 1000 {
		t.Errorf("held %d of a 1000 balance", held)
	}
}

func TestLimiter_AllowsRPMThenRetryAfter(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Unix(1_000_000, 0)}
	l := credit.NewLimiter(c.now)
	for i := range 3 {
		if ok, _ := l.Allow("k", 3); !ok {
			t.Fatalf("request %d refused", i)
		}
	}
	ok, wait := l.Allow("k", 3)
	if ok || wait <= 0 || wait > 20*time.Second {
		t.Fatalf("4th: ok=%v wait=%v", ok, wait)
	}
	c.t = c.t.Add(wait)
	if ok, _ := l.Allow("k", 3); !ok {
		t.Errorf("refused after waiting Retry-After")
	}
	if ok, _ := l.Allow("other", 0); !ok {
		t.Errorf("unlimited key refused")
	}
}
