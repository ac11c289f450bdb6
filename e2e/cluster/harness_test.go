// Package cluster_test runs onekey on a 3-node NATS cluster: two gateways,
// the ledger, payments and the notifier, each connected as its own bus user
// to every node's URL, with the topology declared by the admin with
// Replicas 3 (as NATS_STREAM_REPLICAS=3 declares it). Only the third parties
// are stand-ins: a provider that bills every request a nickel, Stripe's
// signed webhooks, a local Resend.
package cluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/api/readmodel"
	"github.com/onekey-oss/onekey/e2e/internal/accounts"
	"github.com/onekey-oss/onekey/e2e/internal/e2estack"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/bus/bustest"
	"github.com/onekey-oss/onekey/pkg/store"
	"github.com/onekey-oss/onekey/pkg/store/storetest"
	"github.com/onekey-oss/onekey/services/gateway/gateway"
	"github.com/onekey-oss/onekey/services/ledger/ledger"
	"github.com/onekey-oss/onekey/services/notifier/notifier"
	"github.com/onekey-oss/onekey/services/notifier/resendtest"
	"github.com/onekey-oss/onekey/services/payments/payments"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// nickel is what every request costs (e2estack.NickelUpstream's answer
// priced by e2estack.NickelCatalog).
const nickel = e2estack.Nickel

const chatBody = e2estack.NickelBody

const whsec = "whsec_cluster"

// stack is the services on one cluster and one database.
type stack struct {
	t     *testing.T
	c     *bustest.Cluster
	admin *bus.Bus // the test's own driver
	auth  *bus.Bus // as the bus user auth: opens accounts (e2e/internal/accounts)
	st    *store.Store
	log   *slog.Logger
	rs    *resendtest.Server

	gws      []*gateway.Service
	led      *ledger.Service
	pay      *payments.Service
	notifier *notifier.Service
	runs     []*running
	client   *http.Client
	// buses is each service's bus connection, by its name in runs.
	buses map[string]*bus.Bus
	// askErrs counts the unexpected answers to ask.
	askErrs atomic.Int64
	// leaseTimeout, set before startServices, is the gateways'
	// LeaseTimeout (0: the default).
	leaseTimeout time.Duration
	// ledgerAt, when set, is called by the ledger at each step of a
	// batch (ledger.Deps.FailPoint): a test may hold a batch there.
	ledgerAt atomic.Pointer[func(point string)]
}

// running is one service's Run in the background.
type running struct {
	name   string
	cancel context.CancelFunc
	done   chan struct{}
	err    error
	// stopped: the test stopped it (only the test's goroutine touches it).
	stopped bool
}

// exited reports whether Run returned (before the test stopped it).
func (r *running) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// newStack starts a 3-node cluster (not declared yet) and the database.
func newStack(t *testing.T) *stack {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	s := &stack{t: t, c: bustest.StartCluster(t, 3), st: storetest.New(t), log: log, rs: resendtest.Start(t)}
	s.admin = s.c.Connect(t, "e2e")
	s.auth = s.c.ConnectAs(t, bus.UserAuth)
	s.client = &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	t.Cleanup(s.client.CloseIdleConnections)
	return s
}

// declare declares the topology as the admin, as `NATS_STREAM_REPLICAS=3
// go run ./tools/busadmin declare` does.
func (s *stack) declare() {
	s.t.Helper()
	top := bus.DefaultTopology()
	top.Replicas = 3
	s.c.Declare(s.t, top)
}

// start runs name's Run until the test ends (or stopAll); Run returning
// earlier is a failure the test reports (a service must never need a
// restart).
func (s *stack) start(name string, run func(context.Context) error) *running {
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{name: name, cancel: cancel, done: make(chan struct{})}
	go func() {
		r.err = run(ctx)
		close(r.done)
	}()
	s.runs = append(s.runs, r)
	s.t.Cleanup(func() { s.stop(r) })
	return r
}

