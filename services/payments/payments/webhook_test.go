package payments_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/pkg/bus/bustest"
)

func TestWebhook_BadSignatureStaleOrTamperedIsRefusedWithNoEffect(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	body := stripeEvent("evt_bad", stripe.EventTypeCheckoutSessionCompleted, session("cs_bad", "acc_bad", 2000, "paid", "pi_bad"))
	tampered := []byte(string(body[:len(body)-1]) + ` `) // signed body, then one byte changed
	tampered = append(tampered, '}')
	cases := map[string]func() int{
		"tampered body": func() int {
			sp := signedHeader(body, whsec, time.Now())
			return h.postRaw(tampered, sp)
		},
		"wrong secret":  func() int { return h.post(body, "whsec_other", time.Now()) },
		"301 s old":     func() int { return h.post(body, whsec, time.Now().Add(-301*time.Second)) },
		"no signature":  func() int { return h.postRaw(body, "") },
		"bad signature": func() int { return h.postRaw(body, "t=1,v1=00") },
	}
	for name, send := range cases {
		if code := send(); code != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", name, code)
		}
	}
	n, err := h.st.Collection("stripe_events").CountDocuments(context.Background(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d stripe events recorded after refused webhooks", n)
	}
	if cs := credits(t, h.bus, "acc_bad"); len(cs) != 0 {
		t.Errorf("refused webhooks credited: %+v", cs)
	}
	// The same body, correctly signed and fresh, is accepted: the refusals
	// above were for the signature alone.
	if code := h.post(body, whsec, time.Now().Add(-299*time.Second)); code != http.StatusOK {
		t.Fatalf("valid webhook: status %d", code)
	}
	if cs := credits(t, h.bus, "acc_bad"); len(cs) != 1 || cs[0].AmountMicros != 20*money.Dollar {
		t.Errorf("credits = %+v", cs)
	}
}

func TestWebhook_SameEvent100TimesCreditsOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	body := stripeEvent("evt_dup", stripe.EventTypeCheckoutSessionCompleted, session("cs_dup", "acc_dup", 1000, "paid", "pi_dup"))
	var wg sync.WaitGroup
	codes := make(chan int, 100)
	for range 50 {
		wg.Go(func() { codes <- h.post(body, whsec, time.Now()) })
	}
	wg.Wait()
	for range 50 {
		codes <- h.post(body, whsec, time.Now())
	}
	close(codes)
	for c := range codes {
		if c != http.StatusOK {
			t.Errorf("status %d, want 200", c)
		}
	}
	cs := credits(t, h.bus, "acc_dup")
	if len(cs) != 1 {
		t.Fatalf("%d credits, want 1: %+v", len(cs), cs)
	}
	want := events.CreditPurchasedV1{V: 1, ID: "evt_dup", Time: cs[0].Time, AccountID: "acc_dup", Kind: events.CreditPurchase, AmountMicros: 10 * money.Dollar, Source: "stripe", PaymentID: "cs_dup"}
	if cs[0] != want {
		t.Errorf("credit = %+v, want %+v", cs[0], want)
	}
}

func TestWebhook_UnpaidThenAsyncSucceededCreditsOnceInEitherOrder(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	for _, order := range []string{"forward", "reverse"} {
		acc, cs := "acc_async_"+order, "cs_async_"+order
		evs := [][]byte{
			stripeEvent("evt_c_"+order, stripe.EventTypeCheckoutSessionCompleted, session(cs, acc, 5000, "unpaid", "pi_"+order)),
			stripeEvent("evt_s_"+order, stripe.EventTypeCheckoutSessionAsyncPaymentSucceeded, session(cs, acc, 5000, "paid", "pi_"+order)),
		}
		if order == "reverse" {
			evs[0], evs[1] = evs[1], evs[0]
		}
		for i, body := range evs {
			if code := h.post(body, whsec, time.Now()); code != http.StatusOK {
				t.Fatalf("%s event %d: status %d", order, i, code)
			}
		}
		got := credits(t, h.bus, acc)
		if len(got) != 1 || got[0].AmountMicros != 50*money.Dollar || got[0].ID != "evt_s_"+order {
			t.Errorf("%s: credits = %+v, want one of $50 from the async success", order, got)
		}
	}
}

