package payments_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/bus/bustest"
	"github.com/onekey-oss/onekey/pkg/store"
	"github.com/onekey-oss/onekey/pkg/store/storetest"
	"github.com/onekey-oss/onekey/services/payments/payments"
)

func TestMain(m *testing.M) { storetest.Main(m) }

const whsec = "whsec_test_secret"

type harness struct {
	t   *testing.T
	srv *bustest.Server
	bus *bus.Bus
	st  *store.Store
	svc *payments.Service
	web *httptest.Server
}

// newHarness runs payments on a fresh embedded NATS and database, with its
// webhook on an httptest server.
func newHarness(t *testing.T, mutate func(*payments.Config)) *harness {
	t.Helper()
	return newHarnessWith(t, mutate, nil)
}

// newHarnessWith is newHarness with a hook to change the Deps.
func newHarnessWith(t *testing.T, mutate func(*payments.Config), mutateDeps func(*payments.Deps)) *harness {
	t.Helper()
	srv := bustest.Start(t)
	b := srv.Connect(t, "payments-test")
	st := storetest.New(t)
	cfg := payments.Config{StripeWebhookSecret: whsec, CheckoutMin: 5_000_000, CheckoutMax: 1_000_000_000, OutboxInterval: time.Hour}
	if mutate != nil {
		mutate(&cfg)
	}
	deps := payments.Deps{Bus: srv.ConnectAs(t, bus.UserPayments), Store: st, Logger: testLogger(t)}
	if mutateDeps != nil {
		mutateDeps(&deps)
	}
	svc, err := payments.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	web := httptest.NewServer(svc.Handler())
	t.Cleanup(func() {
		web.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-svc.Ready():
	case err := <-done:
		done <- err
		t.Fatalf("Run: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("payments not ready within 30s")
	}
	return &harness{t: t, srv: srv, bus: b, st: st, svc: svc, web: web}
}

// post sends a signed webhook and returns the status.
func (h *harness) post(body []byte, secret string, at time.Time) int {
	h.t.Helper()
	sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: at})
	return h.postRaw(body, sp.Header)
}

func (h *harness) postRaw(body []byte, sigHeader string) int {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.web.URL+"/webhooks/stripe", strings.NewReader(string(body)))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Stripe-Signature", sigHeader)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Errorf("post webhook: %v", err)
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func credits(t *testing.T, b *bus.Bus, account string) []events.CreditPurchasedV1 {
	return bustest.Messages[events.CreditPurchasedV1](t, b, events.StreamBilling, events.FamilyCreditPurchased+"."+account)
}

func sum(cs []events.CreditPurchasedV1) int64 {
	var n int64
	for _, c := range cs {
		n += int64(c.AmountMicros)
	}
	return n
}

// stripeEvent builds a Stripe event payload as Stripe sends it.
func stripeEvent(id string, typ stripe.EventType, object map[string]any) []byte {
	b, err := json.Marshal(map[string]any{
		"id": id, "object": "event", "api_version": stripe.APIVersion, "created": time.Now().Unix(),
		"type": typ, "livemode": false, "pending_webhooks": 1,
		"data": map[string]any{"object": object},
	})
	if err != nil {
		panic(err)
	}
	return b
}

func session(id, account string, cents int64, status stripe.CheckoutSessionPaymentStatus, pi string) map[string]any {
	return map[string]any{
		"id": id, "object": "checkout.session", "mode": "payment", "status": "complete",
		"client_reference_id": account, "metadata": map[string]string{"account_id": account},
		"currency": "usd", "amount_subtotal": cents, "amount_total": cents, "payment_status": status,
		"payment_intent": pi,
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func webhookHeader(body []byte, secret string, at time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: at}).Header
}
