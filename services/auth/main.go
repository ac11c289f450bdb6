// Command auth runs the account API (see package auth).
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
	"github.com/onekey-oss/onekey/pkg/store"
	"github.com/onekey-oss/onekey/pkg/telemetry"
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

func run(ctx context.Context, _ []string, getenv func(string) string) error {
	cfg, err := auth.ConfigFromEnv(getenv)
	if err != nil {
		return err
	}
	r := config.NewReader(getenv)
	level, lerr := telemetry.ParseLevel(r.String("LOG_LEVEL", "info"))
	if lerr != nil {
		return lerr
	}
	tcfg := telemetry.Config{Service: "auth", JSONLogs: r.Bool("LOG_JSON", true), Level: level, OTLPEndpoint: r.String("OTEL_EXPORTER_OTLP_ENDPOINT", "")}
	topo := bus.TopologyFrom(r)
	if err := r.Err(); err != nil {
		return err
	}
	tel, err := telemetry.Setup(ctx, tcfg)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = tel.Shutdown(sctx)
	}()
	log := tel.Logger

	b, err := bus.Connect(ctx, bus.Config{URL: cfg.NATSURL, Name: "auth", Logger: log, TracerProvider: tel.TracerProvider})
	if err != nil {
		return err
	}
	defer b.Close()
	if err := b.Declare(ctx, topo); err != nil {
		return err
	}
	st, err := store.Open(ctx, cfg.MongoURI, cfg.MongoDB, log)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = st.Close(sctx)
	}()

	svc, err := auth.New(cfg, auth.Deps{Bus: b, Store: st, Logger: log})
	if err != nil {
		return err
	}
	return svc.Run(ctx)
}