func TestWebhook_AsyncFailedCreditsNothingAndAsksForAMail(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	acc := "acc_failed"
	for _, body := range [][]byte{
		stripeEvent("evt_f1", stripe.EventTypeCheckoutSessionCompleted, session("cs_f", acc, 700, "unpaid", "pi_f")),
		stripeEvent("evt_f2", stripe.EventTypeCheckoutSessionAsyncPaymentFailed, session("cs_f", acc, 700, "unpaid", "pi_f")),
		stripeEvent("evt_f2", stripe.EventTypeCheckoutSessionAsyncPaymentFailed, session("cs_f", acc, 700, "unpaid", "pi_f")),
	} {
		if code := h.post(body, whsec, time.Now()); code != http.StatusOK {
			t.Fatalf("status %d", code)
		}
	}
	if cs := credits(t, h.bus, acc); len(cs) != 0 {
		t.Errorf("failed payment credited: %+v", cs)
	}
	failed := bustest.Messages[events.PaymentFailedV1](t, h.bus, events.StreamNotify, events.FamilyPaymentFailed+"."+acc)
	if len(failed) != 1 || failed[0].PaymentID != "cs_f" || failed[0].AmountMicros != 7*money.Dollar {
		t.Errorf("payment.failed = %+v, want one for cs_f (the notifier mails it)", failed)
	}
}

// deliverLikeStripe sends evs until each was answered 2xx, as Stripe's retries
// would, and returns how many deliveries were refused on the way.
func deliverLikeStripe(t *testing.T, h *harness, evs [][]byte) int {
	t.Helper()
	pending := evs
	refused := 0
	for round := 0; len(pending) > 0; round++ {
		if round > 5 {
			t.Fatalf("%d events never accepted", len(pending))
		}
		var again [][]byte
		for _, body := range pending {
			if code := h.post(body, whsec, time.Now()); code/100 != 2 {
				refused++
				again = append(again, body)
			}
		}
		pending = again
	}
	return refused
}

func TestWebhook_RefundAndDisputeAreReversingEntriesInAnyOrder(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	for _, order := range []string{"forward", "reverse"} {
		acc, pi := "acc_rev_"+order, "pi_rev_"+order
		evs := [][]byte{
			stripeEvent("evt_paid_"+order, stripe.EventTypeCheckoutSessionCompleted, session("cs_rev_"+order, acc, 10000, "paid", pi)),
			stripeEvent("evt_refund_"+order, stripe.EventTypeRefundCreated, map[string]any{"id": "re_" + order, "object": "refund", "amount": 2500, "currency": "usd", "payment_intent": pi, "status": "succeeded"}),
			stripeEvent("evt_dispute_"+order, stripe.EventTypeChargeDisputeCreated, map[string]any{"id": "dp_" + order, "object": "dispute", "amount": 7500, "currency": "usd", "payment_intent": pi, "status": "needs_response"}),
			stripeEvent("evt_won_"+order, stripe.EventTypeChargeDisputeClosed, map[string]any{"id": "dp_" + order, "object": "dispute", "amount": 7500, "currency": "usd", "payment_intent": pi, "status": "won"}),
		}
		if order == "reverse" {
			for i, j := 0, len(evs)-1; i < j; i, j = i+1, j-1 {
				evs[i], evs[j] = evs[j], evs[i]
			}
		}
		refused := deliverLikeStripe(t, h, evs)
		if order == "reverse" && refused == 0 {
			t.Error("reversals of an unknown payment were accepted before it")
		}
		got := credits(t, h.bus, acc)
		kinds := map[string]money.Micros{}
		for _, c := range got {
			kinds[c.Kind] += c.AmountMicros
			if c.PaymentID != "cs_rev_"+order || c.Source != "stripe" {
				t.Errorf("%s: entry %+v does not name its session", order, c)
			}
		}
		want := map[string]money.Micros{events.CreditPurchase: 100 * money.Dollar, events.CreditRefund: -25 * money.Dollar, events.CreditDispute: -75 * money.Dollar, events.CreditDisputeWon: 75 * money.Dollar}
		if len(got) != 4 || len(kinds) != 4 {
			t.Fatalf("%s: entries = %+v", order, got)
		}
		for k, v := range want {
			if kinds[k] != v {
				t.Errorf("%s: %s = %s, want %s", order, k, kinds[k], v)
			}
		}
		if sum(got) != int64(75*money.Dollar) {
			t.Errorf("%s: net %d", order, sum(got))
		}
	}
}

