package stack

import (
	"time"

	"github.com/onekey-oss/onekey/services/auth/auth"
)

// authService builds the account API on --account-addr. devstack has no
// dashboard yet, so a sign-in lands on /api/me, which shows who signed in.
// Google and GitHub sign-in are off (they need real client credentials);
// magic links work, their mail going to the notifier's outbox and console.
func authService(env *Env) (*runner, error) {
	base := "http://" + env.Config.AccountAddr
	cfg := auth.Config{
		Addr:                 env.Config.AccountAddr,
		PublicURL:            base,
		AppURL:               base + "/api/me",
		MagicLinksPerAddress: 5,
		MagicLinksPerIP:      30,
		MagicLinkWindow:      15 * time.Minute,
	}
	svc, err := auth.New(cfg, auth.Deps{Bus: env.Bus, Store: env.Store, Logger: env.Telemetry.Logger.With("part", "auth"), MeterProvider: env.Telemetry.MeterProvider})
	if err != nil {
		return nil, err
	}
	return &runner{name: "auth", addr: cfg.Addr, run: svc.Run}, nil
}
