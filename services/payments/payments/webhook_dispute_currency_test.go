package payments_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/pkg/boot"
	"github.com/onekey-oss/onekey/pkg/telemetry"
	"github.com/onekey-oss/onekey/services/payments/payments"
)

func TestWebhook_InquiryClosedAsWarningClosedGivesBackWhatItTookOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	acc, pi := "acc_inquiry", "pi_inquiry"
	dispute := func(status string) map[string]any {
		return map[string]any{"id": "dp_inq", "object": "dispute", "amount": 4000, "currency": "usd", "payment_intent": pi, "status": status}
	}
	closed := stripeEvent("evt_inq_closed", stripe.EventTypeChargeDisputeClosed, dispute("warning_closed"))
	deliverLikeStripe(t, h, [][]byte{
		stripeEvent("evt_inq_paid", stripe.EventTypeCheckoutSessionCompleted, session("cs_inq", acc, 4000, "paid", pi)),
		stripeEvent("evt_inq_opened", stripe.EventTypeChargeDisputeCreated, dispute("warning_needs_response")),
		closed, closed,
	})
	// Stripe may also send the same closing again under a new event id
	// (reconcile, a resent event): still one give-back per dispute.
	deliverLikeStripe(t, h, [][]byte{stripeEvent("evt_inq_closed_again", stripe.EventTypeChargeDisputeClosed, dispute("warning_closed"))})
	got := credits(t, h.bus, acc)
	kinds := map[string]money.Micros{}
	for _, c := range got {
		kinds[c.Kind] += c.AmountMicros
	}
	if len(got) != 3 || kinds[events.CreditDisputeWon] != 40*money.Dollar || sum(got) != int64(40*money.Dollar) {
		t.Errorf("entries = %+v, want purchase $40, dispute -$40 and one give-back of $40", got)
	}
}

func TestWebhook_PaidSessionInEURIsRecordedAndRaisesTheOperatorAlert(t *testing.T) {
	t.Parallel()
	tel, err := telemetry.Setup(context.Background(), telemetry.Config{Service: "payments-test", Output: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	h := newHarnessWith(t, nil, func(d *payments.Deps) { d.MeterProvider = tel.MeterProvider })
	eur := session("cs_eur_paid", "acc_eur", 2500, "paid", "pi_eur")
	eur["currency"] = "eur"
	body := stripeEvent("evt_eur_paid", stripe.EventTypeCheckoutSessionCompleted, eur)
	for i := range 2 {
		if code := h.post(body, whsec, time.Now()); code != http.StatusOK {
			t.Fatalf("delivery %d: status %d, want 200 (nothing for Stripe to retry)", i, code)
		}
	}
	var rec bson.M
	if err := h.st.Collection("card_unsupported_currency").FindOne(context.Background(), bson.D{{Key: "_id", Value: "cs_eur_paid"}}).Decode(&rec); err != nil {
		t.Fatalf("the EUR session is not recorded: %v", err)
	}
	if rec["currency"] != "eur" || rec["amount_minor"] != int64(2500) || rec["account_id"] != "acc_eur" || rec["payment_intent"] != "pi_eur" {
		t.Errorf("record = %v", rec)
	}
	// As main's admin server (pkg/boot) serves it.
	admin := httptest.NewServer(boot.AdminHandler(tel.MetricsHandler(), nil))
	defer admin.Close()
	resp, err := http.Get(admin.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `payments_unsupported_currency_sessions_total{currency="eur"} 1`; !strings.Contains(string(text), want) {
		t.Errorf("/metrics lacks %s (counted once for two deliveries)", want)
	}
	if cs := credits(t, h.bus, "acc_eur"); len(cs) != 0 {
		t.Errorf("an EUR session credited USD: %+v", cs)
	}
}
