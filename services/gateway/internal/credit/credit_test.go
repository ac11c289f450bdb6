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

// Without a Leaser (one replica, no ledger in these tests) the Book admits
// against the balances view; a settled cost stays counted until the
// ledger's balance says it applied it (its high-water mark of the
// replica's usage), however new the balance looks.
func TestBook_SettledCostStaysReservedUntilTheLedgerSaysItAppliedIt(t *testing.T) {
	t.Parallel()
	bal := &balances{m: map[string]events.BalanceV1{"a": {BalanceMicros: 100, Seq: 1, UpdatedAt: time.Now()}}}
	b := credit.NewBook(bal, credit.Config{Replica: "gw_1", FreeCap: money.Dollar})
	h, err := admit(b, 0, 60)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admit(b, 0, 60); !errors.Is(err, credit.ErrInsufficient) {
		t.Fatalf("second hold: %v", err)
	}
	b.Settle(h, 30, true)
	if m, _ := b.Available("a"); m != 70 {
		t.Errorf("available after settling 30 = %d", m)
	}
	// A balance written later (another machine's clock, a later sequence)
	// that has not applied the usage leaves it reserved.
	bal.m["a"] = events.BalanceV1{BalanceMicros: 100, Seq: 2, UpdatedAt: time.Now().Add(time.Hour)}
	b.BalanceChanged("a", bal.m["a"])
	if m, _ := b.Available("a"); m != 70 {
		t.Errorf("available after a balance that has not applied the usage = %d, want 70", m)
	}
	if _, err := admit(b, 0, 71); !errors.Is(err, credit.ErrInsufficient) {
		t.Errorf("a hold of 71 after the stale balance: %v, want refused", err)
	}
	// The ledger's balance that applied it: debited, and the mark moved.
	bal.m["a"] = events.BalanceV1{BalanceMicros: 70, Seq: 3, Leases: map[string]events.Lease{"gw_1": {UsedMicros: 30}}}
	b.BalanceChanged("a", bal.m["a"])
	if m, _ := b.Available("a"); m != 70 {
		t.Errorf("available after the ledger's balance = %d", m)
	}
}

func TestBook_FreeRequestsFirstThenSpendCap(t *testing.T) {
	t.Parallel()
	bal := &balances{m: map[string]events.BalanceV1{"a": {BalanceMicros: money.Dollar, FreeRequestsLeft: 1, KeySpendMicros: map[string]money.Micros{"k": 90}}}}
	b := credit.NewBook(bal, credit.Config{Replica: "gw_1", FreeCap: money.Dollar})
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
	b := credit.NewBook(bal, credit.Config{Replica: "gw_1", FreeCap: money.Dollar})
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
