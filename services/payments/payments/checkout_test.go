package payments_test

import (
	"encoding/json"
	"github.com/onekey-oss/onekey/services/payments/stripemocktest"
	"strings"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/services/payments/payments"
)

func request[Rep any](t *testing.T, h *harness, subject string, req any) Rep {
	t.Helper()
	data, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := h.bus.Conn().Request(subject, data, 30*time.Second)
	if err != nil {
		t.Fatalf("request %s: %v", subject, err)
	}
	var rep Rep
	if err := json.Unmarshal(msg.Data, &rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestCheckout_RequestReplyCreatesASessionOnStripeMock(t *testing.T) {
	t.Parallel()
	base := stripemocktest.Start(t)
	h := newHarness(t, func(c *payments.Config) {
		c.StripeSecretKey = "sk_test_123"
		c.StripeAPIBase = base
	})
	ok := events.CheckoutRequestV1{V: 1, AccountID: "acc_co", Email: "a@example.com", AmountMicros: 25 * money.Dollar,
		SuccessURL: "https://onekey.test/billing?ok", CancelURL: "https://onekey.test/billing"}
	rep := request[events.CheckoutReplyV1](t, h, events.SubjectCheckoutCreate, ok)
	if rep.Code != "" || rep.Error != "" || !strings.HasPrefix(rep.SessionID, "cs_") || !strings.HasPrefix(rep.URL, "https://") {
		t.Errorf("reply = %+v, want a session URL", rep)
	}
	for name, bad := range map[string]events.CheckoutRequestV1{
		"below min":   {V: 1, AccountID: "acc_co", AmountMicros: 4 * money.Dollar, SuccessURL: ok.SuccessURL, CancelURL: ok.CancelURL},
		"above max":   {V: 1, AccountID: "acc_co", AmountMicros: 1001 * money.Dollar, SuccessURL: ok.SuccessURL, CancelURL: ok.CancelURL},
		"fraction":    {V: 1, AccountID: "acc_co", AmountMicros: 5*money.Dollar + 1, SuccessURL: ok.SuccessURL, CancelURL: ok.CancelURL},
		"no account":  {V: 1, AmountMicros: 10 * money.Dollar, SuccessURL: ok.SuccessURL, CancelURL: ok.CancelURL},
		"no urls":     {V: 1, AccountID: "acc_co", AmountMicros: 10 * money.Dollar},
		"bad account": {V: 1, AccountID: "acc.x", AmountMicros: 10 * money.Dollar, SuccessURL: ok.SuccessURL, CancelURL: ok.CancelURL},
	} {
		rep := request[events.CheckoutReplyV1](t, h, events.SubjectCheckoutCreate, bad)
		if rep.Code == "" || rep.URL != "" {
			t.Errorf("%s: reply = %+v, want a refusal", name, rep)
		}
	}
	if rep := request[events.CheckoutReplyV1](t, h, events.SubjectCheckoutCreate, events.CheckoutRequestV1{V: 1, AccountID: "acc_co", AmountMicros: 2 * money.Dollar, SuccessURL: ok.SuccessURL, CancelURL: ok.CancelURL}); rep.Code != payments.CodeAmountOutOfRange {
		t.Errorf("code = %q", rep.Code)
	}
}

func TestCheckout_WithoutStripeKeyAnswersUnavailable(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	rep := request[events.CheckoutReplyV1](t, h, events.SubjectCheckoutCreate, events.CheckoutRequestV1{V: 1, AccountID: "acc_1", AmountMicros: 10 * money.Dollar, SuccessURL: "https://x.test/a", CancelURL: "https://x.test/b"})
	if rep.Code != payments.CodeUnavailable {
		t.Errorf("reply = %+v", rep)
	}
}
