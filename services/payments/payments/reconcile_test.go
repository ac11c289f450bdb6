package payments_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"

	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/services/payments/payments"
)

// fakeStripeEvents serves GET /v1/events as Stripe's events API documents
// it (a list object), with the given events.
func fakeStripeEvents(t *testing.T, evs ...[]byte) (*httptest.Server, *atomic.Value) {
	query := &atomic.Value{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/v1/events" {
			http.NotFound(w, r)
			return
		}
		query.Store(r.URL.Query())
		data := make([]json.RawMessage, len(evs))
		for i, e := range evs {
			data[i] = e
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "url": "/v1/events", "has_more": false, "data": data})
	}))
	t.Cleanup(srv.Close)
	return srv, query
}

func TestReconcile_AppliesUndeliveredStripeEventsOnce(t *testing.T) {
	t.Parallel()
	delivered := stripeEvent("evt_delivered", stripe.EventTypeCheckoutSessionCompleted, session("cs_rc1", "acc_rc", 1000, "paid", "pi_rc1"))
	missed := stripeEvent("evt_missed", stripe.EventTypeCheckoutSessionCompleted, session("cs_rc2", "acc_rc", 4000, "paid", "pi_rc2"))
	api, query := fakeStripeEvents(t, missed, delivered)
	h := newHarness(t, func(c *payments.Config) {
		c.StripeSecretKey = "sk_test_123"
		c.StripeAPIBase = api.URL
	})
	if code := h.post(delivered, whsec, time.Now()); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	ctx := context.Background()
	for i := range 2 {
		res, err := h.svc.Reconcile(ctx, time.Now().Add(-72*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		wantApplied := 1
		if i == 1 {
			wantApplied = 0
		}
		if res.Listed != 2 || res.Applied != wantApplied || res.Failed != 0 {
			t.Errorf("run %d: %+v", i, res)
		}
	}
	q, _ := query.Load().(url.Values)
	if q == nil {
		t.Fatal("events API not called")
	}
	if got := q["delivery_success"]; len(got) != 1 || got[0] != "false" {
		t.Errorf("delivery_success = %v", got)
	}
	cs := credits(t, h.bus, "acc_rc")
	if len(cs) != 2 || sum(cs) != int64(50*money.Dollar) {
		t.Errorf("credits = %+v, want the delivered and the missed one, once each", cs)
	}
}
