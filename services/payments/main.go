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
	"github.com/onekey-oss/onekey/pkg/bus"
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
	o := boot.Options{Service: bus.UserPayments, AdminAddr: cfg.AdminAddr}
	if reconcile {
		o.AdminAddr = "" // a one-off command serves no probes
	}
	rt, err := bootstore.Open(ctx, getenv, o, cerr)
	if err != nil {
		return err // every problem of the environment at once
	}
	defer func() { err = errors.Join(err, rt.Close(ctx)) }()
	svc, err := payments.New(cfg, payments.Deps{Bus: rt.Bus, Store: rt.Store, Logger: rt.Logger, MeterProvider: rt.Telemetry.MeterProvider})
	if err != nil {
		return err
	}
	if reconcile {
		res, err := svc.Reconcile(ctx, time.Now().Add(-since))
		fmt.Printf("listed %d undelivered events, applied %d, failed %d\n", res.Listed, res.Applied, res.Failed)
		return err
	}
	rt.Logger.Info("payments listening", "addr", svc.Addr())
	return rt.Run(ctx, svc.Run, svc.Bound)
}
