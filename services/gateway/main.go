// Command gateway runs onekey's OpenAI-compatible routing engine.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/config"
	"github.com/onekey-oss/onekey/pkg/telemetry"
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

func run(ctx context.Context, _ []string, getenv func(string) string) error {
	cfg, err := gateway.ConfigFromEnv(getenv)
	if err != nil {
		return err
	}
	r := config.NewReader(getenv)
	tcfg := telemetry.ConfigFrom(r, "gateway")
	topology := bus.TopologyFrom(r)
	if err := r.Err(); err != nil {
		return err
	}
	// Not pkg/boot: it links the database driver, and the gateway's binary
	// holds none (DESIGN §1; TestModule_LinksNoDatabaseDriver).
	tel, err := telemetry.Setup(ctx, tcfg)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = tel.Shutdown(sctx)
	}()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	b, err := bus.Connect(cctx, bus.Config{URL: cfg.NATSURL, Name: "gateway", Logger: tel.Logger, TracerProvider: tel.TracerProvider})
	if err != nil {
		return err
	}
	defer b.Close()
	if err := b.Declare(cctx, topology); err != nil {
		return err
	}
	svc, err := gateway.New(cfg, gateway.Deps{Bus: b, Logger: tel.Logger, Metrics: tel.MetricsHandler(), MeterProvider: tel.MeterProvider})
	if err != nil {
		return err
	}
	tel.Logger.Info("gateway listening", "addr", svc.Addr(), "channels", len(cfg.Channels))
	return svc.Run(ctx)
}
