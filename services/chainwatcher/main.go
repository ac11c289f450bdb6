// Command chainwatcher confirms crypto claims on chain (see package
// chainwatcher).
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
	"github.com/onekey-oss/onekey/services/chainwatcher/chainwatcher"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "chainwatcher:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string) (err error) {
	if len(args) > 0 {
		return fmt.Errorf("unexpected arguments %q", args)
	}
	cfg, cerr := chainwatcher.ConfigFromEnv(getenv)
	rt, err := bootstore.Open(ctx, getenv, boot.Options{Service: bus.UserChainwatcher, AdminAddr: cfg.AdminAddr}, cerr)
	if err != nil {
		return err // every problem of the environment at once
	}
	defer func() { err = errors.Join(err, rt.Close(ctx)) }()
	svc, err := chainwatcher.New(cfg, chainwatcher.Deps{Bus: rt.Bus, Store: rt.Store, Logger: rt.Logger, MeterProvider: rt.Telemetry.MeterProvider})
	if err != nil {
		return err
	}
	return rt.Run(ctx, svc.Run, svc.Ready)
}
