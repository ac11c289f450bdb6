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
	bcfg := bus.ConfigFrom(r, bus.UserGateway)
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
	// Connect waits for the bus as long as it takes (a signal ends it); the
	// gateway declares nothing and binds to its buckets in the background,
	// not ready on /readyz until it has (tools/busadmin declares them).
	bcfg.Logger, bcfg.TracerProvider = tel.Logger, tel.TracerProvider
	b, err := bus.Connect(ctx, bcfg)
	if err != nil {
		return err
	}
	defer b.Close()
	svc, err := gateway.New(cfg, gateway.Deps{Bus: b, Logger: tel.Logger, Metrics: tel.MetricsHandler(), MeterProvider: tel.MeterProvider})
	if err != nil {
		return err
	}
	tel.Logger.Info("gateway listening", "addr", svc.Addr(), "channels", len(cfg.Channels))
	return svc.Run(ctx)
}
