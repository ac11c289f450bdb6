package payments_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"
	"go.uber.org/goleak"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
)

// TestService_StopsWithoutLeakingGoroutines runs serially (parallel tests
// wait for it), so any goroutine left after Run returned and the
// connections closed is the service's.
func TestService_StopsWithoutLeakingGoroutines(t *testing.T) {
	before := goleak.IgnoreCurrent()
	t.Run("work then stop", func(t *testing.T) {
		h := newHarness(t, withChains)
		body := stripeEvent("evt_leak", stripe.EventTypeCheckoutSessionCompleted, session("cs_leak", "acc_leak", 1000, "paid", "pi_leak"))
		if code := h.post(body, whsec, time.Now()); code != http.StatusOK {
			t.Fatal(code)
		}
		_ = request[events.CheckoutReplyV1](t, h, events.SubjectCheckoutCreate, events.CheckoutRequestV1{V: 1, AccountID: "acc_leak", AmountMicros: 10 * money.Dollar})
		link(t, h, "acc_leak")
		http.DefaultClient.CloseIdleConnections()
	})
	goleak.VerifyNone(t, before,
		// nats-server keeps process-wide goroutines that are not ours.
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*Server).startGoRoutine.func1"),
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.(*ipQueue[...]).push"),
	)
}
