// Command notifier sends onekey's transactional mails (sign-in links,
// receipts, low balance, failed payments, rejected transfers) through
// Resend. Configuration is by environment; see notifier.ConfigFromEnv.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/onekey-oss/onekey/pkg/boot"
	"github.com/onekey-oss/onekey/pkg/boot/bootstore"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/services/notifier/notifier"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "notifier:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, _ []string, getenv func(string) string) (err error) {
	cfg, cerr := notifier.ConfigFromEnv(getenv)
	rt, err := bootstore.Open(ctx, getenv, boot.Options{Service: bus.UserNotifier, AdminAddr: cfg.AdminAddr}, cerr)
	if err != nil {
		return err // every problem of the environment at once
	}
	defer func() { err = errors.Join(err, rt.Close(ctx)) }()
	svc, err := notifier.New(cfg, notifier.Deps{Bus: rt.Bus, Store: rt.Store, Logger: rt.Logger, MeterProvider: rt.Telemetry.MeterProvider, Console: os.Stdout})
	if err != nil {
		return err
	}
	// The probes answer until the consumers have stopped, then go.
	return rt.Run(ctx, svc.Run, svc.Ready)
}
