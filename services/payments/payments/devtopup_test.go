package payments_test

import (
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/services/payments/payments"
)

func TestDevTopUp_WithoutStripeKeysCheckoutIsALabelledDevPageThatCreditsOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *payments.Config) { c.DevTopUp = true; c.PublicURL = "http://placeholder" })
	rep := request[events.CheckoutReplyV1](t, h, events.SubjectCheckoutCreate, events.CheckoutRequestV1{V: 1, AccountID: "acc_dev", AmountMicros: 20 * money.Dollar, SuccessURL: "https://app.test/ok", CancelURL: "https://app.test/cancel"})
	if rep.Code != "" || !strings.HasPrefix(rep.URL, "http://placeholder/dev/checkout/") {
		t.Fatalf("reply = %+v", rep)
	}
	page := h.web.URL + strings.TrimPrefix(rep.URL, "http://placeholder")
	resp, err := http.Get(page)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "DEV TOP-UP") || !strings.Contains(string(body), "not a payment") || !strings.Contains(string(body), "$20.00") {
		t.Errorf("page %d:\n%s", resp.StatusCode, body)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for range 3 {
		resp, err := noRedirect.Post(page, "application/x-www-form-urlencoded", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "https://app.test/ok" {
			t.Errorf("pay: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	cs := credits(t, h.bus, "acc_dev")
	if len(cs) != 1 || cs[0].Source != "dev" || cs[0].AmountMicros != 20*money.Dollar || cs[0].Kind != events.CreditPurchase {
		t.Errorf("credits = %+v, want one $20 purchase with source dev", cs)
	}
}

func TestConfig_DevTopUpIsRefusedWithAStripeKeyAndEveryProblemIsReported(t *testing.T) {
	env := map[string]string{"PAYMENTS_DEV_TOPUP": "true", "STRIPE_SECRET_KEY": "sk_test", "CHECKOUT_MIN_USD": "x", "CRYPTO_CHAINS": "base"}
	_, err := payments.ConfigFromEnv(func(k string) string { return env[k] })
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"CHECKOUT_MIN_USD", "CHAIN_BASE_DEPOSIT_ADDRESS"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
	env = map[string]string{"PAYMENTS_DEV_TOPUP": "true", "STRIPE_SECRET_KEY": "sk_test", "NATS_URL": "nats://x", "MONGODB_URI": "mongodb://x"}
	if _, err := payments.ConfigFromEnv(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "PAYMENTS_DEV_TOPUP") {
		t.Errorf("dev top-up with a Stripe key: %v", err)
	}
	// Each default is written once, in DefaultConfig.
	c, err := payments.ConfigFromEnv(func(string) string { return "" })
	if err != nil || !reflect.DeepEqual(c, payments.DefaultConfig()) || c.CheckoutMin != 5*money.Dollar {
		t.Errorf("defaults: %+v %v, want DefaultConfig", c, err)
	}
}
