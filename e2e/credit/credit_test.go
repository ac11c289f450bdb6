// Package credit_test runs several gateway replicas and the real ledger on
// one embedded bus and database: credit leases keep every account within
// its balance and its free requests, however the requests are spread.
package credit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/e2e/internal/accounts"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/bus/bustest"
	"github.com/onekey-oss/onekey/pkg/store"
	"github.com/onekey-oss/onekey/pkg/store/storetest"
	"github.com/onekey-oss/onekey/services/gateway/gateway"
	"github.com/onekey-oss/onekey/services/ledger/ledger"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// nickel is what every request of these tests costs, and its worst case:
// 1000 output tokens at $49.9999 per million plus a few input tokens at
// $0.000001 per million, rounded up to the micro-dollar.
const nickel = 50_000

const body = `{"model":"test-nickel","max_tokens":1000,"messages":[{"role":"user","content":"hi"}]}`

// stack is the ledger and n gateway replicas on one bus and database, with
// a fake OpenAI upstream that bills every request exactly a nickel.
type stack struct {
	t        *testing.T
	bus      *bus.Bus
	st       *store.Store
	log      *slog.Logger
	gws      []*gateway.Service
	ledger   *running
	ledgerCf ledger.Config
	// nats runs the bus with its users on: each service connects as its
	// own user; bus (the admin) only drives the test.
	nats *bustest.Server
	auth *bus.Bus // as the bus user auth: opens accounts
}

type running struct {
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("stopped with %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("did not stop within 30s")
		}
	})
}

