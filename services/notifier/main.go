// Command notifier sends onekey's transactional mails (sign-in links,
// receipts, low balance, failed payments, rejected transfers) through
// Resend. Configuration is by environment; see notifier.ConfigFromEnv.
package main

import (
	"context"
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
	"github.com/onekey-oss/onekey/services/notifier/notifier"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "notifier:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, _ []string, getenv func(string) string) (err error) {
	cfg, err := notifier.ConfigFromEnv(getenv)
	if err != nil {
		return err
	}
	r := config.NewReader(getenv)
	topology := bus.TopologyFrom(r)
	tcfg := telemetry.ConfigFrom(r, "notifier")
	if err := r.Err(); err != nil {
		return err
	}

	tel, err := telemetry.Setup(ctx, tcfg)
	if err != nil {
		return err
	}
	// Closed last, each under its own bound, in reverse order of opening.
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if serr := tel.Shutdown(sctx); serr != nil && err == nil {
			err = serr
		}
	}()
	log := tel.Logger

	b, err := bus.Connect(ctx, bus.Config{URL: cfg.NATSURL, Name: "notifier", Logger: log, TracerProvider: tel.TracerProvider})
	if err != nil {
		return err
	}
	defer b.Close()
	if err := b.Declare(ctx, topology); err != nil {
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

	svc, err := notifier.New(cfg, notifier.Deps{Bus: b, Store: st, Logger: log, MeterProvider: tel.MeterProvider, Console: os.Stdout})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", tel.MetricsHandler())
	mux.Handle("/", svc.Handler())
	ln, err := httpx.Listen(cfg.Addr)
	if err != nil {
		return err
	}
	srvCtx, stopServer := context.WithCancel(context.WithoutCancel(ctx))
	srvDone := make(chan error, 1)
	go func() { srvDone <- httpx.Serve(srvCtx, httpx.NewServer(mux, httpx.ServerConfig{}), ln, 5*time.Second) }()

	runErr := svc.Run(ctx)
	// The probes answer until the consumers have stopped, then go.
	stopServer()
	if serr := <-srvDone; runErr == nil {
		runErr = serr
	}
	return runErr
}
