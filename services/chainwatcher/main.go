// Command chainwatcher confirms crypto claims on chain (see package
// chainwatcher).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/config"
	"github.com/onekey-oss/onekey/pkg/store"
	"github.com/onekey-oss/onekey/pkg/telemetry"
	"github.com/onekey-oss/onekey/services/chainwatcher/chainwatcher"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "chainwatcher:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string) (err error) {
	if len(args) > 0 {
		return fmt.Errorf("unexpected arguments %q", args)
	}
	cfg, err := chainwatcher.ConfigFromEnv(getenv)
	r := config.NewReader(getenv)
	tcfg := telemetry.ConfigFrom(r, "chainwatcher")
	topo := bus.TopologyFrom(r)
	if err = errors.Join(err, r.Err()); err != nil {
		return err
	}
	tel, err := telemetry.Setup(ctx, tcfg)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		err = errors.Join(err, tel.Shutdown(sctx))
	}()
	b, err := bus.Connect(ctx, bus.Config{URL: cfg.NATSURL, Name: "chainwatcher", Logger: tel.Logger, TracerProvider: tel.TracerProvider})
	if err != nil {
		return err
	}
	defer b.Close()
	if err := b.Declare(ctx, topo); err != nil {
		return err
	}
	st, err := store.Open(ctx, cfg.MongoURI, cfg.MongoDB, tel.Logger)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		err = errors.Join(err, st.Close(sctx))
	}()
	svc, err := chainwatcher.New(cfg, chainwatcher.Deps{Bus: b, Store: st, Logger: tel.Logger, MeterProvider: tel.MeterProvider, Metrics: tel.MetricsHandler()})
	if err != nil {
		return err
	}
	return svc.Run(ctx)
}
