// Package boot opens what every service's main needs from the environment
// (telemetry, the bus as the service's own user, the database) and closes
// it again in reverse order, so each main.go only adds its own service.
package boot

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/config"
	"github.com/onekey-oss/onekey/pkg/store"
	"github.com/onekey-oss/onekey/pkg/telemetry"
)

// Options say what a service needs.
type Options struct {
	// Service names the logs, traces, metrics and the NATS connection.
	Service string
	// Store opens MONGODB_URI (database MONGODB_DB, default "onekey"). The
	// gateway leaves it false: it gets no database (DESIGN §1).
	Store bool
	// CloseTimeout bounds each step of Close (default 5 s).
	CloseTimeout time.Duration
}

// Runtime is what Open opened. Close it when the service has stopped.
type Runtime struct {
	Telemetry *telemetry.Telemetry
	Bus       *bus.Bus
	// Store is nil unless Options.Store.
	Store *store.Store

	timeout time.Duration
	closers []func(context.Context) error
}

// Open reads NATS_URL, NATS_CREDS_FILE, LOG_LEVEL, LOG_FORMAT,
// OTEL_EXPORTER_OTLP_ENDPOINT and, with Options.Store, MONGODB_URI and
// MONGODB_DB; sets up telemetry; connects to the bus as the user named
// Options.Service; and opens the database. It declares nothing: the
// topology is the admin's (tools/busadmin declare), and the service binds
// to it, waiting while it is not there (bus.WaitKV, bus.WaitConsumer). configErr is the service's own
// configuration error, so that every problem of the environment is
// reported at once. On error nothing is left open.
func Open(ctx context.Context, getenv config.Getenv, o Options, configErr error) (*Runtime, error) {
	r := config.NewReader(getenv)
	bcfg := bus.ConfigFrom(r, o.Service)
	tcfg := telemetry.ConfigFrom(r, o.Service)
	var mongoURI, mongoDB string
	if o.Store {
		mongoURI = r.Required("MONGODB_URI")
		mongoDB = r.String("MONGODB_DB", "onekey")
	}
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
	rt.Telemetry = tel
	rt.closers = append(rt.closers, tel.Shutdown)

	bcfg.Logger, bcfg.TracerProvider = tel.Logger, tel.TracerProvider
	b, err := bus.Connect(ctx, bcfg)
	if err != nil {
		return fail(err)
	}
	rt.Bus = b
	rt.closers = append(rt.closers, func(context.Context) error { b.Close(); return nil })

	if o.Store {
		st, err := store.Open(ctx, mongoURI, mongoDB, tel.Logger)
		if err != nil {
			return fail(err)
		}
		rt.Store = st
		rt.closers = append(rt.closers, st.Close)
	}
	return rt, nil
}

// Close closes the database, the bus connection and telemetry (flushing
// it), in that order, each under the close timeout, even when ctx is
// already cancelled (as it is after a signal).
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
