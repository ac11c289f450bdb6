// Command auth runs the account API (see package auth).
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/config"
	"github.com/onekey-oss/onekey/pkg/httpx"
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
	cfg, cerr := auth.ConfigFromEnv(getenv)
	r := config.NewReader(getenv)
	tcfg := telemetry.ConfigFrom(r, "auth")
	topo := bus.TopologyFrom(r)
	if err := errors.Join(cerr, r.Err()); err != nil {
		return err // every problem of the environment at once
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

	svc, err := auth.New(cfg, auth.Deps{Bus: b, Store: st, Logger: log, MeterProvider: tel.MeterProvider})
	if err != nil {
		return err
	}
	if cfg.MetricsAddr == "" {
		return svc.Run(ctx)
	}
	ln, err := httpx.Listen(cfg.MetricsAddr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", tel.MetricsHandler())
	mctx, stopMetrics := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- httpx.Serve(mctx, httpx.NewServer(mux, httpx.ServerConfig{}), ln, 5*time.Second) }()
	err = svc.Run(ctx)
	stopMetrics() // also when Run failed on its own
	return errors.Join(err, <-errc)
}
