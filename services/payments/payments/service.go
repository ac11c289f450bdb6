// Package payments turns payments into credit: Stripe Checkout top-ups,
// confirmed by signed webhooks, become credit.purchased events (refunds and
// disputes are reversing events of that family); crypto payments start here
// as wallet links and claims that chainwatcher confirms on chain.
//
// Payments never writes a balance. Every effect on an account is stored
// first (unique on its Stripe object, so a session is credited once) and
// then published from what was stored with Nats-Msg-Id = the Stripe event
// id; a webhook is answered 2xx only after that, so Stripe retries anything
// not safely on the bus, and a relay publishes whatever a crash left behind.
package payments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.opentelemetry.io/otel/metric"

	"github.com/onekey-oss/onekey/api/cryptopay"
	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/config"
	"github.com/onekey-oss/onekey/pkg/httpx"
	"github.com/onekey-oss/onekey/pkg/store"
)

// Deps are what payments runs on.
type Deps struct {
	Bus    *bus.Bus
	Store  *store.Store
	Logger *slog.Logger
	// HTTPClient for Stripe's API; nil uses a client with a 30s timeout.
	HTTPClient *http.Client
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// MeterProvider for payments' metrics; nil records none.
	MeterProvider metric.MeterProvider
}

// Service is the payments service. Its methods are safe for concurrent use.
type Service struct {
	cfg    Config
	bus    *bus.Bus
	st     *store.Store
	log    *slog.Logger
	now    func() time.Time
	stripe *client.API // nil without a secret key
	met    *metrics

	inflight sync.WaitGroup
	sem      chan struct{} // bounds concurrent request/reply handlers
	ready    chan struct{}
	once     sync.Once
	bound    *bus.Bound   // the durable consumers Run consumes
	ln       net.Listener // opened by New when Addr is set; served by Run
}

// Addr is the address the webhook listens on ("" without a listener).
func (s *Service) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Ready is closed once Run answers requests on NATS.
func (s *Service) Ready() <-chan struct{} { return s.ready }

// Bound reports whether Run answers requests on NATS and is bound to its
// durable consumers (declared by tools/busadmin; until then it waits): the
// admin server's /readyz.
func (s *Service) Bound() bool {
	select {
	case <-s.ready:
		return s.bound.Ready()
	default:
		return false
	}
}

// Collections owned by payments (the crypto ones are in api/cryptopay).
const (
	// collEvents: one document per Stripe event id seen, with whether its
	// effect is safely published (done).
	collEvents = "stripe_events"
	// collPayments: one document per effect on an account (a purchase per
	// session, a reversal per refund or dispute, a failure per session),
	// keyed kind:object id. It is the outbox the bus is fed from.
	collPayments = "card_payments"
)

