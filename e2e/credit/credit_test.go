// Package credit_test runs several gateway replicas and the real ledger on
// one embedded bus and database: credit leases keep every account within
// its balance and its free requests, however the requests are spread.
package credit_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/e2e/internal/e2estack"
	"github.com/onekey-oss/onekey/pkg/store/storetest"
	"github.com/onekey-oss/onekey/services/gateway/gateway"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// nickel is what every request of these tests costs, and its worst case.
const nickel = e2estack.Nickel

// newStack is the ledger and n gateway replicas on one bus and database,
// with a fake OpenAI upstream that bills every request exactly a nickel.
func newStack(t *testing.T, replicas int) *e2estack.Stack {
	t.Helper()
	return e2estack.New(t, e2estack.Options{Replicas: replicas, Upstream: e2estack.NickelUpstream(), Catalog: e2estack.NickelCatalog})
}

// burst sends n requests at once, spread over the replicas in turn, and
// counts the answers by status.
func burst(t *testing.T, s *e2estack.Stack, key string, n int) map[int]int {
	t.Helper()
	var mu sync.Mutex
	got := map[int]int{}
	var wg sync.WaitGroup
	for i := range n {
		gw := s.Gateways[i%len(s.Gateways)]
		wg.Go(func() {
			st := post(t, gw, key)
			mu.Lock()
			got[st]++
			mu.Unlock()
		})
	}
	wg.Wait()
	return got
}

func post(t *testing.T, gw *gateway.Service, key string) int {
	req, _ := http.NewRequest(http.MethodPost, "http://"+gw.Addr()+"/v1/chat/completions", strings.NewReader(e2estack.NickelBody))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("request: %v", err)
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	switch resp.StatusCode {
	case http.StatusOK, http.StatusPaymentRequired:
	case http.StatusServiceUnavailable:
		if !strings.Contains(string(b), "billing_unavailable") {
			t.Errorf("503 without billing_unavailable: %s", b)
		}
	default:
		t.Errorf("status %d: %s", resp.StatusCode, b)
	}
	return resp.StatusCode
}

func TestCredit_ThreeReplicasNeverSpendMoreThanTheBalance(t *testing.T) {
	s := newStack(t, 3)
	acc, key := s.Account(t, true, money.Dollar)
	got := burst(t, s, key, 300)
	admitted := got[http.StatusOK]
	t.Logf("answers by status: %v", got)
	if admitted < 18 || admitted > 20 {
		t.Fatalf("admitted %d nickel requests on a $1.00 balance over 3 replicas, want 18 to 20", admitted)
	}
	want := money.Dollar - money.Micros(admitted)*nickel
	b := func() events.BalanceV1 {
		var b events.BalanceV1
		e2estack.WaitFor(t, fmt.Sprintf("the ledger's balance at %s (now %s)", want, b.BalanceMicros), func() bool {
			b, _ = s.Balance(t, acc)
			return b.BalanceMicros == want
		})
		return b
	}()
	if b.FreeRequestsLeft != 0 {
		t.Errorf("free requests left %d, want 0", b.FreeRequestsLeft)
	}
	s.Verify(t)
}

func TestCredit_TwentyFreeRequestsStayTwentyOverThreeReplicas(t *testing.T) {
	s := newStack(t, 3)
	acc, key := s.Account(t, false, 0)
	got := burst(t, s, key, 60)
	t.Logf("answers by status: %v", got)
	if got[http.StatusOK] != 20 || got[http.StatusPaymentRequired] != 40 {
		t.Fatalf("answers %v, want exactly 20 admitted (free) and 40 refused with 402", got)
	}
	e2estack.WaitFor(t, "the ledger applies the 20 free requests", func() bool {
		b, _ := s.Balance(t, acc)
		return b.FreeRequestsLeft == 0 && b.BalanceMicros == 0 && b.LeasedFree == 0
	})
	s.Verify(t)
}

func TestCredit_LedgerStoppedDuringLoadAdmitsNothingBeyondTheBalance(t *testing.T) {
	// Leases valid for 5 s, so that the replicas' leases lapse while the
	// ledger is down.
	s := e2estack.New(t, e2estack.Options{Replicas: 3, Upstream: e2estack.NickelUpstream(), Catalog: e2estack.NickelCatalog, LeaseValidity: 5 * time.Second})
	acc, key := s.Account(t, true, money.Dollar)
	var admitted, unavailable atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	for i := range 6 {
		gw := s.Gateways[i%len(s.Gateways)]
		wg.Go(func() {
			for !stop.Load() {
				switch post(t, gw, key) {
				case http.StatusOK:
					admitted.Add(1)
				case http.StatusServiceUnavailable:
					unavailable.Add(1)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	e2estack.WaitFor(t, "a few requests admitted", func() bool { return admitted.Load() >= 3 })
	s.Ledger.Stop(t)
	e2estack.WaitFor(t, "requests refused with 503 while the ledger is down", func() bool { return unavailable.Load() > 0 })
	time.Sleep(6 * time.Second) // past the replicas' lease validity
	during := admitted.Load()
	s.StartLedger()
	time.Sleep(3 * time.Second)
	stop.Store(true)
	wg.Wait()
	total := admitted.Load()
	t.Logf("admitted %d (%d before the ledger came back), %d answered 503", total, during, unavailable.Load())
	if total > 20 {
		t.Fatalf("admitted %d nickel requests on a $1.00 balance", total)
	}
	want := money.Dollar - money.Micros(total)*nickel
	e2estack.WaitFor(t, fmt.Sprintf("the ledger's balance at %s", want), func() bool {
		b, _ := s.Balance(t, acc)
		return b.BalanceMicros == want
	})
	s.Verify(t)
}

func TestCredit_FreeRequestsAreUsedBeforeTheBalanceOnEveryReplica(t *testing.T) {
	s := newStack(t, 3)
	acc, key := s.Account(t, false, money.Dollar)
	for i := range 25 {
		if st := post(t, s.Gateways[i%3], key); st != http.StatusOK {
			t.Fatalf("request %d: status %d", i+1, st)
		}
	}
	// 20 free, then 5 paid: however the replicas' leases split them.
	e2estack.WaitFor(t, "the ledger applies 20 free and 5 paid requests", func() bool {
		b, _ := s.Balance(t, acc)
		return b.FreeRequestsLeft == 0 && b.BalanceMicros == money.Dollar-5*nickel
	})
	s.Verify(t)
}
