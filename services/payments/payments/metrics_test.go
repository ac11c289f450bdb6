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

	"github.com/onekey-oss/onekey/pkg/boot"
	"github.com/onekey-oss/onekey/pkg/telemetry"
	"github.com/onekey-oss/onekey/services/payments/payments"
)

func TestMetrics_WebhookOutcomesAreCountedAtSlashMetrics(t *testing.T) {
	t.Parallel()
	tel, err := telemetry.Setup(context.Background(), telemetry.Config{Service: "payments-test", Output: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	h := newHarnessWith(t, nil, func(d *payments.Deps) { d.MeterProvider = tel.MeterProvider })
	body := stripeEvent("evt_m", stripe.EventTypeCheckoutSessionCompleted, session("cs_m", "acc_m", 1000, "paid", "pi_m"))
	h.post(body, "whsec_wrong", time.Now())
	h.post(body, whsec, time.Now())
	// As main's admin server (pkg/boot) serves it.
	admin := httptest.NewServer(boot.AdminHandler(tel.MetricsHandler(), nil))
	defer admin.Close()
	resp, err := http.Get(admin.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`payments_stripe_webhooks_total{outcome="refused"} 1`, `payments_stripe_webhooks_total{outcome="applied"} 1`} {
		if !strings.Contains(string(text), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
