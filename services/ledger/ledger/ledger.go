// Package ledger is onekey's single writer of balances. It consumes the
// usage, billing and account streams in batches, keeps the journal (one
// entry per money event, unique by event id), the account balances, the
// usage rows and their rollups in MongoDB, and publishes each changed
// balance to KV "balances", a credit.applied for each credit and a
// balance.low when a balance crosses its account's threshold.
//
// Exactly once without transactions: a batch first stores a write-ahead
// record of the entries it will insert (with each account's state before
// it), then inserts the journal entries (a duplicate event id is refused by
// the unique _id), then writes usage rows, rollups, accounts, KV and
// notifications, each idempotent on its own, then deletes the record and
// acks the messages. If the ledger stops anywhere in between, the next
// start finds the record and finishes the batch from it, and redelivered
// messages find their journal entries and change nothing.
package ledger

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/api/readmodel"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/config"
	"github.com/onekey-oss/onekey/pkg/store"
	"github.com/onekey-oss/onekey/services/ledger/internal/book"
	"github.com/onekey-oss/onekey/services/ledger/internal/ledgerdb"
)

// Config is the ledger's configuration: DefaultConfig, changed by
// ConfigFromEnv from the environment or by tests and devstack directly;
// New validates it.
type Config struct {
	// AdminAddr is where main's admin server (pkg/boot) serves /healthz,
	// /readyz (Service.Ready: the writer lease held and its consumers bound) and
	// /metrics (LEDGER_ADMIN_ADDR, or its older name LEDGER_ADDR); New
	// does not listen on it.
	AdminAddr string

	// BatchSize is the most messages applied in one batch. A batch takes
	// what is waiting, so under light load batches are small; a backlog is
	// worked off in batches of this size, whose per-batch writes (one per
	// account and rollup) are then spread over more events.
	BatchSize int
	// FreeRequests is what account.created grants.
	FreeRequests int64
	// LowBalance is the low-balance threshold given to new accounts.
	LowBalance money.Micros
	// UsageRetention is how long usage rows are kept.
	UsageRetention time.Duration
	// SweepInterval is how often expired usage rows are deleted.
	SweepInterval time.Duration
	// RetryBackoff is the wait after a failed batch before it is tried again.
	RetryBackoff time.Duration
	// LeaseTTL is how long a replica's credit lease lasts without a
	// renewal before the ledger reclaims it. It must exceed the gateways'
	// GATEWAY_LEASE_VALIDITY.
	LeaseTTL time.Duration
	// Partitions is how many partitions the accounts are split into
	// (LEDGER_PARTITIONS; the bus admin must declare the same count), and
	// Partition the one this process writes (LEDGER_PARTITION, 0 to
	// Partitions-1; required when Partitions > 1). See partition.go.
	Partitions int
	Partition  int
}

// DefaultConfig is the configuration with every default, written here
// once.
func DefaultConfig() Config {
	return Config{
		AdminAddr: "127.0.0.1:9093",
		BatchSize: 2000, FreeRequests: 20, LowBalance: money.Dollar,
		UsageRetention: 90 * 24 * time.Hour, SweepInterval: time.Hour, RetryBackoff: time.Second,
		LeaseTTL: time.Minute, Partitions: 1,
	}
}

// ConfigFromEnv reads the configuration on top of DefaultConfig, reporting
// every problem together (Validate's included). NATS_URL, MONGODB_URI,
// LOG_LEVEL and the other variables common to every service are
// pkg/boot's.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	d := DefaultConfig()
	r := config.NewReader(getenv)
	c := Config{
		AdminAddr:      r.String("LEDGER_ADMIN_ADDR", r.String("LEDGER_ADDR", d.AdminAddr)),
		BatchSize:      r.Int("LEDGER_BATCH_SIZE", d.BatchSize),
		FreeRequests:   r.Int64("LEDGER_FREE_REQUESTS", d.FreeRequests),
		LowBalance:     r.Money("LEDGER_LOW_BALANCE", d.LowBalance),
		UsageRetention: r.Duration("LEDGER_USAGE_RETENTION", d.UsageRetention),
		SweepInterval:  r.Duration("LEDGER_SWEEP_INTERVAL", d.SweepInterval),
		RetryBackoff:   r.Duration("LEDGER_RETRY_BACKOFF", d.RetryBackoff),
		LeaseTTL:       r.Duration("LEDGER_LEASE_TTL", d.LeaseTTL),
		Partitions:     r.Int("LEDGER_PARTITIONS", d.Partitions),
	}
	// One partition needs no number; with more, each process is given its
	// own (k8s: the StatefulSet pod's ordinal), never a default that two
	// processes would share without noticing (the lease would keep the
	// second one waiting for ever).
	if c.Partitions > 1 || getenv("LEDGER_PARTITION") != "" {
		c.Partition = r.Int("LEDGER_PARTITION", 0)
		if getenv("LEDGER_PARTITION") == "" {
			r.Fail("LEDGER_PARTITION is required when LEDGER_PARTITIONS=%d", c.Partitions)
		}
	}
	if err := errors.Join(r.Err(), c.Validate()); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate reports every problem of c together, each named by its
