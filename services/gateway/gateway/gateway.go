// Package gateway is onekey's routing engine: an OpenAI-compatible (and, for
// Claude models, Anthropic-compatible) HTTP API in front of OpenAI,
// Anthropic, Google and xAI.
//
// Per request it reads the API key and looks its hash up in memory (a watch
// of KV apikeys), reads only model, stream, n and the output limits from the
// body (and, when it has any, where its media parts are), checks the
// per-key rate limit and spend cap, holds the request's worst-case cost
// against the account's balance (a watch of KV balances), lowering the
// output limit it sends when the balance covers less, forwards the body
// bytes to a provider channel with the provider's own key, streams the
// answer back event by event while reading the provider's usage as it
// passes (to its end, even when the client has left), and, after the
// response, hands one usage.recorded event to an outbox that publishes it to
// JetStream. Nothing on the request path waits for the bus or a database;
// the gateway has no database.
//
// Request and response content is never logged, stored or published.
package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/metric"

	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/config"
	"github.com/onekey-oss/onekey/pkg/httpx"
	"github.com/onekey-oss/onekey/pkg/ids"
	"github.com/onekey-oss/onekey/services/gateway/internal/channel"
	"github.com/onekey-oss/onekey/services/gateway/internal/credit"
	"github.com/onekey-oss/onekey/services/gateway/internal/kvview"
	"github.com/onekey-oss/onekey/services/gateway/internal/outbox"
)

// Deps are the gateway's collaborators.
type Deps struct {
	// Bus is the connection to NATS (required).
	Bus *bus.Bus
	// Logger; nil discards.
	Logger *slog.Logger
	// Catalog overrides the one loaded from Config.CatalogFile.
	Catalog *catalog.Catalog
	// MeterProvider records the gateway's metrics; nil records none.
	MeterProvider metric.MeterProvider
	// Transport to the providers; nil builds one from the timeouts.
	Transport http.RoundTripper
	// SingleReplicaCredit admits against the balances view alone, without
	// credit leases from the ledger: for this module's tests, which run no
	// ledger. Never in production (several replicas would overspend).
	SingleReplicaCredit bool
}

// Service is a configured gateway. Create it with New, then call Run.
type Service struct {
	cfg Config
	// replica names this gateway process (random at start): usage events
	// carry it, and the ledger counts their cost against its lease.
	replica string
	log     *slog.Logger
	bus     *bus.Bus
	cat     *catalog.Catalog
	chans   *channel.Set
	keys    *kvview.View[events.APIKeyV1]
	bals    *kvview.View[events.BalanceV1]
	book    *credit.Book
	limiter *credit.Limiter
	// counts limits count_tokens per key, apart from the key's own RPM.
	counts *credit.Limiter
	// store binds stored Responses API responses to accounts.
	store *responseStore
	// bound: the buckets it binds to beyond the two views (KV responses
	// with GATEWAY_RESPONSES_STORE), for Ready.
	bound   *bus.Bound
	bodies  bodyBudget
	out     *outbox.Outbox
	client  *http.Client
	meters  *meters
	handler http.Handler
	ln      net.Listener
	// finishing counts the forwarding requests in flight and their
	// settlements and usage events, which run after the response has ended.
	finishing sync.WaitGroup
	// life bounds the upstream exchanges, which do not depend on their
	// clients: Run ends it once the drain of requests is over.
	life     context.Context
	stopLife context.CancelFunc

	modelsJSON []byte
	modelJSON  map[string][]byte
}

