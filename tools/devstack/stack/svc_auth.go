package stack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/services/auth/auth"
)

// authService builds the account API and the dashboard on --account-addr
// (the dashboard at /, its quickstart pointing at --gateway-addr). Google and GitHub sign-in are off (they need real client credentials);
// magic links work, their mail going to the notifier's outbox and console.
func authService(env *Env) (*runner, error) {
	b, err := env.ConnectAs(bus.UserAuth)
	if err != nil {
		return nil, err
	}
	base := "http://" + env.Config.AccountAddr
	secret, err := freeGrantSecret(env)
	if err != nil {
		return nil, err
	}
	mailKey, err := mailSealKey(env)
	if err != nil {
		return nil, err
	}
	def := auth.DefaultConfig()
	cfg := auth.Config{
		FreeGrantSecret:      secret,
		MailSealKey:          mailKey,
		Addr:                 env.Config.AccountAddr,
		PublicURL:            base,
		AppURL:               base + "/",
		MagicLinksPerAddress: def.MagicLinksPerAddress,
		MagicLinksPerIP:      def.MagicLinksPerIP,
		MagicLinkWindow:      def.MagicLinkWindow,
		Dashboard: auth.DashboardConfig{
			GatewayPublicURL: "http://" + env.Config.GatewayAddr,
			OperatorName:     "devstack (a local development stack)",
			CheckoutMin:      5 * money.Dollar,
			CheckoutMax:      1000 * money.Dollar,
		},
	}
	asst, demoRun, err := assistantConfig(env)
	if err != nil {
		return nil, err
	}
	cfg.Assistant = asst
	svc, err := auth.New(cfg, auth.Deps{Bus: b, Store: env.Store, Logger: env.Telemetry.Logger.With("part", "auth"), MeterProvider: env.Telemetry.MeterProvider})
	if err != nil {
		return nil, err
	}
	env.auth = svc
	fmt.Fprintf(env.Out, "dashboard: open %s/ and sign in with any e-mail address (the sign-in link is printed here)\n", base)
	run := svc.Run
	if demoRun != nil {
		run = func(ctx context.Context) error { return demoRun(ctx, svc.Run) }
	}
	return &runner{name: "auth", addr: cfg.Addr, run: run}, nil
}

// freeGrantSecret is $AUTH_FREE_GRANT_SECRET, or else a random secret made
// on the first start of a data dir and kept in DATA/auth-free-grant-secret,
// so that addresses recorded as having had their free requests stay
// recognised across restarts.
func freeGrantSecret(env *Env) (string, error) {
	if s := env.Getenv("AUTH_FREE_GRANT_SECRET"); s != "" {
		return s, nil
	}
	path := filepath.Join(env.Config.DataDir, "auth-free-grant-secret")
	raw, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(raw)), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	secret := hex.EncodeToString(b[:])
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return secret, nil
}

// mailSealKey is $MAIL_SEAL_KEY, or else a random key made on the first
// start of a data dir and kept in DATA/mail-seal-key: auth seals sign-in
// links with it and the notifier opens them, and a restart must still open
// the mails in flight.
func mailSealKey(env *Env) (string, error) {
	if s := env.Getenv("MAIL_SEAL_KEY"); s != "" {
		return s, nil
	}
	path := filepath.Join(env.Config.DataDir, "mail-seal-key")
	raw, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(raw)), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	key := events.NewMailSealKey()
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return key, nil
}