// stop cancels r's Run and waits for it; it reports a Run that returned
// before it was stopped, or with an error.
func (s *stack) stop(r *running) {
	s.t.Helper()
	if r.stopped {
		return
	}
	r.stopped = true
	early := r.exited()
	r.cancel()
	select {
	case <-r.done:
		if early {
			s.t.Errorf("%s: Run returned before the test stopped it: %v", r.name, r.err)
		} else if r.err != nil {
			s.t.Errorf("%s: Run: %v", r.name, r.err)
		}
	case <-time.After(30 * time.Second):
		s.t.Errorf("%s did not stop within 30s", r.name)
	}
}

// stopAll stops the services, the last started first (the gateways return
// their credit leases to the ledger still running), so the ledger is idle
// for the reconcile check.
func (s *stack) stopAll() {
	s.t.Helper()
	for i := len(s.runs) - 1; i >= 0; i-- {
		s.stop(s.runs[i])
	}
}

// noneExited fails the test if a service's Run has returned.
func (s *stack) noneExited() {
	s.t.Helper()
	for _, r := range s.runs {
		if r.exited() {
			s.t.Fatalf("%s: Run returned while the test ran: %v", r.name, r.err)
		}
	}
}

// startServices builds and runs two gateways, the ledger, payments and the
// notifier, all at once, each connected as its own bus user.
func (s *stack) startServices() {
	s.t.Helper()
	upstream := httptest.NewServer(e2estack.NickelUpstream())
	s.t.Cleanup(upstream.Close)
	cat := e2estack.WriteCatalog(s.t, e2estack.NickelCatalog)

	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	s.gws = make([]*gateway.Service, 2)
	s.buses = map[string]*bus.Bus{}
	for i := range s.gws {
		b := s.c.ConnectAs(s.t, bus.UserGateway)
		s.buses[fmt.Sprint("gateway ", i)] = b
		wg.Go(func() {
			gw, err := gateway.New(gateway.Config{
				Addr: "127.0.0.1:0", OutboxDir: filepath.Join(s.t.TempDir(), "outbox"), CatalogFile: cat,
				ShutdownTimeout: 5 * time.Second, LeaseTimeout: s.leaseTimeout,
				Channels: []gateway.ChannelConfig{{Name: "openai", Provider: catalog.OpenAI, BaseURL: upstream.URL + "/v1", APIKey: "sk-test"}},
			}, gateway.Deps{Bus: b, Logger: s.log.With("service", fmt.Sprint("gateway", i))})
			if err != nil {
				fail(err)
				return
			}
			s.gws[i] = gw
		})
	}
	lb := s.c.ConnectAs(s.t, bus.UserLedger)
	s.buses["ledger"] = lb
	wg.Go(func() {
		cfg := ledger.DefaultConfig()
		cfg.RetryBackoff = 100 * time.Millisecond
		at := func(point string) error {
			if f := s.ledgerAt.Load(); f != nil {
				(*f)(point)
			}
			return nil
		}
		led, err := ledger.New(cfg, ledger.Deps{Bus: lb, Store: s.st, Logger: s.log.With("service", "ledger"), FailPoint: at})
		if err != nil {
			fail(err)
			return
		}
		s.led = led
	})
	pb := s.c.ConnectAs(s.t, bus.UserPayments)
	s.buses["payments"] = pb
	wg.Go(func() {
		pay, err := payments.New(payments.Config{
			Addr: "127.0.0.1:0", StripeWebhookSecret: whsec, CheckoutMin: 5 * money.Dollar, CheckoutMax: 1000 * money.Dollar,
			OutboxInterval: 2 * time.Second,
		}, payments.Deps{Bus: pb, Store: s.st, Logger: s.log.With("service", "payments")})
		if err != nil {
			fail(err)
			return
		}
		s.pay = pay
	})
	nb := s.c.ConnectAs(s.t, bus.UserNotifier)
	s.buses["notifier"] = nb
	wg.Go(func() {
		n, err := notifier.New(notifier.Config{
			ResendAPIKey: resendtest.APIKey, ResendBaseURL: s.rs.URL(), From: "onekey <noreply@onekey.example>",
			SiteURL: "https://onekey.example", SendAttempts: 2, SendBackoff: 10 * time.Millisecond,
			MaxDeliveries: 1000, RetryBackoff: 100 * time.Millisecond, MailSealKey: events.NewMailSealKey(),
		}, notifier.Deps{Bus: nb, Store: s.st, Logger: s.log.With("service", "notifier")})
		if err != nil {
			fail(err)
			return
		}
		s.notifier = n
	})
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		s.t.Fatal(err)
	}
	// Stopped in the reverse order: the gateways return their credit
	// leases to a ledger still running.
	s.start("ledger", s.led.Run)
	s.start("payments", s.pay.Run)
	s.start("notifier", s.notifier.Run)
	for i, gw := range s.gws {
		s.start(fmt.Sprint("gateway ", i), gw.Run)
	}
}