// New builds the gateway. When cfg.Addr is set it also opens the listener,
// so Addr is known before Run.
func New(cfg Config, deps Deps) (*Service, error) {
	cfg = config.WithDefaults(cfg, DefaultConfig())
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	cfg.Retries = max(cfg.Retries, 0) // negative: none
	if deps.Bus == nil {
		return nil, errors.New("gateway: Deps.Bus is required")
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cat := deps.Catalog
	if cat == nil {
		var err error
		if cat, err = catalog.LoadFile(cfg.CatalogFile); err != nil {
			return nil, fmt.Errorf("gateway: %w", err)
		}
	}
	s := &Service{
		cfg: cfg, replica: ids.New("gw"), log: log, bus: deps.Bus, cat: cat, chans: buildChannels(cfg.Channels),
		limiter: credit.NewLimiter(nil), counts: credit.NewLimiter(nil),
	}
	s.bodies.max = cfg.MaxInflightBodyBytes
	s.store = &responseStore{on: cfg.ResponsesStore, bus: deps.Bus, timeout: 3 * time.Second, log: log}
	s.bound = bus.NewBound(s.store.buckets()...)
	s.life, s.stopLife = context.WithCancel(context.Background())
	b := deps.Bus
	s.keys = kvview.New(events.BucketAPIKeys, func(ctx context.Context) (jetstream.KeyValue, error) {
		return b.WaitKV(ctx, events.BucketAPIKeys)
	}, kvview.Options[events.APIKeyV1]{Decode: decode[events.APIKeyV1], Connected: b.Conn().IsConnected, Logger: log})
	s.bals = kvview.New(events.BucketBalances, func(ctx context.Context) (jetstream.KeyValue, error) {
		return b.WaitKV(ctx, events.BucketBalances)
	}, kvview.Options[events.BalanceV1]{
		Decode: decode[events.BalanceV1],
		Newer:  func(cur, next events.BalanceV1) bool { return next.Seq >= cur.Seq },
		OnChange: func(account string, v events.BalanceV1, deleted bool) {
			if !deleted {
				s.book.BalanceChanged(account, v)
			}
		},
		Connected: b.Conn().IsConnected,
		Logger:    log,
	})
	cc := credit.Config{Replica: s.replica, FreeCap: cfg.FreeRequestMaxMicros, Validity: cfg.LeaseValidity, Timeout: cfg.LeaseTimeout}
	if !deps.SingleReplicaCredit {
		cc.Leaser = busLeaser{b}
	}
	s.book = credit.NewBook(s.bals, cc)
	out, err := outbox.New(b, outbox.Config{Dir: cfg.OutboxDir, MaxBytes: cfg.OutboxMaxBytes, AckTimeout: cfg.PublishTimeout, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	s.out = out
	if s.meters, err = newMeters(deps.MeterProvider, out.Spilled, s.BodyBytesInFlight); err != nil {
		return nil, fmt.Errorf("gateway: metrics: %w", err)
	}
	tr := deps.Transport
	if tr == nil {
		tr = newTransport(cfg)
	}
	s.client = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if err := s.buildModels(); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	s.handler = s.routes()
	if cfg.Addr != "" {
		ln, err := httpx.Listen(cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("gateway: %w", err)
		}
		s.ln = ln
	}
	return s, nil
}

func decode[T any](raw []byte) (T, error) {
	var v T
	err := json.Unmarshal(raw, &v)
	return v, err
}

func newTransport(cfg Config) *http.Transport {
	d := &net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   cfg.ConnectTimeout,
		ResponseHeaderTimeout: cfg.FirstByteTimeout,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// Addr is the address the gateway listens on ("" without a listener).
func (s *Service) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// OutboxSpilled is how many bytes of usage events wait on disk for the bus.
func (s *Service) OutboxSpilled() int64 { return s.out.Spilled() }

// Handler serves the gateway's HTTP API. Without cfg.Addr the caller serves
// it, and must stop serving it before cancelling Run's context: Run then
// waits for the requests' settlements and flushes their usage events.
func (s *Service) Handler() http.Handler { return s.handler }

// Ready reports whether the key and balance views are loaded (the gateway
// has bound to its KV buckets), KV responses is bound when stored
// responses are on, and the bus is connected: /readyz on the public
// listener and on main's admin server.
func (s *Service) Ready() bool {
	if !s.bound.Ready() {
		return false
	}
	select {
	case <-s.keys.Ready():
	default:
		return false
	}
	select {
	case <-s.bals.Ready():
	default:
		return false
	}
	return s.bus.Conn().IsConnected()
}

// Run watches the KV buckets, publishes usage events and, with a listener,
// serves HTTP until ctx ends. Then, in order: it stops accepting requests
// and waits for those in flight (ShutdownTimeout), lets
// the outbox publish or spill every usage event, and stops the watches. It
// returns nil after a clean shutdown.
func (s *Service) Run(ctx context.Context) error {
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()
	var wg sync.WaitGroup
	wg.Go(func() { _ = s.keys.Run(bg) })
	wg.Go(func() { _ = s.bals.Run(bg) })
	wg.Go(func() { s.book.Maintain(bg) })
	for _, b := range s.store.buckets() {
		wg.Go(func() {
			if _, err := s.bus.WaitKV(bg, b); err == nil {
				s.bound.Mark(b)
			}
		})
	}
	outCtx, stopOut := context.WithCancel(context.WithoutCancel(ctx))
	defer stopOut()
	outDone := make(chan error, 1)
	go func() { outDone <- s.out.Run(outCtx) }()

	var serveErr error
	if s.ln != nil {
		srv := httpx.NewServer(s.handler, httpx.ServerConfig{ReadHeaderTimeout: s.cfg.HeaderTimeout, ShutdownTimeout: s.cfg.ShutdownTimeout})
		srv.ErrorLog = slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)
		serveErr = httpx.Serve(ctx, srv, s.ln, s.cfg.ShutdownTimeout)
	} else {
		<-ctx.Done()
	}
	// The drain is over: upstream exchanges still running (their clients
	// may have left) are cut, and billed from what was read. Once they and
	// the settlements have ended, every usage event is in the outbox.
	s.stopLife()
	s.finishing.Wait()
	stopOut()
	outErr := <-outDone
	// Every usage event is on the bus (or spilled): give back the unused
	// part of each credit lease.
	retCtx, cancelRet := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	if n := s.book.ReturnAll(retCtx); n > 0 {
		s.log.Warn("credit leases not returned; the ledger reclaims them after its TTL", "leases", n)
	}
	cancelRet()
	stopBG()
	wg.Wait()
	s.client.CloseIdleConnections()
	return errors.Join(serveErr, outErr)
}

// newRequestID is the id of one request: the x-request-id header, the usage
// event's id and its Nats-Msg-Id.
func newRequestID() string { return ids.New("req") }

// busLeaser asks the ledger for credit leases over core NATS request/reply.
// The ledger answers once the batch holding the request is written, maybe
// after its connection moved to another node: the answer comes to the
// gateway's deferred inbox (bus.RequestDeferred).
type busLeaser struct{ b *bus.Bus }

func (l busLeaser) Lease(ctx context.Context, r events.LeaseRequestV1) (events.LeaseV1, error) {
	subj, err := r.EventSubject()
	if err != nil {
		return events.LeaseV1{}, err
	}
	raw, err := json.Marshal(r)
	if err != nil {
		return events.LeaseV1{}, fmt.Errorf("encode lease request: %w", err)
	}
	msg, err := l.b.RequestDeferred(ctx, subj, raw)
	if err != nil {
		return events.LeaseV1{}, fmt.Errorf("lease request for %s: %w", r.AccountID, err)
	}
	var out events.LeaseV1
	if err := json.Unmarshal(msg.Data, &out); err != nil {
		return events.LeaseV1{}, fmt.Errorf("decode lease reply for %s: %w", r.AccountID, err)
	}
	return out, nil
}

// BodyBytesInFlight is what request bodies hold now against the in-flight
// budget (GATEWAY_MAX_INFLIGHT_BODY_BYTES); it is also the gauge
// gateway.request_bodies.in_flight. Safe for concurrent use.
func (s *Service) BodyBytesInFlight() int64 { return s.bodies.used.Load() }
