// Command ledger runs onekey's ledger: the single writer of balances.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/onekey-oss/onekey/pkg/boot"
	"github.com/onekey-oss/onekey/pkg/boot/bootstore"
	"github.com/onekey-oss/onekey/pkg/httpx"
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
	rt, err := bootstore.Open(ctx, getenv, boot.Options{Service: "ledger"}, cerr)
	if err != nil {
		return err // every problem of the environment at once
	}
	defer func() { err = errors.Join(err, rt.Close(ctx)) }()
	tel, b, st, log := rt.Telemetry, rt.Bus, rt.Store, rt.Telemetry.Logger

	svc, err := ledger.New(cfg, ledger.Deps{Bus: b, Store: st, Logger: log, MeterProvider: tel.MeterProvider})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", tel.MetricsHandler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	// Ready only while this process holds the single-writer lease.
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !svc.Writing() {
			http.Error(w, "waiting for the writer lease", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	ln, err := httpx.Listen(cfg.Addr)
	if err != nil {
		return err
	}
	log.Info("ledger started", "metrics", "http://"+ln.Addr().String()+"/metrics")

	var wg sync.WaitGroup
	var httpErr error
	wg.Go(func() { httpErr = httpx.Serve(ctx, httpx.NewServer(mux, httpx.ServerConfig{}), ln, 5*time.Second) })
	runErr := svc.Run(ctx)
	wg.Wait()
	return errors.Join(runErr, httpErr)
}