// nodeOf is the node the service name's bus connection is connected to
// now, -1 while it is connected to none.
func (s *stack) nodeOf(name string) int {
	nc := s.buses[name].Conn()
	if !nc.IsConnected() {
		return -1
	}
	for i := range s.c.Size() {
		if s.c.NodeName(i) == nc.ConnectedServerName() {
			return i
		}
	}
	return -1
}

// ready reports each service's readiness: what its /readyz answers.
func (s *stack) ready() map[string]bool {
	out := map[string]bool{}
	for i, gw := range s.gws {
		out[fmt.Sprint("gateway ", i)] = gw.Ready()
	}
	out["ledger"] = s.led.Ready()
	out["payments"] = s.pay.Bound()
	rec := httptest.NewRecorder()
	s.notifier.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	out["notifier"] = rec.Code == http.StatusOK
	return out
}

func (s *stack) allReady() bool {
	for _, ok := range s.ready() {
		if !ok {
			return false
		}
	}
	return true
}

// openAccounts opens n accounts as auth does (without free requests),
// each with credit, records their addresses for the notifier's mails, and
// returns once every gateway admits every key.
func (s *stack) openAccounts(n int, credit money.Micros) (accs, keys []string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for range n {
		acc, key, err := accounts.Open(ctx, s.auth, s.admin, true, credit)
		if err != nil {
			s.t.Fatal(err)
		}
		if _, err := s.st.Collection(notifier.CollUsers).InsertOne(ctx, bson.D{{Key: "_id", Value: acc}, {Key: "email", Value: acc + "@example.com"}}); err != nil {
			s.t.Fatal(err)
		}
		accs, keys = append(accs, acc), append(keys, key)
	}
	for _, gw := range s.gws {
		for _, key := range keys {
			waitFor(s.t, "every gateway admits the new keys", time.Minute, func() bool {
				req, _ := http.NewRequest(http.MethodGet, "http://"+gw.Addr()+"/v1/credits", nil)
				req.Header.Set("Authorization", "Bearer "+key)
				resp, err := s.client.Do(req)
				if err != nil {
					return false
				}
				var c struct {
					BalanceMicros int64 `json:"balance_micros"`
				}
				_ = json.NewDecoder(resp.Body).Decode(&c)
				resp.Body.Close()
				return resp.StatusCode == http.StatusOK && c.BalanceMicros == int64(credit)
			})
		}
	}
	return accs, keys
}

// chat sends one request to gw and returns its status and request id:
// 200, or 503 billing_unavailable (anything else is an error).
func (s *stack) chat(gw *gateway.Service, key string) (int, string, error) {
	return s.chatMaySpend(gw, key, false)
}

// chatMaySpend is chat, for an account that may spend all its credit:
// with spendable, 402 insufficient_credit is an answer too.
func (s *stack) chatMaySpend(gw *gateway.Service, key string, spendable bool) (int, string, error) {
	req, _ := http.NewRequest(http.MethodPost, "http://"+gw.Addr()+"/v1/chat/completions", strings.NewReader(chatBody))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusPaymentRequired:
		if !spendable || !strings.Contains(string(b), "insufficient_credit") {
			return resp.StatusCode, "", fmt.Errorf("status %d: %s", resp.StatusCode, b)
		}
	case http.StatusServiceUnavailable:
		if !strings.Contains(string(b), "billing_unavailable") {
			return resp.StatusCode, "", fmt.Errorf("503 without billing_unavailable: %s", b)
		}
	default:
		return resp.StatusCode, "", fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	return resp.StatusCode, resp.Header.Get("X-Request-Id"), nil
}

