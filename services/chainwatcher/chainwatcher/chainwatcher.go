// Package chainwatcher confirms crypto claims on chain. For each pending
// claim that payments recorded, it reads the transaction's receipt over
// JSON-RPC, finds the ERC-20 Transfer logs of an accepted token to the
// chain's deposit address from a wallet linked to the claiming account,
// waits until the block is final by the chain's rule (the "finalized" or
// "safe" block tag), re-checks that the block is still canonical, and then
// publishes tx.confirmed (id eip155:<chain id>:tx:log, events.ChainTxID).
// Anything else ends in tx.rejected with a reason.
//
// A transfer is credited once, to one account, ever: the credit is decided
// by a unique insert of its id before it is published (a transfer credited
// under the older chain-name id is found under that id), and a crash
// anywhere only makes a later pass publish the same id again, which
// JetStream and the ledger drop.
//
// A claim payments erases (its account was deleted) is never credited or
// rejected: a pass reads the pending claims, and re-reads each one before
// it credits or rejects it.
package chainwatcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.opentelemetry.io/otel/metric"

	"github.com/onekey-oss/onekey/api/cryptopay"
	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/config"
	"github.com/onekey-oss/onekey/pkg/store"
)

// ChainClient is the part of go-ethereum's ethclient chainwatcher uses. The
// simulated backend's client satisfies it too.
type ChainClient interface {
	TransactionReceipt(ctx context.Context, txHash common.Hash) (*types.Receipt, error)
	HeaderByNumber(ctx context.Context, number *big.Int) (*types.Header, error)
	ChainID(ctx context.Context) (*big.Int, error)
}

// Deps are what chainwatcher runs on.
type Deps struct {
	Bus    *bus.Bus
	Store  *store.Store
	Logger *slog.Logger
	// Clients by chain name; a chain without one is dialled at its RPCURL.
	Clients map[string]ChainClient
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// MeterProvider for chainwatcher's metrics; nil records none.
	MeterProvider metric.MeterProvider
}

// Service watches claims. Poll and Run must not run concurrently with each
// other in one process (one pass at a time); several processes are safe.
type Service struct {
	cfg     Config
	bus     *bus.Bus
	st      *store.Store
	log     *slog.Logger
	now     func() time.Time
	clients map[string]ChainClient
	closers []func()
	met     *metrics
	mu      sync.Mutex // one pass at a time
	// passed: the last pass read the pending claims (the database answers).
	passed atomic.Bool
	// reached: the last pass reached every chain's RPC endpoint (reach.go).
	reached atomic.Bool
	// bound: the streams it publishes into exist (Run waits for them).
	bound *bus.Bound

	// Touched by the checks of one pass, concurrently.
	stateMu  sync.Mutex
	chainIDs map[string]uint64   // by chain name, once read and checked
	backoff  map[string]notFound // by claim id: transactions not found yet
}

// New builds the service, dialling the chains without a client in deps.
func New(cfg Config, deps Deps) (*Service, error) {
	if deps.Bus == nil || deps.Store == nil {
		return nil, errors.New("chainwatcher: Bus and Store are required")
	}
	cfg = config.WithDefaults(cfg, DefaultConfig())
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("chainwatcher: %w", err)
	}
	s := &Service{cfg: cfg, bus: deps.Bus, st: deps.Store, log: deps.Logger, now: deps.Now, clients: map[string]ChainClient{},
		chainIDs: map[string]uint64{}, backoff: map[string]notFound{}, bound: bus.NewBound(publishStreams()...)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	met, err := newMetrics(deps.MeterProvider)
	if err != nil {
		return nil, fmt.Errorf("chainwatcher: metrics: %w", err)
	}
	s.met = met
	for _, ch := range cfg.Chains {
		if c, ok := deps.Clients[ch.Name]; ok {
			s.clients[ch.Name] = timedClient{c: c, d: cfg.RPCTimeout}
			continue
		}
		if ch.RPCURL == "" {
			s.Close()
			return nil, fmt.Errorf("chainwatcher: chain %s has no RPC URL", ch.Name)
		}
		c, err := ethclient.Dial(ch.RPCURL)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("chainwatcher: dial %s: %w", ch.Name, err)
		}
		s.clients[ch.Name] = timedClient{c: c, d: cfg.RPCTimeout}
		s.closers = append(s.closers, c.Close)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.st.EnsureIndexes(ctx, []store.Index{
		{Collection: cryptopay.CollClaims, Keys: bson.D{{Key: "status", Value: 1}}},
		{Collection: cryptopay.CollWallets, Keys: bson.D{{Key: "account_id", Value: 1}}},
	}); err != nil {
		s.Close()
		return nil, fmt.Errorf("chainwatcher: %w", err)
	}
	return s, nil
}

