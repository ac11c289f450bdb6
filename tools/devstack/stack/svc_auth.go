package stack

import (
	"fmt"
	"time"

	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/services/auth/auth"
)

// authService builds the account API and the dashboard on --account-addr
// (the dashboard at /, its quickstart pointing at --gateway-addr). Google and GitHub sign-in are off (they need real client credentials);
// magic links work, their mail going to the notifier's outbox and console.
func authService(env *Env) (*runner, error) {
	base := "http://" + env.Config.AccountAddr
	cfg := auth.Config{
		Addr:                 env.Config.AccountAddr,
		PublicURL:            base,
		AppURL:               base + "/",
		MagicLinksPerAddress: 5,
		MagicLinksPerIP:      30,
		MagicLinkWindow:      15 * time.Minute,
		Dashboard: auth.DashboardConfig{
			GatewayPublicURL: "http://" + env.Config.GatewayAddr,
			OperatorName:     "devstack (a local development stack)",
			CheckoutMin:      5 * money.Dollar,
			CheckoutMax:      1000 * money.Dollar,
		},
	}
	svc, err := auth.New(cfg, auth.Deps{Bus: env.Bus, Store: env.Store, Logger: env.Telemetry.Logger.With("part", "auth"), MeterProvider: env.Telemetry.MeterProvider})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(env.Out, "dashboard: open %s/ and sign in with any e-mail address (the sign-in link is printed here)\n", base)
	return &runner{name: "auth", addr: cfg.Addr, run: svc.Run}, nil
}
