package payments_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/api/readmodel"
	"github.com/onekey-oss/onekey/e2e/internal/e2estack"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/bus/bustest"
	"github.com/onekey-oss/onekey/pkg/store/storetest"
	"github.com/onekey-oss/onekey/services/ledger/ledger"
	"github.com/onekey-oss/onekey/services/payments/payments"
)

func TestEndToEnd_InquiryClosedAsWarningClosedGivesTheMoneyBackOnceInTheLedger(t *testing.T) {
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv := bustest.Start(t)
	b := srv.Connect(t, "e2e-dispute")
	st := storetest.New(t)
	lcfg := ledger.DefaultConfig()
	lcfg.FreeRequests = 0
	led, err := ledger.New(lcfg, ledger.Deps{Bus: srv.ConnectAs(t, bus.UserLedger), Store: st, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	e2estack.Run(t, "ledger", led.Run)
	paysvc, err := payments.New(payments.Config{StripeWebhookSecret: whsec, CheckoutMin: 5 * money.Dollar, CheckoutMax: 1000 * money.Dollar},
		payments.Deps{Bus: srv.ConnectAs(t, bus.UserPayments), Store: st, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	e2estack.Run(t, "payments", paysvc.Run)
	web := httptest.NewServer(paysvc.Handler())
	t.Cleanup(web.Close)

	const acc, pi = "acc_e2e_inquiry", "pi_e2e_inquiry"
	post := func(id string, typ stripe.EventType, object map[string]any) {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"id": id, "object": "event", "api_version": stripe.APIVersion, "created": time.Now().Unix(), "type": typ,
			"data": map[string]any{"object": object}})
		req, _ := http.NewRequest(http.MethodPost, web.URL+"/webhooks/stripe", bytes.NewReader(body))
		req.Header.Set("Stripe-Signature", webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: whsec}).Header)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("webhook %s: %d", id, resp.StatusCode)
		}
	}
	dispute := func(status string) map[string]any {
		return map[string]any{"id": "dp_e2e_inquiry", "object": "dispute", "amount": 2000, "currency": "usd", "payment_intent": pi, "status": status}
	}
	balance := balanceReader(t, b, acc)
	if _, err := b.Publish(context.Background(), events.AccountCreatedV1{V: 1, ID: "account.created:" + acc, Time: time.Now().UTC(), AccountID: acc}); err != nil {
		t.Fatal(err)
	}
	post("evt_e2e_inq_paid", stripe.EventTypeCheckoutSessionCompleted, map[string]any{"id": "cs_e2e_inquiry", "object": "checkout.session",
		"client_reference_id": acc, "metadata": map[string]string{"account_id": acc}, "currency": "usd", "amount_total": 2000,
		"payment_status": "paid", "payment_intent": pi})
	e2estack.WaitFor(t, "purchase applied", func() bool { v, _ := balance(); return v.BalanceMicros == 20*money.Dollar })
	post("evt_e2e_inq_opened", stripe.EventTypeChargeDisputeCreated, dispute("warning_needs_response"))
	e2estack.WaitFor(t, "inquiry's hold applied", func() bool { v, _ := balance(); return v.BalanceMicros == 0 })
	post("evt_e2e_inq_closed", stripe.EventTypeChargeDisputeClosed, dispute("warning_closed"))
	post("evt_e2e_inq_closed", stripe.EventTypeChargeDisputeClosed, dispute("warning_closed"))
	post("evt_e2e_inq_closed_resent", stripe.EventTypeChargeDisputeClosed, dispute("warning_closed"))
	e2estack.WaitFor(t, "inquiry's money given back", func() bool { v, _ := balance(); return v.BalanceMicros == 20*money.Dollar })
	// Give the ledger time to apply anything else that might come.
	time.Sleep(time.Second)
	if v, _ := balance(); v.BalanceMicros != 20*money.Dollar {
		t.Errorf("balance %s, want $20: the give-back was applied more than once", v.BalanceMicros)
	}
	n, err := st.Collection(readmodel.CollJournal).CountDocuments(context.Background(), bson.D{{Key: "account_id", Value: acc}, {Key: "kind", Value: readmodel.JournalCredit}})
	if err != nil || n != 3 {
		t.Errorf("%d journal entries (%v), want 3: purchase, dispute, give-back", n, err)
	}
}