// Close closes the RPC clients New dialled.
func (s *Service) Close() {
	for _, c := range s.closers {
		c()
	}
	s.closers = nil
}

// Run waits until the streams it publishes into exist (declared by the
// bus admin; it never exits for that), then polls every PollInterval until
// ctx is cancelled, finishes the pass in hand and returns nil. A failed
// pass is logged and retried next time.
func (s *Service) Run(ctx context.Context) error {
	defer s.Close()
	for _, name := range publishStreams() {
		if _, err := s.bus.WaitStream(ctx, name); err != nil {
			return nil // stopped while waiting
		}
		s.bound.Mark(name)
	}
	t := time.NewTicker(s.cfg.PollInterval)
	defer t.Stop()
	for {
		if err := s.Poll(ctx); err != nil && ctx.Err() == nil {
			s.met.passErrors.Add(ctx, 1)
			s.log.Warn("chainwatcher pass", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Ready is the admin server's /readyz: the streams it publishes
// tx.confirmed and tx.rejected into exist (chainwatcher binds to no
// consumer or bucket, so it asks for the streams themselves), the bus is
// connected, and the last pass read the pending claims and reached every
// chain's RPC endpoint.
func (s *Service) Ready() bool {
	return s.bound.Ready() && s.passed.Load() && s.reached.Load() && s.bus.Conn().IsConnected()
}

// publishStreams are the streams chainwatcher publishes into.
func publishStreams() []string {
	return []string{events.StreamOf(events.FamilyTxConfirmed), events.StreamOf(events.FamilyTxRejected)}
}

// Poll makes one pass over every pending claim of the configured chains
// that is due (see poll.go), checking up to Config.Concurrency claims at
// once, each RPC call bounded by Config.RPCTimeout. Errors of one claim
// (an RPC outage) do not stop the others; they are returned joined, and
// the claim stays pending for the next pass.
func (s *Service) Poll(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	var pending []dueClaim
	for _, ch := range s.cfg.Chains {
		cur, err := s.st.Collection(cryptopay.CollClaims).Find(ctx, bson.D{{Key: "chain", Value: ch.Name}, {Key: "status", Value: events.ClaimPending}})
		if err != nil {
			errs = append(errs, fmt.Errorf("find pending claims on %s: %w", ch.Name, err))
			continue
		}
		var claims []cryptopay.Claim
		if err := cur.All(ctx, &claims); err != nil {
			errs = append(errs, fmt.Errorf("read pending claims on %s: %w", ch.Name, err))
			continue
		}
		for _, c := range claims {
			pending = append(pending, dueClaim{ch: ch, c: c})
		}
	}
	s.passed.Store(len(errs) == 0)
	reached, err := s.reach(ctx)
	if err != nil {
		errs = append(errs, err)
	}
	pending = slices.DeleteFunc(pending, func(d dueClaim) bool { return !reached[d.ch.Name] })
	errs = append(errs, s.checkAll(ctx, s.due(pending))...)
	return errors.Join(errs...)
}

// lower-case hex of an address, as stored.
func addrKey(a common.Address) string { return strings.ToLower(a.Hex()) }
