package auth_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/onekey-oss/onekey/api/events"
)

func TestCheckout_AsksPaymentsForTheCallersAccount(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c, m := h.signIn("xia@example.com")
	body := map[string]any{"amount_micros": 10_000_000, "success_url": "https://evil.example/"}

	// No payments service: a clear 503.
	r := c.Must(http.MethodPost, "/api/credits/checkout", body, http.StatusServiceUnavailable)
	if !strings.Contains(string(r.Body), "unavailable") {
		t.Errorf("body %s", r.Body)
	}

	got := make(chan events.CheckoutRequestV1, 4)
	sub, err := h.bus.Conn().Subscribe(events.SubjectCheckoutCreate, func(msg *nats.Msg) {
		var req events.CheckoutRequestV1
		_ = json.Unmarshal(msg.Data, &req)
		got <- req
		rep := events.CheckoutReplyV1{V: 1, URL: "https://checkout.stripe.test/c/cs_1", SessionID: "cs_1"}
		if req.AmountMicros == 9_999_000_000 {
			rep = events.CheckoutReplyV1{V: 1, Code: "amount_out_of_range", Error: "too much for one payment"}
		}
		raw, _ := json.Marshal(rep)
		_ = msg.Respond(raw)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := h.bus.Conn().Flush(); err != nil {
		t.Fatal(err)
	}

	var out struct{ URL, SessionID string }
	r = c.Must(http.MethodPost, "/api/credits/checkout", body, http.StatusCreated)
	r.JSON(t, &out)
	if out.URL != "https://checkout.stripe.test/c/cs_1" {
		t.Fatalf("checkout answer %s", r.Body)
	}
	req := <-got
	if req.AccountID != m.AccountID || req.Email != "xia@example.com" || req.AmountMicros != 10_000_000 ||
		!strings.HasPrefix(req.SuccessURL, h.srv.URL+"/") || !strings.HasPrefix(req.CancelURL, h.srv.URL+"/") {
		t.Fatalf("request to payments: %+v", req)
	}

	r = c.Must(http.MethodPost, "/api/credits/checkout", map[string]any{"amount_micros": 9_999_000_000}, http.StatusBadRequest)
	if !strings.Contains(string(r.Body), "amount_out_of_range") {
		t.Errorf("payments' refusal: %s", r.Body)
	}
	for _, bad := range []int64{0, -5, 500_000, 20_000_000_000} {
		c.Must(http.MethodPost, "/api/credits/checkout", map[string]any{"amount_micros": bad}, http.StatusBadRequest)
	}
	c.CSRF = ""
	c.Must(http.MethodPost, "/api/credits/checkout", body, http.StatusForbidden)
}
