package dashboard_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stripe/stripe-go/v76"

	"github.com/onekey-oss/onekey/e2e/browser"
)

// openOverview leaves p on the overview with a marker that a reload would
// wipe, so that a later check can tell the page changed by itself.
func openOverview(t *testing.T, s *stack, p *browser.Page) {
	t.Helper()
	p.Visit("overview-open", s.AuthURL+"/")
	browser.Eval[bool](p, `(window.__openSinceTheStart = true)`)
}

// seesWithoutReload waits for the overview left open by openOverview to
// show balance, and checks it was not reloaded.
func seesWithoutReload(t *testing.T, p *browser.Page, balance string) {
	t.Helper()
	p.BringToFront()
	p.WaitText(tid("balance"), balance)
	if !browser.Eval[bool](p, `window.__openSinceTheStart === true`) {
		t.Fatal("the overview was reloaded: the balance must change on the open page")
	}
	p.Check("overview-balance-updated")
}

func TestDashboard_DevTopUpOf10DollarsChangesTheBalanceOnTheOpenPageWithoutReload(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	v := visitor(t)
	open := v.NewPage()
	signIn(t, s, open, "dev@example.com")
	openOverview(t, s, open)
	open.WaitText(tid("balance"), "$0.00")
	// $0.00 is below the default $1.00 alert threshold; the 20 free requests are left.
	open.WaitText(tid("low-balance-banner"), "You are on free requests")

	pay := v.NewPage() // a second tab of the same visitor
	pay.Visit("billing", s.AuthURL+"/billing")
	pay.Click(`button[data-amount="10"]`)
	if got := browser.Eval[string](pay, `document.querySelector('[data-testid="checkout-amount"]').value`); got != "10" {
		t.Fatalf("the $10.00 preset put %q in the amount", got)
	}
	pay.ClickToLoad("dev-top-up", tid("checkout-submit"))
	if !strings.HasPrefix(pay.URL(), s.PaymentsURL+"/dev/checkout/") {
		t.Fatalf("checkout went to %s, want the dev top-up page on %s", pay.URL(), s.PaymentsURL)
	}
	pay.WaitText("h1", "DEV TOP-UP")
	pay.ClickToLoad("billing-after-top-up", `form button[type="submit"]`)
	if u := pay.URL(); !strings.HasPrefix(u, s.AuthURL+"/billing") || !strings.Contains(u, "checkout=success") {
		t.Fatalf("after the dev top-up the browser is at %s", u)
	}
	pay.WaitVisible(tid("checkout-success"))
	pay.WaitText(tid("balance"), "$10.00")

	seesWithoutReload(t, open, "$10.00")
	// The banner went with the live update that showed the balance.
	if open.Has(tid("low-balance-banner")) {
		t.Errorf("at $10.00 the open overview still shows the banner %q", open.Text(tid("low-balance-banner")))
	}
}

// stripeCheckoutStandIn is what the tab shows in place of Stripe Checkout,
// which a test cannot reach.
const stripeCheckoutStandIn = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Stripe Checkout (test stand-in)</title>
<link rel="icon" href="data:,"></head><body><main><h1>Stripe Checkout (test stand-in)</h1>
<p>The test completes this session with a signed webhook.</p></main></body></html>`

func TestDashboard_StripeCheckoutCompletedByASignedWebhookChangesTheBalanceOnTheOpenPageWithoutReload(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{Stripe: true})
	v := visitor(t)
	open := v.NewPage()
	signIn(t, s, open, "card@example.com")
	account := me(t, open)
	openOverview(t, s, open)

	pay := v.NewPage()
	answered := pay.StandIn("https://*", stripeCheckoutStandIn)
	pay.Visit("billing", s.AuthURL+"/billing")
	pay.Fill(tid("checkout-amount"), "10")
	pay.ClickToLoad("stripe-checkout", tid("checkout-submit"))
	checkout, err := url.Parse(pay.URL())
	if err != nil || checkout.Scheme != "https" || len(answered()) == 0 {
		t.Fatalf("checkout went to %s (stand-in answered %v), want Stripe Checkout's https URL from stripe-mock", pay.URL(), answered())
	}
	pay.WaitText("h1", "Stripe Checkout")

	// Stripe tells payments the session is paid; the browser returns to
	// the success URL auth gave it (AUTH_APP_URL?checkout=success), maybe
	// before the webhook lands.
	pay.Visit("billing-checkout-success", s.AuthURL+"/?checkout=success")
	if u := pay.URL(); u != s.AuthURL+"/billing?checkout=success" {
		t.Fatalf("the checkout success URL led to %s, want the billing page", u)
	}
	pay.WaitVisible(tid("checkout-success"))
	browser.Eval[bool](pay, `(window.__openSinceTheStart = true)`)
	s.postStripeEvent("evt_dashboard_e2e", stripe.EventTypeCheckoutSessionCompleted, map[string]any{
		"id": "cs_test_dashboard_e2e", "object": "checkout.session", "mode": "payment", "status": "complete",
		"client_reference_id": account, "metadata": map[string]string{"account_id": account},
		"currency": "usd", "amount_subtotal": 1000, "amount_total": 1000, "payment_status": "paid", "payment_intent": "pi_dashboard_e2e",
	})
	pay.WaitText(tid("balance"), "$10.00")
	pay.WaitText(tid("payment-row"), "$10.00")
	if !browser.Eval[bool](pay, `window.__openSinceTheStart === true`) {
		t.Fatal("billing was reloaded: the payment history must change on the open page")
	}
	pay.Check("billing-payment-landed")
	seesWithoutReload(t, open, "$10.00")
	pay.Visit("billing-payment-history", s.AuthURL+"/billing")
	pay.WaitText(tid("payment-row"), "$10.00")
}
