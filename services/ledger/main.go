// Command ledger runs onekey's ledger: the single writer of balances.
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
	"github.com/onekey-oss/onekey/services/ledger/ledger"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "ledger:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, _ []string, getenv func(string) string) (err error) {
	cfg, cerr := ledger.ConfigFromEnv(getenv)
	rt, err := bootstore.Open(ctx, getenv, boot.Options{Service: bus.UserLedger, AdminAddr: cfg.AdminAddr}, cerr)
	if err != nil {
		return err // every problem of the environment at once
	}
	defer func() { err = errors.Join(err, rt.Close(ctx)) }()
	svc, err := ledger.New(cfg, ledger.Deps{Bus: rt.Bus, Store: rt.Store, Logger: rt.Logger, MeterProvider: rt.Telemetry.MeterProvider})
	if err != nil {
		return err
	}
	// Ready while this process holds its partition's writer lease and is
	// bound to its consumers and bucket balances.
	return rt.Run(ctx, svc.Run, svc.Ready)
}
