// Command auth runs the account API (see package auth).
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
	"github.com/onekey-oss/onekey/services/auth/auth"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "auth:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, _ []string, getenv func(string) string) (err error) {
	cfg, cerr := auth.ConfigFromEnv(getenv)
	rt, err := bootstore.Open(ctx, getenv, boot.Options{Service: bus.UserAuth, AdminAddr: cfg.AdminAddr}, cerr)
	if err != nil {
		return err // every problem of the environment at once
	}
	defer func() { err = errors.Join(err, rt.Close(ctx)) }()
	svc, err := auth.New(cfg, auth.Deps{Bus: rt.Bus, Store: rt.Store, Logger: rt.Logger, MeterProvider: rt.Telemetry.MeterProvider})
	if err != nil {
		return err
	}
	return rt.Run(ctx, svc.Run, svc.Ready)
}
