// Package stack runs every onekey service in one process on the embedded
// bus and database. It is what `go run ./tools/devstack` calls, and what the
// devstack tests start and stop.
package stack

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/onekey-oss/onekey/services/auth/auth"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/store"
	"github.com/onekey-oss/onekey/pkg/telemetry"
	"github.com/onekey-oss/onekey/services/gateway/gateway"
	"github.com/onekey-oss/onekey/services/payments/payments"
)

// Config is devstack's flags.
type Config struct {
	DataDir     string
	GatewayAddr string
	// GatewayAdminAddr serves the gateway's /metrics (with every devstack
	// service's metrics), /healthz and /readyz; "" for none.
	GatewayAdminAddr string
	AccountAddr      string
	PaymentsAddr     string
	NATSAddr         string
	MongoAddr        string
	// LedgerPartitions runs that many ledger partitions (LEDGER_PARTITIONS),
	// one writer each; 0 or 1: one.
	LedgerPartitions int
	LogLevel         slog.Level
	// LogOutput receives the services' logs (stderr when nil).
	LogOutput io.Writer
	// Getenv gives services the environment for what devstack has no flag
	// for (provider keys, RESEND_API_KEY, STRIPE_*); nil means an empty
	// environment, which is what tests want.
	Getenv func(string) string
}

