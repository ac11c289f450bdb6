// Package boot opens what every service's main needs from the environment
// (telemetry, the admin server, the bus as the service's own user) and
// closes it again in reverse order, so each main.go only adds its own
// service:
//
//	cfg, cerr := ledger.ConfigFromEnv(getenv)
//	rt, err := bootstore.Open(ctx, getenv, boot.Options{Service: bus.UserLedger, AdminAddr: cfg.AdminAddr}, cerr)
//	if err != nil { return err }
//	defer func() { err = errors.Join(err, rt.Close(ctx)) }()
//	svc, err := ledger.New(cfg, ledger.Deps{...})
//	if err != nil { return err }
//	return rt.Run(ctx, svc.Run, svc.Ready)
//
// This package links no database driver, so the gateway opens through it
// (DESIGN §1); a service with a database opens through boot/bootstore,
// which adds the store.
package boot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/config"
	"github.com/onekey-oss/onekey/pkg/telemetry"
)

// Options say what a service needs.
type Options struct {
	// Service names the logs, traces, metrics and the NATS connection (its
	// bus user).
	Service string
	// AdminAddr is where the admin server listens: /healthz, /readyz,
	// /metrics. The service's ConfigFromEnv reads it from
	// <SERVICE>_ADMIN_ADDR; "" serves none.
	AdminAddr string
	// CloseTimeout bounds each step of Close (default 5 s).
	CloseTimeout time.Duration
}

// Runtime is what Open opened. Close it when the service has stopped.
type Runtime struct {
	Telemetry *telemetry.Telemetry
	Logger    *slog.Logger
	Bus       *bus.Bus
	// Admin is the admin server; nil without Options.AdminAddr.
	Admin *Admin

	timeout time.Duration
	closers []func(context.Context) error
}

// Open reads NATS_URL, NATS_CREDS_FILE, LOG_LEVEL, LOG_FORMAT and
// OTEL_EXPORTER_OTLP_ENDPOINT; sets up telemetry; starts the admin server
// (alive at once, not ready until Run); and connects to the bus as the
// user named Options.Service, waiting for it as long as ctx lasts. It
// declares nothing: the topology is the admin's (tools/busadmin declare),
// and the service binds to it, waiting while it is not there
// (bus.WaitKV, bus.WaitConsumer). configErr is the service's own
// configuration error, so that every problem of the environment is
// reported at once. On error nothing is left open.
func Open(ctx context.Context, getenv config.Getenv, o Options, configErr error) (*Runtime, error) {
	r := config.NewReader(getenv)
	bcfg := bus.ConfigFrom(r, o.Service)
	tcfg := telemetry.ConfigFrom(r, o.Service)
	if err := errors.Join(configErr, r.Err()); err != nil {
		return nil, err
	}
	rt := &Runtime{timeout: o.CloseTimeout}
	if rt.timeout <= 0 {
		rt.timeout = 5 * time.Second
	}
	fail := func(err error) (*Runtime, error) {
		return nil, errors.Join(err, rt.Close(ctx))
	}

	tel, err := telemetry.Setup(ctx, tcfg)
	if err != nil {
		return nil, err
	}
	rt.Telemetry, rt.Logger = tel, tel.Logger
	rt.OnClose(tel.Shutdown)

	if o.AdminAddr != "" {
		a, err := ServeAdmin(o.AdminAddr, tel.MetricsHandler(), tel.Logger)
		if err != nil {
			return fail(err)
		}
		rt.Admin = a
		rt.OnClose(a.Close)
		tel.Logger.Info(o.Service+" admin server listening", "addr", a.Addr())
	}

	bcfg.Logger, bcfg.TracerProvider = tel.Logger, tel.TracerProvider
	b, err := bus.Connect(ctx, bcfg)
	if err != nil {
		return fail(err)
	}
	rt.Bus = b
	rt.OnClose(func(context.Context) error { b.Close(); return nil })
	return rt, nil
}

// OnClose adds a step to Close, run before every step added earlier (the
// bus, the admin server, telemetry): what is opened on top of the runtime
// closes first.
func (rt *Runtime) OnClose(f func(context.Context) error) {
	rt.closers = append(rt.closers, f)
}

// Run runs the service until ctx ends and it has stopped, with the admin
// server's /readyz asking ready meanwhile (ready again answers 503 once
// run has returned). A context.Canceled from run is a clean exit.
func (rt *Runtime) Run(ctx context.Context, run func(context.Context) error, ready func() bool) error {
	if rt.Admin != nil {
		rt.Admin.SetReady(ready)
		defer rt.Admin.SetReady(nil)
	}
	if err := run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// Close closes, in reverse order of opening, what was opened on top of the
// runtime (OnClose), the bus connection, the admin server and telemetry
// (flushing it), each under the close timeout, even when ctx is already
// cancelled (as it is after a signal).
func (rt *Runtime) Close(ctx context.Context) error {
	var errs []error
	for i := len(rt.closers) - 1; i >= 0; i-- {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rt.timeout)
		if err := rt.closers[i](sctx); err != nil {
			errs = append(errs, err)
		}
		cancel()
	}
	rt.closers = nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}
