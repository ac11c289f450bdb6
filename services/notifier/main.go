// Command notifier sends onekey's transactional mails (sign-in links,
// receipts, low balance, failed payments, rejected transfers) through
// Resend. Configuration is by environment; see notifier.ConfigFromEnv.
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
	cfg, cerr := notifier.ConfigFromEnv(getenv)
	rt, err := bootstore.Open(ctx, getenv, boot.Options{Service: "notifier"}, cerr)
	if err != nil {
		return err // every problem of the environment at once
	}
	defer func() { err = errors.Join(err, rt.Close(ctx)) }()
	tel, b, st := rt.Telemetry, rt.Bus, rt.Store
	log := tel.Logger

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