// ParseFlags reads devstack's command line.
func ParseFlags(args []string, errOut io.Writer) (Config, error) {
	fs := flag.NewFlagSet("devstack", flag.ContinueOnError)
	fs.SetOutput(errOut)
	var c Config
	var level string
	fs.StringVar(&c.DataDir, "data", ".onekey", "directory for all data (bus, database, outboxes, demo key); a restart reuses it")
	gw := gateway.DefaultConfig()
	fs.StringVar(&c.GatewayAddr, "gateway-addr", gw.Addr, "address of the OpenAI-compatible gateway")
	fs.StringVar(&c.GatewayAdminAddr, "gateway-admin-addr", gw.AdminAddr, "address of the gateway's admin listener: /metrics, /healthz, /readyz (empty: none)")
	fs.StringVar(&c.AccountAddr, "account-addr", auth.DefaultConfig().Addr, "address of the account API (auth)")
	fs.StringVar(&c.PaymentsAddr, "payments-addr", payments.DefaultConfig().Addr, "address of the payments webhooks")
	fs.StringVar(&c.NATSAddr, "nats-addr", "127.0.0.1:0", "address of the embedded NATS server (port 0: any free port)")
	fs.StringVar(&c.MongoAddr, "mongo-addr", "127.0.0.1:0", "address of the embedded FerretDB (MongoDB protocol; port 0: any free port)")
	fs.IntVar(&c.LedgerPartitions, "ledger-partitions", 1, "ledger partitions, each with its own writer (LEDGER_PARTITIONS; change it on a fresh --data, or as the README's Operations say)")
	fs.StringVar(&level, "log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	l, err := telemetry.ParseLevel(level)
	if err != nil {
		return Config{}, err
	}
	c.LogLevel = l
	return c, nil
}

// Run starts everything, prints where each part listens and the demo key,
// and blocks until ctx is cancelled; then it stops the services, then the
// clients, then the embedded servers, and returns nil on a clean stop.
func Run(ctx context.Context, cfg Config, out io.Writer) (err error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	logOut := cfg.LogOutput
	if logOut == nil {
		logOut = os.Stderr
	}
	otlp := ""
	if cfg.Getenv != nil {
		otlp = cfg.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	tel, err := telemetry.Setup(ctx, telemetry.Config{Service: "devstack", Level: cfg.LogLevel, Output: logOut, OTLPEndpoint: otlp})
	if err != nil {
		return err
	}
	log := tel.Logger

	// Clean-up runs in reverse order of start-up, each step bounded.
	closers := []func(context.Context) error{tel.Shutdown}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		var errs []error
		for i := len(closers) - 1; i >= 0; i-- {
			if cerr := closers[i](sctx); cerr != nil {
				errs = append(errs, cerr)
			}
		}
		err = errors.Join(append([]error{err}, errs...)...)
	}()

	host, port, err := splitAddr(cfg.NATSAddr)
	if err != nil {
		return fmt.Errorf("--nats-addr: %w", err)
	}
	// One bus user per service, with its permissions on, as in production:
	// each credentials file is <data>/creds/<user>.nk, so another process
	// (a second gateway) can join with NATS_CREDS_FILE.
	creds, err := bus.LoadOrCreateCredentials(CredsDir(cfg.DataDir))
	if err != nil {
		return err
	}
	users, err := creds.PublicKeys()
	if err != nil {
		return err
	}
	ns, err := bus.StartEmbedded(bus.EmbeddedConfig{DataDir: filepath.Join(cfg.DataDir, "nats"), Host: host, Port: port, Logger: log.With("part", "nats"), Users: users})
	if err != nil {
		return err
	}
	closers = append(closers, func(context.Context) error { ns.Shutdown(); return nil })

	db, err := store.StartEmbedded(ctx, store.EmbeddedConfig{DataDir: filepath.Join(cfg.DataDir, "db"), Addr: cfg.MongoAddr, Logger: log.With("part", "ferretdb")})
	if err != nil {
		return err
	}
	closers = append(closers, db.Close)

	// devstack's own connection is the admin's: it declares the topology,
	// as tools/busadmin declare does in production.
	b, err := bus.Connect(ctx, bus.Config{URL: ns.ClientURL(), Name: "devstack", User: bus.UserAdmin, Seed: creds[bus.UserAdmin], Logger: log, TracerProvider: tel.TracerProvider})
	if err != nil {
		return err
	}
	closers = append(closers, func(context.Context) error { b.Close(); return nil })
	top := bus.DefaultTopology()
	top.LedgerPartitions = max(cfg.LedgerPartitions, 1)
	if err := b.Declare(ctx, top); err != nil {
		return err
	}
	var conns []*bus.Bus
	closers = append(closers, func(context.Context) error {
		for _, c := range conns {
			c.Close()
		}
		return nil
	})
	connectAs := func(user string) (*bus.Bus, error) {
		c, err := bus.Connect(ctx, bus.Config{URL: ns.ClientURL(), Name: user, User: user, Seed: creds[user], Logger: log.With("part", user), TracerProvider: tel.TracerProvider})
		if err != nil {
			return nil, err
		}
		conns = append(conns, c)
		return c, nil
	}
	st, err := store.Open(ctx, db.URI(), "onekey", log)
	if err != nil {
		return err
	}
	closers = append(closers, st.Close)

	getenv := cfg.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	env := &Env{Bus: b, ConnectAs: connectAs, Store: st, Telemetry: tel, Config: cfg, Getenv: getenv, Out: out}
	svcCtx, stopServices := context.WithCancel(ctx)
	var wg sync.WaitGroup
	errc := make(chan error, 16)
	closers = append(closers, func(sctx context.Context) error {
		stopServices()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
			return nil
		case <-sctx.Done():
			return errors.New("services did not stop within 5s")
		}
	})
	runners, err := services(env)
	if err != nil {
		return err
	}
	for _, r := range runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if rerr := r.run(svcCtx); rerr != nil {
				errc <- fmt.Errorf("%s: %w", r.name, rerr)
			}
		}()
	}
	demo, err := ensureDemo(ctx, env)
	if err != nil {
		return err
	}

	fmt.Fprintf(out, "onekey devstack is up (data in %s)\n", cfg.DataDir)
	fmt.Fprintf(out, "  NATS JetStream   %s (embedded)\n", ns.ClientURL())
	fmt.Fprintf(out, "  MongoDB protocol %s (embedded FerretDB)\n", db.URI())
	fmt.Fprintf(out, "  bus credentials  %s (NATS_CREDS_FILE of another process)\n", bus.CredsFile(CredsDir(cfg.DataDir), "<user>"))
	for _, r := range runners {
		if r.addr != "" {
			fmt.Fprintf(out, "  %-16s %s\n", r.name, r.addr)
		} else {
			fmt.Fprintf(out, "  %-16s running\n", r.name)
		}
	}
	fmt.Fprintf(out, "demo account %s with project %s\n", demo.AccountID, demo.ProjectID)
	fmt.Fprintf(out, "demo API key: %s\n", demo.Key)
	fmt.Fprintf(out, "  (also in %s)\n", filepath.Join(cfg.DataDir, "demo-key"))
	fmt.Fprintln(out, "press Ctrl-C to stop")

	select {
	case <-ctx.Done():
		log.Info("stopping")
		return nil
	case rerr := <-errc:
		return rerr
	}
}

// CredsDir is where devstack keeps each bus user's credentials file
// (<user>.nk) under its data directory.
func CredsDir(dataDir string) string { return filepath.Join(dataDir, "creds") }

// Env is what the services are built from.
type Env struct {
	// Bus is devstack's own connection, the bus admin's.
	Bus *bus.Bus
	// ConnectAs connects as a service's bus user (bus.UserGateway...).
	ConnectAs func(user string) (*bus.Bus, error)
	Store     *store.Store
	Telemetry *telemetry.Telemetry
	Config    Config
	// Getenv reads the environment devstack was started with (never nil).
	Getenv func(string) string
	// Out is devstack's own console, for what a person must see (a sign-in
	// link printed by the notifier's outbox).
	Out io.Writer
	// auth is the account service once built: the demo account is opened
	// through it, so that its key lives in auth's database like any other.
	auth *auth.Service
}

// runner is one service running in devstack.
type runner struct {
	name string
	addr string
	run  func(context.Context) error
}
