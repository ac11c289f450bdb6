package e2estack

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
	"testing"
	"time"

	"github.com/nats-io/nats.go"

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

// Options says what New runs.
type Options struct {
	// Replicas is how many gateways run (at least one).
	Replicas int
	// Upstream is the fake provider: the gateways' OpenAI channel is its
	// /v1, their Anthropic channel (with Anthropic) its root.
	Upstream  http.Handler
	Anthropic bool
	// Catalog is the model catalog (JSON) the gateways price with.
	Catalog string
	// LeaseValidity is how long a gateway uses a credit lease after asking
	// for it (30 s when 0, the gateway's default). A lease request waits
	// two thirds of it for the ledger: a loaded machine keeps the ledger's
	// answer past the gateway's default 3 s (every request of a burst
	// answered 503 billing_unavailable, a chat refused after 2.01 s, when
	// it was 2 s), while a reply after the validity would be of no use.
	LeaseValidity time.Duration
}

// Stack is the real ledger and gateway replicas on one embedded bus and
// database, each connected as its own bus user, in front of a fake
// provider; Bus (the bus admin) only drives the test. Every usage.recorded
// event published is kept (Usage).
type Stack struct {
	NATS     *bustest.Server
	Bus      *bus.Bus // the admin: drives the test
	Auth     *bus.Bus // as the bus user auth: opens accounts
	Store    *store.Store
	Log      *slog.Logger
	Gateways []*gateway.Service
	Ledger   *Running

	t      *testing.T
	mu     sync.Mutex
	usages map[string]events.UsageRecordedV1 // by request id
}

// New starts the ledger, then the gateways; all stop when t ends.
func New(t *testing.T, o Options) *Stack {
	t.Helper()
	srv := bustest.Start(t)
	s := &Stack{t: t, NATS: srv, Bus: srv.Connect(t, "e2e"), Auth: srv.ConnectAs(t, bus.UserAuth), Store: storetest.New(t), Log: Logger(t),
		usages: map[string]events.UsageRecordedV1{}}
	sub, err := s.Bus.Conn().Subscribe(events.FamilyUsageRecorded+".>", func(m *nats.Msg) {
		var u events.UsageRecordedV1
		if err := json.Unmarshal(m.Data, &u); err != nil {
			t.Errorf("usage event: %v", err)
			return
		}
		s.mu.Lock()
		s.usages[u.ID] = u
		s.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	s.StartLedger()

	upstream := httptest.NewServer(o.Upstream)
	t.Cleanup(upstream.Close)
	channels := []gateway.ChannelConfig{{Name: "openai", Provider: catalog.OpenAI, BaseURL: upstream.URL + "/v1", APIKey: "sk-test"}}
	if o.Anthropic {
		channels = append(channels, gateway.ChannelConfig{Name: "anthropic", Provider: catalog.Anthropic, BaseURL: upstream.URL, APIKey: "sk-ant-test"})
	}
	cat := WriteCatalog(t, o.Catalog)
	validity := o.LeaseValidity
	if validity <= 0 {
		validity = 30 * time.Second
	}
	for i := range max(o.Replicas, 1) {
		gw, err := gateway.New(gateway.Config{
			Addr: "127.0.0.1:0", OutboxDir: filepath.Join(t.TempDir(), fmt.Sprint("outbox", i)), CatalogFile: cat,
			ShutdownTimeout: 5 * time.Second, LeaseValidity: validity, LeaseTimeout: validity * 2 / 3,
			Channels: channels,
		}, gateway.Deps{Bus: srv.ConnectAs(t, bus.UserGateway), Logger: s.Log})
		if err != nil {
			t.Fatal(err)
		}
		Run(t, fmt.Sprint("gateway ", i), gw.Run)
		s.Gateways = append(s.Gateways, gw)
	}
	return s
}

// StartLedger starts a ledger (again, after Ledger.Stop) on the stack's
// bus and database.
func (s *Stack) StartLedger() {
	s.t.Helper()
	cfg := ledger.DefaultConfig()
	cfg.RetryBackoff = 100 * time.Millisecond
	led, err := ledger.New(cfg, ledger.Deps{Bus: s.NATS.ConnectAs(s.t, bus.UserLedger), Store: s.Store, Logger: s.Log})
	if err != nil {
		s.t.Fatal(err)
	}
	s.Ledger = Run(s.t, "ledger", led.Run)
}

// WriteCatalog writes doc to a catalog file for the gateways and returns
// its path.
func WriteCatalog(t testing.TB, doc string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "catalog.json")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Account opens an account as auth does (account.created, a key in KV
// apikeys), without free requests when noFree, and credits it; it returns
// the key once KV balances and every gateway show both the credit and the
// free requests: account.created and the credit are two events, applied in
// either order, so a gateway can show the credit before the free requests
// (a "free" case then ran charged in a CI run).
func (s *Stack) Account(t testing.TB, noFree bool, credit money.Micros) (acc, key string) {
	t.Helper()
	acc, key, err := accounts.Open(context.Background(), s.Auth, s.Bus, noFree, credit)
	if err != nil {
		t.Fatal(err)
	}
	free := int64(20)
	if noFree {
		free = 0
	}
	WaitFor(t, "the account in KV balances", func() bool {
		b, ok := s.Balance(t, acc)
		return ok && b.BalanceMicros == credit && b.FreeRequestsLeft == free
	})
	for _, gw := range s.Gateways {
		WaitFor(t, "every replica knows the key, the balance and the free requests", func() bool {
			if !gw.Ready() {
				return false
			}
			resp, b := Do(t, gw, http.MethodGet, "/v1/credits", key, "")
			var c struct {
				BalanceMicros    int64 `json:"balance_micros"`
				FreeRequestsLeft int64 `json:"free_requests_left"`
			}
			_ = json.Unmarshal(b, &c)
			return resp.StatusCode == http.StatusOK && c.BalanceMicros == int64(credit) && c.FreeRequestsLeft == free
		})
	}
	return acc, key
}

// Balance is acc's value in KV balances (what the gateways admit against),
// or false when it has none yet.
func (s *Stack) Balance(t testing.TB, acc string) (events.BalanceV1, bool) {
	kv, err := s.Bus.KV(context.Background(), events.BucketBalances)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(context.Background(), acc)
	if err != nil {
		return events.BalanceV1{}, false
	}
	var v events.BalanceV1
	if err := json.Unmarshal(e.Value(), &v); err != nil {
		t.Fatal(err)
	}
	return v, true
}

// Usage waits for the usage.recorded event of request id.
func (s *Stack) Usage(t testing.TB, id string) events.UsageRecordedV1 {
	t.Helper()
	var u events.UsageRecordedV1
	WaitFor(t, "the usage event of "+id, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		var ok bool
		u, ok = s.usages[id]
		return ok
	})
	return u
}

// Verify fails the test unless every account's balance follows its
// journal (ledger.Verify, what reconcile checks).
func (s *Stack) Verify(t testing.TB) {
	t.Helper()
	rep, err := ledger.Verify(context.Background(), s.Store)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("the accounts do not follow the journal: %v", rep.Problems)
	}
}

// Do sends a request to gw with key as its bearer (and a JSON body when
// body is not empty) and returns the answer read to its end.
func Do(t testing.TB, gw *gateway.Service, method, path, key, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+gw.Addr()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read the answer: %v", method, path, err)
	}
	return resp, b
}
