package cluster_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/api/readmodel"
)

// newAnswers is an empty record of the load's answers.
func newAnswers() *answers {
	return &answers{began: time.Now(), answered: map[string]int{}, status: map[int]int{}, bySecond: map[int]map[int]int{}}
}

// load calls do(i) for i = 0, 1, ... at rps calls per second, from up to
// 32 goroutines (a call is dropped while all are busy), until stop is
// called, which waits for the calls in flight.
func load(rps int, do func(i int)) (stop func()) { return loadFrom(32, rps, do) }

// loadFrom is load from up to workers goroutines.
func loadFrom(workers, rps int, do func(i int)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	tokens := make(chan int, rps)
	for range workers {
		wg.Go(func() {
			for i := range tokens {
				do(i)
			}
		})
	}
	wg.Go(func() {
		defer close(tokens)
		tick := time.NewTicker(time.Second / time.Duration(rps))
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				select {
				case tokens <- i:
				default: // the workers are behind
				}
			}
		}
	})
	var once sync.Once
	return func() { once.Do(func() { cancel(); wg.Wait() }) }
}

// ask sends one request for account acc (key) to gateway g and records
// the answer in ans; it returns the status, 0 after an error (reported,
// the first five, as a test error: an answer other than 200, 503
// billing_unavailable or, with spendable, 402 insufficient_credit).
func (s *stack) ask(g int, key string, acc int, spendable bool, ans *answers) int {
	code, id, err := s.chatMaySpend(s.gws[g], key, spendable)
	if err != nil {
		if s.askErrs.Add(1) <= 5 {
			s.t.Errorf("gateway %d, account %d: %v", g, acc, err)
		}
		return 0
	}
	ans.add(code, id, acc)
	return code
}

// checkBooks waits until the ledger has applied everything, then checks
// that every answered request is journaled exactly once, at its cost, on
// its account, and no other usage is; that each balance is want in KV;
// that the gateways' outboxes are empty and every service is ready; and,
// with the services stopped (each Run returning nil, none having returned
// before), that each account document's balance is want and reconcile
// (ledger.Verify: balance = journal) passes.
func (s *stack) checkBooks(accs []string, ans *answers, want map[string]money.Micros) {
	t := s.t
	t.Helper()
	if !eventually(2*time.Minute, func() bool {
		n, err := s.st.Collection(readmodel.CollJournal).CountDocuments(context.Background(),
			bson.D{{Key: "account_id", Value: bson.D{{Key: "$in", Value: accs}}}, {Key: "kind", Value: readmodel.JournalUsage}})
		return err == nil && n >= int64(len(ans.answered))
	}) {
		t.Errorf("the journal does not hold every answered request after 2 minutes")
	}
	for _, acc := range accs {
		if !eventually(time.Minute, func() bool {
			b, err := s.balanceKV(acc)
			return err == nil && b.BalanceMicros == want[acc]
		}) {
			b, err := s.balanceKV(acc)
			t.Errorf("account %s's balance in KV is %d (%v), want %d", acc, b.BalanceMicros, err, want[acc])
		}
	}
	usage := map[string]int{}
	for _, e := range s.journal(accs) {
		if e.Kind != readmodel.JournalUsage {
			continue
		}
		usage[e.ID]++
		if e.AmountMicros != -nickel {
			t.Errorf("usage %s journaled at %d, want %d", e.ID, e.AmountMicros, -nickel)
		}
		if a, ok := ans.answered[e.ID]; !ok {
			t.Errorf("usage %s is journaled but no request was answered with it", e.ID)
		} else if accs[a] != e.AccountID {
			t.Errorf("usage %s journaled on %s, its request was %s's", e.ID, e.AccountID, accs[a])
		}
	}
	bad := 0
	for id := range ans.answered {
		if usage[id] != 1 && bad < 10 {
			t.Errorf("answered request %s journaled %d times, want once", id, usage[id])
			bad++
		}
	}
	for i, gw := range s.gws {
		waitFor(t, fmt.Sprintf("gateway %d's outbox empty", i), time.Minute, func() bool { return gw.OutboxSpilled() == 0 })
	}
	waitFor(t, "every service ready at the end", time.Minute, func() bool { s.noneExited(); return s.allReady() })
	s.stopAll()
	for _, acc := range accs {
		if got := money.Micros(s.account(acc).BalanceMicros); got != want[acc] {
			t.Errorf("account %s: balance %d, want %d", acc, got, want[acc])
		}
	}
	s.reconcile()
}

// counts is how many answers of each status there were so far.
func (a *answers) counts() map[int]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return maps.Clone(a.status)
}

// spent is what the answered requests cost each account.
func (a *answers) spent(accs []string) map[string]money.Micros {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string]money.Micros{}
	for _, i := range a.answered {
		out[accs[i]] += nickel
	}
	return out
}

// untilOK sends requests for key to gateway g until one is answered 200
// (each answer recorded in ans), failing the test after give; it returns
// how long that took and how many were refused first.
func (s *stack) untilOK(g int, key string, acc int, ans *answers, give time.Duration) (took time.Duration, refused int) {
	t := s.t
	t.Helper()
	began := time.Now()
	waitFor(t, fmt.Sprintf("gateway %d answers account %d's request", g, acc), give, func() bool {
		code, id, err := s.chat(s.gws[g], key)
		if err != nil {
			t.Fatalf("gateway %d: %v", g, err)
		}
		ans.add(code, id, acc)
		if code != http.StatusOK {
			refused++
			time.Sleep(200 * time.Millisecond)
		}
		return code == http.StatusOK
	})
	return time.Since(began), refused
}
