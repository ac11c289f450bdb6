// Command gateway runs onekey's OpenAI-compatible routing engine.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/onekey-oss/onekey/pkg/boot"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/services/gateway/gateway"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, _ []string, getenv func(string) string) (err error) {
	cfg, cerr := gateway.ConfigFromEnv(getenv)
	// pkg/boot, not boot/bootstore: the gateway's binary holds no database
	// driver (DESIGN §1; TestModule_LinksNoDatabaseDriver).
	rt, err := boot.Open(ctx, getenv, boot.Options{Service: bus.UserGateway, AdminAddr: cfg.AdminAddr}, cerr)
	if err != nil {
		return err // every problem of the environment at once
	}
	defer func() { err = errors.Join(err, rt.Close(ctx)) }()
	svc, err := gateway.New(cfg, gateway.Deps{Bus: rt.Bus, Logger: rt.Logger, MeterProvider: rt.Telemetry.MeterProvider})
	if err != nil {
		return err
	}
	rt.Logger.Info("gateway listening", "addr", svc.Addr(), "channels", len(cfg.Channels))
	// Ready once bound to KV apikeys and balances (tools/busadmin declares
	// them; until then the gateway waits, not ready, and never exits).
	return rt.Run(ctx, svc.Run, svc.Ready)
}