func TestWebhook_BusDownIsNon2xxThenStripesRetryCreditsOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	body := stripeEvent("evt_outage", stripe.EventTypeCheckoutSessionCompleted, session("cs_outage", "acc_outage", 3000, "paid", "pi_outage"))
	h.srv.Stop()
	if code := h.post(body, whsec, time.Now()); code/100 == 2 {
		t.Fatalf("bus down: status %d, want non-2xx so Stripe retries", code)
	}
	h.srv.Resume(t)
	waitFor(t, "bus reconnected", func() bool { return h.bus.Conn().IsConnected() })
	// Stripe retries until it gets a 2xx; JetStream may need a moment
	// after the restart before it stores again.
	waitFor(t, "a retry accepted", func() bool { return h.post(body, whsec, time.Now()) == http.StatusOK })
	for i := range 2 {
		if code := h.post(body, whsec, time.Now()); code != http.StatusOK {
			t.Fatalf("repeat %d: status %d", i, code)
		}
	}
	cs := credits(t, h.bus, "acc_outage")
	if len(cs) != 1 || cs[0].AmountMicros != 30*money.Dollar {
		t.Errorf("credits = %+v, want one of $30", cs)
	}
}

func TestWebhook_SessionsNotOursOrNotInUSDAreAcknowledgedWithoutCredit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	foreign := session("cs_foreign", "acc_x", 1000, "paid", "pi_x")
	foreign["metadata"] = map[string]string{}
	eur := session("cs_eur", "acc_x", 1000, "paid", "pi_y")
	eur["currency"] = "eur"
	for _, body := range [][]byte{
		stripeEvent("evt_foreign", stripe.EventTypeCheckoutSessionCompleted, foreign),
		stripeEvent("evt_eur", stripe.EventTypeCheckoutSessionCompleted, eur),
		stripeEvent("evt_other", "customer.created", map[string]any{"id": "cus_1", "object": "customer"}),
	} {
		if code := h.post(body, whsec, time.Now()); code != http.StatusOK {
			t.Errorf("status %d, want 200 (nothing to retry)", code)
		}
	}
	if cs := credits(t, h.bus, "acc_x"); len(cs) != 0 {
		t.Errorf("credited: %+v", cs)
	}
}

func signedHeader(body []byte, secret string, at time.Time) string {
	return webhookHeader(body, secret, at)
}

func TestWebhook_DisputeWonWithoutItsOpeningIsNotCreditedUntilTheOpeningArrives(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	acc, pi := "acc_won", "pi_won"
	paid := stripeEvent("evt_won_paid", stripe.EventTypeCheckoutSessionCompleted, session("cs_won", acc, 1000, "paid", pi))
	won := stripeEvent("evt_won_closed", stripe.EventTypeChargeDisputeClosed, map[string]any{"id": "dp_w", "object": "dispute", "amount": 1000, "currency": "usd", "payment_intent": pi, "status": "won"})
	opened := stripeEvent("evt_won_opened", stripe.EventTypeChargeDisputeCreated, map[string]any{"id": "dp_w", "object": "dispute", "amount": 1000, "currency": "usd", "payment_intent": pi, "status": "needs_response"})
	if code := h.post(paid, whsec, time.Now()); code != http.StatusOK {
		t.Fatal(code)
	}
	if code := h.post(won, whsec, time.Now()); code/100 == 2 {
		t.Fatalf("dispute won before opened: status %d, want a retry", code)
	}
	if got := credits(t, h.bus, acc); len(got) != 1 {
		t.Fatalf("entries = %+v, want only the purchase", got)
	}
	deliverLikeStripe(t, h, [][]byte{opened, won})
	got := credits(t, h.bus, acc)
	if len(got) != 3 || sum(got) != int64(10*money.Dollar) {
		t.Errorf("entries = %+v, want purchase, dispute and its reversal netting $10", got)
	}
}