// New builds the service, ensures its indexes (bounded by 30s) and, when
// cfg.Addr is set, opens the listener so that Addr is known before Run.
func New(cfg Config, deps Deps) (*Service, error) {
	if deps.Bus == nil || deps.Store == nil {
		return nil, errors.New("payments: Bus and Store are required")
	}
	cfg = config.WithDefaults(cfg, DefaultConfig())
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("payments: %w", err)
	}
	s := &Service{
		cfg: cfg, bus: deps.Bus, st: deps.Store, log: deps.Logger, now: deps.Now,
		sem: make(chan struct{}, 16), ready: make(chan struct{}),
		bound: bus.NewBound(events.ConsumerPaymentsTx, events.ConsumerPaymentsAccounts),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	met, err := newMetrics(deps.MeterProvider)
	if err != nil {
		return nil, fmt.Errorf("payments: metrics: %w", err)
	}
	s.met = met
	if cfg.StripeSecretKey != "" {
		s.stripe = newStripeClient(cfg, deps.HTTPClient)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.st.EnsureIndexes(ctx, s.indexes()); err != nil {
		return nil, fmt.Errorf("payments: %w", err)
	}
	if cfg.Addr != "" {
		ln, err := httpx.Listen(cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("payments: %w", err)
		}
		s.ln = ln
	}
	if s.cfg.PublicURL == "" && s.ln != nil {
		s.cfg.PublicURL = "http://" + s.ln.Addr().String()
	}
	return s, nil
}

func newStripeClient(cfg Config, hc *http.Client) *client.API {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	bc := &stripe.BackendConfig{
		HTTPClient:        hc,
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
		MaxNetworkRetries: stripe.Int64(2),
	}
	if cfg.StripeAPIBase != "" {
		bc.URL = stripe.String(strings.TrimRight(cfg.StripeAPIBase, "/"))
	}
	return client.New(cfg.StripeSecretKey, &stripe.Backends{
		API:     stripe.GetBackendWithConfig(stripe.APIBackend, bc),
		Connect: stripe.GetBackendWithConfig(stripe.ConnectBackend, bc),
		Uploads: stripe.GetBackendWithConfig(stripe.UploadsBackend, bc),
	})
}

func (s *Service) indexes() []store.Index {
	return []store.Index{
		{Collection: collPayments, Keys: bson.D{{Key: "payment_intent", Value: 1}}},
		{Collection: collPayments, Keys: bson.D{{Key: "published", Value: 1}}},
		{Collection: cryptopay.CollWallets, Keys: bson.D{{Key: "account_id", Value: 1}}},
		{Collection: cryptopay.CollClaims, Keys: bson.D{{Key: "chain", Value: 1}, {Key: "tx_hash", Value: 1}}},
		{Collection: cryptopay.CollClaims, Keys: bson.D{{Key: "status", Value: 1}}},
		{Collection: cryptopay.CollClaims, Keys: bson.D{{Key: "account_id", Value: 1}}},
		{Collection: cryptopay.CollNonces, Keys: bson.D{{Key: "account_id", Value: 1}}},
		{Collection: cryptopay.CollNonces, Keys: bson.D{{Key: store.ExpiresAtField, Value: 1}}, Name: store.ExpiresAtField + "_1"},
		{Collection: cryptopay.CollNonceUses, Keys: bson.D{{Key: store.ExpiresAtField, Value: 1}}, Name: store.ExpiresAtField + "_1"},
		{Collection: collDevCheckouts, Keys: bson.D{{Key: store.ExpiresAtField, Value: 1}}, Name: store.ExpiresAtField + "_1"},
	}
}

// Handler serves POST /webhooks/stripe and, with DevTopUp, the dev top-up
// page under /dev/checkout/. The probes and /metrics are on main's admin
// server (pkg/boot), not on this public listener.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /webhooks/stripe", s.handleStripeWebhook)
	if s.cfg.DevTopUp {
		mux.HandleFunc("GET /dev/checkout/{id}", s.devCheckoutPage)
		mux.HandleFunc("POST /dev/checkout/{id}", s.devCheckoutPay)
	}
	return mux
}

