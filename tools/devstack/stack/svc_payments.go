package stack

import (
	"fmt"

	"github.com/onekey-oss/onekey/api/cryptopay"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/services/payments/payments"
)

// paymentsService builds payments on --payments-addr. With STRIPE_SECRET_KEY
// and STRIPE_WEBHOOK_SECRET in the environment (and STRIPE_API_BASE for
// stripe-mock) it takes real Checkout payments; without a key, checkout
// answers with devstack's clearly labelled DEV TOP-UP page, which credits
// the account as a purchase with source "dev" so the whole credit path
// (ledger, balance, receipt mail) can be tried on a fresh machine. Crypto
// claims are taken for the chains configured by CRYPTO_CHAINS.
func paymentsService(env *Env) (*runner, error) {
	b, err := env.ConnectAs(bus.UserPayments)
	if err != nil {
		return nil, err
	}
	chains, err := cryptopay.ChainsFromEnv(env.Getenv)
	if err != nil {
		return nil, fmt.Errorf("payments: %w", err)
	}
	cfg := payments.Config{
		Addr:                env.Config.PaymentsAddr,
		StripeSecretKey:     env.Getenv("STRIPE_SECRET_KEY"),
		StripeWebhookSecret: env.Getenv("STRIPE_WEBHOOK_SECRET"),
		StripeAPIBase:       env.Getenv("STRIPE_API_BASE"),
		CheckoutMin:         5 * money.Dollar,
		CheckoutMax:         1000 * money.Dollar,
		Chains:              chains,
	}
	cfg.DevTopUp = cfg.StripeSecretKey == ""
	svc, err := payments.New(cfg, payments.Deps{Bus: b, Store: env.Store, Logger: env.Telemetry.Logger.With("part", "payments"), MeterProvider: env.Telemetry.MeterProvider})
	if err != nil {
		return nil, err
	}
	if cfg.DevTopUp {
		fmt.Fprintf(env.Out, "payments: no STRIPE_SECRET_KEY, so checkout opens a DEV TOP-UP page on http://%s (no money moves)\n", svc.Addr())
	}
	return &runner{name: "payments", addr: svc.Addr(), run: svc.Run}, nil
}