func start(t *testing.T, name string, run func(context.Context) error) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func newStack(t *testing.T, replicas int) *stack {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	srv := bustest.Start(t)
	s := &stack{t: t, nats: srv, bus: srv.Connect(t, "e2e"), auth: srv.ConnectAs(t, bus.UserAuth), st: storetest.New(t), log: log}
	s.ledgerCf = ledger.DefaultConfig()
	s.ledgerCf.RetryBackoff = 100 * time.Millisecond
	s.startLedger()

	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"test-nickel-upstream","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"length"}],"usage":{"prompt_tokens":25,"completion_tokens":1000,"total_tokens":1025}}`)
	}))
	t.Cleanup(upstream.Close)
	cat := filepath.Join(t.TempDir(), "catalog.json")
	doc := `{"models":[{"id":"test-nickel","name":"Test Nickel","provider":"openai","upstream_id":"test-nickel-upstream",
	  "context_length":100000,"max_output_tokens":1000,"created":1,"source":"test","pricing":{"input":1,"output":49999900}}]}`
	if err := os.WriteFile(cat, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := range replicas {
		gw, err := gateway.New(gateway.Config{
			Addr: "127.0.0.1:0", OutboxDir: filepath.Join(t.TempDir(), fmt.Sprint("outbox", i)), CatalogFile: cat,
			ShutdownTimeout: 5 * time.Second, LeaseValidity: 5 * time.Second, LeaseTimeout: 2 * time.Second,
			Channels: []gateway.ChannelConfig{{Name: "openai", Provider: catalog.OpenAI, BaseURL: upstream.URL + "/v1", APIKey: "sk-test"}},
		}, gateway.Deps{Bus: srv.ConnectAs(t, bus.UserGateway), Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		start(t, fmt.Sprint("gateway ", i), gw.Run)
		s.gws = append(s.gws, gw)
	}
	return s
}

func (s *stack) startLedger() {
	s.t.Helper()
	led, err := ledger.New(s.ledgerCf, ledger.Deps{Bus: s.nats.ConnectAs(s.t, bus.UserLedger), Store: s.st, Logger: s.log})
	if err != nil {
		s.t.Fatal(err)
	}
	s.ledger = start(s.t, "ledger", led.Run)
}

// account opens an account as auth does (account.created, a key in KV
// apikeys) and credits it; it returns the key once every replica knows it.
func (s *stack) account(noFree bool, credit money.Micros) (acc, key string) {
	s.t.Helper()
	acc, key, err := accounts.Open(context.Background(), s.auth, s.bus, noFree, credit)
	if err != nil {
		s.t.Fatal(err)
	}
	want := int64(20)
	if noFree {
		want = 0
	}
	waitFor(s.t, "the account in KV balances", func() bool {
		b, ok := s.balance(acc)
		return ok && b.BalanceMicros == credit && b.FreeRequestsLeft == want
	})
	for _, gw := range s.gws {
		waitFor(s.t, "every replica knows the key", func() bool {
			if !gw.Ready() {
				return false
			}
			req, _ := http.NewRequest(http.MethodGet, "http://"+gw.Addr()+"/v1/credits", nil)
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return false
			}
			var c struct {
				BalanceMicros    int64 `json:"balance_micros"`
				FreeRequestsLeft int64 `json:"free_requests_left"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&c)
			resp.Body.Close()
			// A replica may see the credit before account.created's free
			// requests (two events, either order): wait for both.
			return resp.StatusCode == http.StatusOK && c.BalanceMicros == int64(credit) && c.FreeRequestsLeft == want
		})
	}
	return acc, key
}

func (s *stack) balance(acc string) (events.BalanceV1, bool) {
	kv, err := s.bus.KV(context.Background(), events.BucketBalances)
	if err != nil {
		s.t.Fatal(err)
	}
	e, err := kv.Get(context.Background(), acc)
	if err != nil {
		return events.BalanceV1{}, false
	}
	var v events.BalanceV1
	if err := json.Unmarshal(e.Value(), &v); err != nil {
		s.t.Fatal(err)
	}
	return v, true
}

// burst sends n requests at once, spread over the replicas in turn, and
// counts the answers by status.
func (s *stack) burst(key string, n int) map[int]int {
	s.t.Helper()
	var mu sync.Mutex
	got := map[int]int{}
	var wg sync.WaitGroup
	for i := range n {
		gw := s.gws[i%len(s.gws)]
		wg.Go(func() {
			st := post(s.t, gw, key)
			mu.Lock()
			got[st]++
			mu.Unlock()
		})
	}
	wg.Wait()
	return got
}

func post(t *testing.T, gw *gateway.Service, key string) int {
	req, _ := http.NewRequest(http.MethodPost, "http://"+gw.Addr()+"/v1/chat/completions", strings.NewReader(body))
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

func (s *stack) verify() {
	s.t.Helper()
	rep, err := ledger.Verify(context.Background(), s.st)
	if err != nil {
		s.t.Fatal(err)
	}
	if !rep.OK() {
		s.t.Fatalf("the accounts do not follow the journal: %v", rep.Problems)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 60s", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func TestCredit_ThreeReplicasNeverSpendMoreThanTheBalance(t *testing.T) {
	s := newStack(t, 3)
	acc, key := s.account(true, money.Dollar)
	got := s.burst(key, 300)
	admitted := got[http.StatusOK]
	t.Logf("answers by status: %v", got)
	if admitted < 18 || admitted > 20 {
		t.Fatalf("admitted %d nickel requests on a $1.00 balance over 3 replicas, want 18 to 20", admitted)
	}
	want := money.Dollar - money.Micros(admitted)*nickel
	b := func() events.BalanceV1 {
		var b events.BalanceV1
		waitFor(t, fmt.Sprintf("the ledger's balance at %s (now %s)", want, b.BalanceMicros), func() bool {
			b, _ = s.balance(acc)
			return b.BalanceMicros == want
		})
		return b
	}()
	if b.FreeRequestsLeft != 0 {
		t.Errorf("free requests left %d, want 0", b.FreeRequestsLeft)
	}
	s.verify()
}

func TestCredit_TwentyFreeRequestsStayTwentyOverThreeReplicas(t *testing.T) {
	s := newStack(t, 3)
	acc, key := s.account(false, 0)
	got := s.burst(key, 60)
	t.Logf("answers by status: %v", got)
	if got[http.StatusOK] != 20 || got[http.StatusPaymentRequired] != 40 {
		t.Fatalf("answers %v, want exactly 20 admitted (free) and 40 refused with 402", got)
	}
	waitFor(t, "the ledger applies the 20 free requests", func() bool {
		b, _ := s.balance(acc)
		return b.FreeRequestsLeft == 0 && b.BalanceMicros == 0 && b.LeasedFree == 0
	})
	s.verify()
}

func TestCredit_LedgerStoppedDuringLoadAdmitsNothingBeyondTheBalance(t *testing.T) {
	s := newStack(t, 3)
	acc, key := s.account(true, money.Dollar)
	var admitted, unavailable atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	for i := range 6 {
		gw := s.gws[i%len(s.gws)]
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
	waitFor(t, "a few requests admitted", func() bool { return admitted.Load() >= 3 })
	s.ledger.stop(t)
	waitFor(t, "requests refused with 503 while the ledger is down", func() bool { return unavailable.Load() > 0 })
	time.Sleep(6 * time.Second) // past the replicas' lease validity
	during := admitted.Load()
	s.startLedger()
	time.Sleep(3 * time.Second)
	stop.Store(true)
	wg.Wait()
	total := admitted.Load()
	t.Logf("admitted %d (%d before the ledger came back), %d answered 503", total, during, unavailable.Load())
	if total > 20 {
		t.Fatalf("admitted %d nickel requests on a $1.00 balance", total)
	}
	want := money.Dollar - money.Micros(total)*nickel
	waitFor(t, fmt.Sprintf("the ledger's balance at %s", want), func() bool {
		b, _ := s.balance(acc)
		return b.BalanceMicros == want
	})
	s.verify()
}

func TestCredit_FreeRequestsAreUsedBeforeTheBalanceOnEveryReplica(t *testing.T) {
	s := newStack(t, 3)
	acc, key := s.account(false, money.Dollar)
	for i := range 25 {
		if st := post(t, s.gws[i%3], key); st != http.StatusOK {
			t.Fatalf("request %d: status %d", i+1, st)
		}
	}
	// 20 free, then 5 paid: however the replicas' leases split them.
	waitFor(t, "the ledger applies 20 free and 5 paid requests", func() bool {
		b, _ := s.balance(acc)
		return b.FreeRequestsLeft == 0 && b.BalanceMicros == money.Dollar-5*nickel
	})
	s.verify()
}
