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

	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/httpx"
	"github.com/onekey-oss/onekey/pkg/store"
	"github.com/onekey-oss/onekey/pkg/telemetry"
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
	cfg, err := ledger.ConfigFromEnv(getenv)
	if err != nil {
		return err
	}
	tel, err := telemetry.Setup(ctx, telemetry.Config{
		Service: "ledger", JSONLogs: getenv("LOG_FORMAT") == "json", Level: cfg.LogLevel,
		OTLPEndpoint: getenv("OTEL_EXPORTER_OTLP_ENDPOINT"),
	})
	if err != nil {
		return err
	}
	log := tel.Logger
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		err = errors.Join(err, tel.Shutdown(sctx))
	}()

	b, err := bus.Connect(ctx, bus.Config{URL: cfg.NATSURL, Name: "ledger", Logger: log, TracerProvider: tel.TracerProvider})
	if err != nil {
		return err
	}
	defer b.Close()
	if err := b.Declare(ctx, bus.DefaultTopology()); err != nil {
		return err
	}
	st, err := store.Open(ctx, cfg.MongoURI, cfg.MongoDB, log)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		err = errors.Join(err, st.Close(sctx))
	}()

	svc, err := ledger.New(cfg, ledger.Deps{Bus: b, Store: st, Logger: log, MeterProvider: tel.MeterProvider})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", tel.MetricsHandler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
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