// checkout is one paid Stripe Checkout Session, as Stripe's webhook
// announces it.
type checkout struct {
	eventID, sessionID, account string
	cents                       int64
}

// postCheckout delivers the session's checkout.session.completed event to
// payments' webhook, signed as Stripe signs it, and returns the status.
func (s *stack) postCheckout(c checkout) (int, error) {
	body, err := json.Marshal(map[string]any{
		"id": c.eventID, "object": "event", "api_version": stripe.APIVersion, "created": time.Now().Unix(),
		"type": stripe.EventTypeCheckoutSessionCompleted, "livemode": false, "pending_webhooks": 1,
		"data": map[string]any{"object": map[string]any{
			"id": c.sessionID, "object": "checkout.session", "mode": "payment", "status": "complete",
			"client_reference_id": c.account, "metadata": map[string]string{"account_id": c.account},
			"currency": "usd", "amount_subtotal": c.cents, "amount_total": c.cents, "payment_status": "paid",
			"payment_intent": "pi_" + c.sessionID,
		}},
	})
	if err != nil {
		return 0, err
	}
	sig := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: whsec, Timestamp: time.Now()})
	req, _ := http.NewRequest(http.MethodPost, "http://"+s.pay.Addr()+"/webhooks/stripe", strings.NewReader(string(body)))
	req.Header.Set("Stripe-Signature", sig.Header)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// deliverCheckout delivers c as Stripe does: again until it is answered
// 2xx (payments answers 5xx while the bus cannot take the credit).
func (s *stack) deliverCheckout(c checkout, give time.Duration) error {
	deadline := time.Now().Add(give)
	for {
		code, err := s.postCheckout(c)
		if err == nil && code == http.StatusOK {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("webhook %s: not applied within %s (last: %d %v)", c.eventID, give, code, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// journal reads the journal entries of the given accounts.
func (s *stack) journal(accs []string) []readmodel.JournalEntry {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cur, err := s.st.Collection(readmodel.CollJournal).Find(ctx, bson.D{{Key: "account_id", Value: bson.D{{Key: "$in", Value: accs}}}})
	if err != nil {
		s.t.Fatal(err)
	}
	var out []readmodel.JournalEntry
	if err := cur.All(ctx, &out); err != nil {
		s.t.Fatal(err)
	}
	return out
}

// account reads the ledger's account document.
func (s *stack) account(acc string) readmodel.Account {
	s.t.Helper()
	var a readmodel.Account
	if err := s.st.Collection(readmodel.CollAccounts).FindOne(context.Background(), bson.D{{Key: "_id", Value: acc}}).Decode(&a); err != nil {
		s.t.Fatalf("account %s: %v", acc, err)
	}
	return a
}

// balanceKV is the balance the ledger published to KV balances (what the
// gateways admit against).
func (s *stack) balanceKV(acc string) (events.BalanceV1, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	kv, err := s.admin.KV(ctx, events.BucketBalances)
	if err != nil {
		return events.BalanceV1{}, err
	}
	e, err := kv.Get(ctx, acc)
	if err != nil {
		return events.BalanceV1{}, err
	}
	var v events.BalanceV1
	err = json.Unmarshal(e.Value(), &v)
	return v, err
}

// reconcile runs the reconcile check (tools/reconcile, onekeyctl
// reconcile: ledger.Verify over every account) and fails on a difference.
// Run it with the ledger idle or stopped (stopAll), as an operator does: a
// batch being written reads as a difference.
func (s *stack) reconcile() {
	s.t.Helper()
	rep, err := ledger.Verify(context.Background(), s.st)
	if err != nil {
		s.t.Fatal(err)
	}
	if !rep.OK() {
		s.t.Fatalf("reconcile: the accounts do not follow the journal: %v", rep.Problems)
	}
	s.t.Logf("reconcile: %d accounts, %d journal entries, no difference", rep.Accounts, rep.Entries)
}

// waitFor polls cond until it holds, failing the test after give.
func waitFor(t *testing.T, what string, give time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(give)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, give)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// eventually polls cond until it holds (true) or give has passed (false).
func eventually(give time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(give)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}