// variable. New calls it.
func (c Config) Validate() error {
	var errs []error
	if c.BatchSize < 1 || c.BatchSize > 10_000 {
		errs = append(errs, fmt.Errorf("LEDGER_BATCH_SIZE=%d must be between 1 and 10000", c.BatchSize))
	}
	if c.FreeRequests < 0 {
		errs = append(errs, fmt.Errorf("LEDGER_FREE_REQUESTS=%d must not be negative", c.FreeRequests))
	}
	if c.LowBalance < 0 {
		errs = append(errs, fmt.Errorf("LEDGER_LOW_BALANCE must not be negative"))
	}
	if c.UsageRetention < time.Hour {
		errs = append(errs, fmt.Errorf("LEDGER_USAGE_RETENTION=%v must be at least 1h", c.UsageRetention))
	}
	if c.LeaseTTL < time.Second {
		errs = append(errs, fmt.Errorf("LEDGER_LEASE_TTL=%v must be at least 1s", c.LeaseTTL))
	}
	if c.Partitions < 1 || c.Partitions > events.MaxLedgerPartitions {
		errs = append(errs, fmt.Errorf("LEDGER_PARTITIONS=%d must be between 1 and %d", c.Partitions, events.MaxLedgerPartitions))
	} else if c.Partition < 0 || c.Partition >= c.Partitions {
		errs = append(errs, fmt.Errorf("LEDGER_PARTITION=%d must be between 0 and LEDGER_PARTITIONS-1 (%d)", c.Partition, c.Partitions-1))
	}
	if c.SweepInterval <= 0 || c.RetryBackoff <= 0 {
		errs = append(errs, fmt.Errorf("LEDGER_SWEEP_INTERVAL and LEDGER_RETRY_BACKOFF must be positive"))
	}
	return errors.Join(errs...)
}

// Deps are the ledger's connections and hooks.
type Deps struct {
	Bus    *bus.Bus
	Store  *store.Store
	Logger *slog.Logger
	// MeterProvider for the ledger's metrics; nil: none.
	MeterProvider metric.MeterProvider
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// FailPoint, for tests, is called at each step of a batch with the
	// step's name; a non-nil return makes Run return that error at once,
	// without acking or cleaning up, as a crash there would.
	FailPoint func(point string) error
}

// Service is the ledger. Run it once.
type Service struct {
	cfg  Config
	bus  *bus.Bus
	st   *store.Store
	db   *ledgerdb.DB
	log  *slog.Logger
	now  func() time.Time
	fail func(string) error
	m    *metrics
	kv   jetstream.KeyValue

	writer writerState // the single-writer lease (writerlease.go)

	// accounts caches each account's state as last written. Only the
	// writer goroutine touches it, and renewed, leaseReqs and
	// lastReclaimScan.
	accounts map[string]*book.Account
	// renewed is when each replica's lease of each account was last asked
	// about, by the ledger's clock.
	renewed         map[string]map[string]time.Time
	leaseReqs       chan *nats.Msg
	lastReclaimScan time.Time
	// days caches usage_days documents as last written (views.go), and
	// readModels is set once the read models are kept for every account
	// (after the start-up backfill). Writer goroutine only.
	days       map[string]*dayState
	readModels bool
}

// New builds the ledger.
func New(cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("ledger config: %w", err)
	}
	if deps.Bus == nil || deps.Store == nil {
		return nil, errors.New("ledger: a bus and a store are required")
	}
	s := &Service{
		cfg: cfg, bus: deps.Bus, st: deps.Store, db: ledgerdb.New(deps.Store),
		log: deps.Logger, now: deps.Now, fail: deps.FailPoint,
		accounts: map[string]*book.Account{}, renewed: map[string]map[string]time.Time{},
		days: map[string]*dayState{},
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.fail == nil {
		s.fail = func(string) error { return nil }
	}
	mp := deps.MeterProvider
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	m, err := newMetrics(mp.Meter("github.com/onekey-oss/onekey/services/ledger"), s)
	if err != nil {
		return nil, err
	}
	s.m = m
	return s, nil
}

// Indexes are the indexes the ledger declares at start-up.
func (s *Service) Indexes() []store.Index {
	return append(ledgerdb.Indexes(), s.sweeper().Indexes()...)
}

func (s *Service) sweeper() *store.Sweeper {
	return store.NewSweeper(s.st, s.log, s.cfg.SweepInterval, s.now, readmodel.CollUsage, readmodel.CollUsageDays)
}