// Run answers checkout and crypto requests on NATS, consumes tx.rejected
// (payments-tx) to close rejected claims and account.deleted
// (payments-accounts) to erase a deleted account's crypto data, relays unpublished payments,
// sweeps expired nonces and, when Addr is set, serves Handler. It blocks
// until ctx is cancelled, then stops taking requests, lets in-flight ones
// finish and returns nil.
func (s *Service) Run(ctx context.Context) error {
	nc := s.bus.Conn()
	subjects := map[string]nats.MsgHandler{
		events.SubjectCheckoutCreate: replyTo(s, s.checkoutRequest),
		events.SubjectCryptoInfo:     replyTo(s, s.cryptoInfoRequest),
		events.SubjectWalletNonce:    replyTo(s, s.walletNonceRequest),
		events.SubjectWalletLink:     replyTo(s, s.walletLinkRequest),
		events.SubjectCryptoClaim:    replyTo(s, s.claimRequest),
		events.SubjectCryptoStatus:   replyTo(s, s.cryptoStatusRequest),
	}
	var subs []*nats.Subscription
	// unsubscribe drains the subscriptions and waits (bounded) until their
	// buffered requests were handed to handlers, so that waiting for
	// in-flight handlers afterwards waits for all of them.
	unsubscribe := func() {
		for _, sub := range subs {
			_ = sub.Drain()
		}
		deadline := time.Now().Add(10 * time.Second)
		for _, sub := range subs {
			for sub.IsValid() && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
		}
	}
	closeListener := func() {
		if s.ln != nil {
			_ = s.ln.Close()
		}
	}
	for subj, h := range subjects {
		sub, err := nc.QueueSubscribe(subj, "payments", h)
		if err != nil {
			unsubscribe()
			closeListener()
			return fmt.Errorf("payments: subscribe %s: %w", subj, err)
		}
		subs = append(subs, sub)
	}
	if err := nc.Flush(); err != nil {
		unsubscribe()
		closeListener()
		return fmt.Errorf("payments: subscribe: %w", err)
	}
	s.once.Do(func() { close(s.ready) })

	ctx, cancel := context.WithCancel(ctx) // also stops the other parts when one fails
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	wg.Go(func() { s.consume(ctx, events.ConsumerPaymentsTx, s.onTxRejected, bus.ConsumeOptions{}) })
	// An erasure outlasts a database outage of minutes before it is
	// dead-lettered: it is a promise to the user.
	wg.Go(func() {
		s.consume(ctx, events.ConsumerPaymentsAccounts, s.onAccountDeleted, bus.ConsumeOptions{MaxAttempts: 40, Backoff: 3 * time.Second})
	})
	wg.Go(func() { s.relayLoop(ctx) })
	wg.Go(func() {
		sw := store.NewSweeper(s.st, s.log, time.Minute, s.now, cryptopay.CollNonces, cryptopay.CollNonceUses, collDevCheckouts)
		ticker := time.NewTicker(time.Minute)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
				if _, err := sw.SweepOnce(ctx); err != nil && ctx.Err() == nil {
					s.log.Warn("sweep nonces", "err", err)
				}
			}
		}
	})
	if s.ln != nil {
		wg.Go(func() {
			if err := httpx.Serve(ctx, httpx.NewServer(s.Handler(), httpx.ServerConfig{}), s.ln, 10*time.Second); err != nil {
				errc <- err
			}
		})
	}
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		cancel()
	}
	unsubscribe()
	s.inflight.Wait()
	wg.Wait()
	return runErr
}

// consume runs a durable consumer until ctx is cancelled. Consume returns
// an error only when it cannot open the consumer (the bus is down or
// restarting): it is tried again every second.
func (s *Service) consume(ctx context.Context, durable string, h bus.Handler, o bus.ConsumeOptions) {
	o.OnBound = func() { s.bound.Mark(durable) }
	for ctx.Err() == nil {
		if err := s.bus.Consume(ctx, durable, h, o); err != nil && ctx.Err() == nil {
			s.log.Warn("consume; retrying", "consumer", durable, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

// replyTo adapts a typed request handler to NATS request/reply. Each
// request is handled on its own goroutine (Stripe calls are slow), at most
// cap(s.sem) at a time, under a 30s deadline; a request that cannot be
// decoded is answered with the zero reply carrying only an error code.
func replyTo[Req, Rep any](s *Service, h func(context.Context, Req) Rep) nats.MsgHandler {
	return func(m *nats.Msg) {
		s.inflight.Add(1)
		s.sem <- struct{}{}
		go func() {
			defer s.inflight.Done()
			defer func() { <-s.sem }()
			var req Req
			var out any
			if err := json.Unmarshal(m.Data, &req); err != nil {
				out = map[string]any{"v": 1, "code": events.CodeBadRequest, "error": "request is not valid JSON"}
			} else {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				out = h(ctx, req)
				cancel()
			}
			data, err := json.Marshal(out)
			if err != nil {
				s.log.Error("encode reply", "subject", m.Subject, "err", err)
				return
			}
			if err := m.Respond(data); err != nil {
				s.log.Warn("reply", "subject", m.Subject, "err", err)
			}
		}()
	}
}
