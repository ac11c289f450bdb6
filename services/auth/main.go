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

	"github.com/onekey-oss/onekey/pkg/boot"
	"github.com/onekey-oss/onekey/pkg/boot/bootstore"
	"github.com/onekey-oss/onekey/pkg/httpx"
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
	rt, err := bootstore.Open(ctx, getenv, boot.Options{Service: "auth"}, cerr)
	if err != nil {
		return err // every problem of the environment at once
	}
	defer func() { err = errors.Join(err, rt.Close(ctx)) }()
	tel, b, st, log := rt.Telemetry, rt.Bus, rt.Store, rt.Telemetry.Logger

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
