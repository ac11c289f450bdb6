// Command payments runs the payments service: Stripe Checkout and webhooks,
// crypto wallet links and claims. `payments reconcile [-since 72h]` applies
// Stripe events whose webhook was never delivered, then exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/onekey-oss/onekey/pkg/boot"
	"github.com/onekey-oss/onekey/pkg/boot/bootstore"
	"github.com/onekey-oss/onekey/services/payments/payments"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "payments:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string) (err error) {
	reconcile := len(args) > 0 && args[0] == "reconcile"
	var since time.Duration
	if reconcile {
		fs := flag.NewFlagSet("reconcile", flag.ContinueOnError)
		fs.DurationVar(&since, "since", 72*time.Hour, "look at events created this long ago or later (Stripe keeps 30 days)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
	} else if len(args) > 0 {
		return fmt.Errorf("unknown command %q (want no command, or reconcile)", args[0])
	}
	cfg, cerr := payments.ConfigFromEnv(getenv)
	rt, err := bootstore.Open(ctx, getenv, boot.Options{Service: "payments"}, cerr)
	if err != nil {
		return err // every problem of the environment at once
	}
	defer func() { err = errors.Join(err, rt.Close(ctx)) }()
	tel, b, st := rt.Telemetry, rt.Bus, rt.Store
	svc, err := payments.New(cfg, payments.Deps{Bus: b, Store: st, Logger: tel.Logger, MeterProvider: tel.MeterProvider, Metrics: tel.MetricsHandler()})
	if err != nil {
		return err
	}
	if reconcile {
		res, err := svc.Reconcile(ctx, time.Now().Add(-since))
		fmt.Printf("listed %d undelivered events, applied %d, failed %d\n", res.Listed, res.Applied, res.Failed)
		return err
	}
	tel.Logger.Info("payments listening", "addr", cfg.Addr)
	return svc.Run(ctx)
}
