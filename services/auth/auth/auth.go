// Package auth is the account layer's API service: sign-in (magic links,
// Google, GitHub), sessions, projects and API keys (mirrored to KV apikeys
// for the gateway), balance and usage views from the ledger's read model,
// card checkout and crypto payments through payments, and the user's data rights (export,
// delete). It never sees request content.
package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/metric"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/httpx"
	"github.com/onekey-oss/onekey/pkg/store"
	"github.com/onekey-oss/onekey/services/auth/internal/accounts"
	"github.com/onekey-oss/onekey/services/auth/internal/assistant"
	"github.com/onekey-oss/onekey/services/auth/internal/httpapi"
	"github.com/onekey-oss/onekey/services/auth/internal/oauth"
)

// Deps are the connections the service uses. Bus is a connection as the
// bus user "auth"; Run waits for bucket apikeys if it is not declared yet.
type Deps struct {
	Bus    *bus.Bus
	Store  *store.Store
	Logger *slog.Logger
	// Now is the clock (time.Now when nil); tests move it.
	Now func() time.Time
	// HTTPClient for calls to Google and GitHub (a 15 s-timeout client when nil).
	HTTPClient *http.Client
	// MeterProvider for the service's metrics; nil records none.
	MeterProvider metric.MeterProvider
}

// Service is the running auth service.
type Service struct {
	cfg     Config
	log     *slog.Logger
	bus     *bus.Bus
	acc     *accounts.Store
	api     *httpapi.API
	sweeper *store.Sweeper
	// assistant is nil when it is off.
	assistant *assistant.Assistant
	// ready: Run is bound to its buckets, has synced apikeys and serves.
	ready atomic.Bool
}

// Intervals of the background work.
const (
	sweepInterval = time.Minute
	relayInterval = 30 * time.Second
	relayGrace    = 30 * time.Second
)

// New builds the service and ensures its database indexes.
func New(cfg Config, d Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("auth: config: %w", err)
	}
	if d.Bus == nil || d.Store == nil {
		return nil, errors.New("auth: Bus and Store are required")
	}
	log := d.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Bucket apikeys is bound on first use, not here: it may not be
	// declared yet (Run waits for it before serving).
	openKeys := func(ctx context.Context) (jetstream.KeyValue, error) { return d.Bus.KV(ctx, events.BucketAPIKeys) }
	mailKey, err := events.ParseMailSealKey(cfg.MailSealKey)
	if err != nil {
		return nil, fmt.Errorf("auth: MAIL_SEAL_KEY: %w", err) // checked by problems; kept for safety
	}
	acc := accounts.New(accounts.Deps{Store: d.Store, Bus: d.Bus, OpenKeys: openKeys, Now: d.Now, Logger: log, GrantKey: []byte(cfg.FreeGrantSecret), MailKey: mailKey})
	if err := acc.EnsureIndexes(ctx); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	var providers []oauth.Provider
	if cfg.Google.ClientID != "" {
		providers = append(providers, oauth.NewGoogle(oauth.GoogleConfig{
			ClientID: cfg.Google.ClientID, ClientSecret: cfg.Google.ClientSecret, Issuer: cfg.Google.Issuer,
			RedirectURL: cfg.callback("google"), HTTPClient: d.HTTPClient,
		}))
	}
	if cfg.GitHub.ClientID != "" {
		providers = append(providers, oauth.NewGitHub(oauth.GitHubConfig{
			ClientID: cfg.GitHub.ClientID, ClientSecret: cfg.GitHub.ClientSecret,
			AuthURL: cfg.GitHub.AuthURL, TokenURL: cfg.GitHub.TokenURL, APIURL: cfg.GitHub.APIURL,
			RedirectURL: cfg.callback("github"), HTTPClient: d.HTTPClient,
		}))
	}
	asst, err := newAssistant(cfg, acc, d.Bus, d, log)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	pages, err := dashboard(cfg, acc, providers, asst != nil, log)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	var answers httpapi.Assistant
	if asst != nil {
		answers = asst
	}
	api, err := httpapi.New(httpapi.Config{
		PublicURL: cfg.PublicURL, AppURL: cfg.AppURL, TrustProxy: cfg.TrustProxy,
		MagicPerAddress: cfg.MagicLinksPerAddress, MagicPerIP: cfg.MagicLinksPerIP, MagicAddressCap: cfg.magicAddressCap(), MagicWindow: cfg.MagicLinkWindow,
		MarkSignUps: cfg.Dashboard.Analytics.web().On(),
	}, httpapi.Deps{Accounts: acc, Providers: providers, Checkout: natsCheckout{d.Bus.Conn()}, Crypto: natsCrypto{d.Bus.Conn()}, Logger: log, Now: d.Now, MeterProvider: d.MeterProvider, Pages: pages, Assistant: answers})
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return &Service{
		cfg: cfg, log: log, bus: d.Bus, acc: acc, api: api, assistant: asst,
		sweeper: store.NewSweeper(d.Store, log, sweepInterval, d.Now, accounts.SweptCollections()...),
	}, nil
}

// Handler is the account API.
func (s *Service) Handler() http.Handler { return s.api }

// Ready reports whether Run is bound to its buckets (declared by the bus
// admin; it waits for them: KV apikeys and, with the assistant on, KV
// assistant), has synced apikeys from the database and serves the API:
// the admin server's /readyz.
func (s *Service) Ready() bool { return s.ready.Load() }

// buckets are the buckets Run binds to before it serves.
func (s *Service) buckets() []string {
	if s.assistant == nil {
		return []string{events.BucketAPIKeys}
	}
	return []string{events.BucketAPIKeys, events.BucketAssistant}
}

// Run repairs KV apikeys from the database, then serves the API on
// cfg.Addr, answers the operator's key suspensions and restores
// (events.SubjectKeyStatus), sweeps expired sessions, links and states, and
// relays unfinished account creations and deletions, until ctx is cancelled. It
// then stops taking requests, lets in-flight ones finish (bounded), stops
// the background work and returns nil.
func (s *Service) Run(ctx context.Context) error {
	// Bind to what the admin declared, waiting while it is not there.
	for _, b := range s.buckets() {
		if _, err := s.bus.WaitKV(ctx, b); err != nil {
			return nil // stopped during start-up
		}
	}
	n, err := s.acc.SyncKeys(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped during start-up
		}
		return fmt.Errorf("auth: %w", err)
	}
	s.log.Info("api keys synced to kv", "keys", n)
	ln, err := httpx.Listen(s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	stopKeyStatus, err := s.answerKeyStatus(ctx)
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("auth: %w", err)
	}
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { _ = s.sweeper.Run(bg) })
	wg.Go(func() { s.relay(bg) })
	s.log.Info("account api listening", "addr", ln.Addr().String())
	s.ready.Store(true)
	err = httpx.Serve(ctx, httpx.NewServer(s.api, httpx.ServerConfig{}), ln, 10*time.Second)
	s.ready.Store(false)
	stopKeyStatus()
	stop()
	wg.Wait()
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	return nil
}

func (s *Service) relay(ctx context.Context) {
	t := time.NewTicker(relayInterval)
	defer t.Stop()
	for {
		if err := s.RelayOnce(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("relay unfinished account work", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RelayOnce finishes account creations and deletions that a crash or a bus
// outage interrupted (older than a short grace period).
func (s *Service) RelayOnce(ctx context.Context) error { return s.acc.Relay(ctx, relayGrace) }

// SweepOnce deletes expired sessions, sign-in links and OAuth states.
func (s *Service) SweepOnce(ctx context.Context) (int64, error) { return s.sweeper.SweepOnce(ctx) }

// natsCheckout asks payments over NATS request/reply.
type natsCheckout struct{ nc *nats.Conn }

func (n natsCheckout) Checkout(ctx context.Context, req events.CheckoutRequestV1) (events.CheckoutReplyV1, error) {
	data, err := json.Marshal(req)
	if err != nil {
		return events.CheckoutReplyV1{}, fmt.Errorf("checkout: encode: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	msg, err := n.nc.RequestWithContext(ctx, events.SubjectCheckoutCreate, data)
	if err != nil {
		return events.CheckoutReplyV1{}, fmt.Errorf("checkout: request: %w", err)
	}
	var rep events.CheckoutReplyV1
	if err := json.Unmarshal(msg.Data, &rep); err != nil {
		return events.CheckoutReplyV1{}, fmt.Errorf("checkout: decode reply: %w", err)
	}
	return rep, nil
}

// natsCrypto asks payments about crypto payments over NATS request/reply.
type natsCrypto struct{ nc *nats.Conn }

// request sends req on subject and decodes the reply into rep; an error
// means payments did not answer (no responder, timeout) or answered
// something unreadable.
func (n natsCrypto) request(ctx context.Context, subject string, req, rep any) error {
	data, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("%s: encode: %w", subject, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	msg, err := n.nc.RequestWithContext(ctx, subject, data)
	if err != nil {
		return fmt.Errorf("%s: request: %w", subject, err)
	}
	if err := json.Unmarshal(msg.Data, rep); err != nil {
		return fmt.Errorf("%s: decode reply: %w", subject, err)
	}
	return nil
}

func (n natsCrypto) Info(ctx context.Context, req events.CryptoInfoRequestV1) (rep events.CryptoInfoReplyV1, err error) {
	err = n.request(ctx, events.SubjectCryptoInfo, req, &rep)
	return rep, err
}

func (n natsCrypto) Status(ctx context.Context, req events.CryptoStatusRequestV1) (rep events.CryptoStatusReplyV1, err error) {
	err = n.request(ctx, events.SubjectCryptoStatus, req, &rep)
	return rep, err
}

func (n natsCrypto) Nonce(ctx context.Context, req events.WalletNonceRequestV1) (rep events.WalletNonceReplyV1, err error) {
	err = n.request(ctx, events.SubjectWalletNonce, req, &rep)
	return rep, err
}

func (n natsCrypto) Link(ctx context.Context, req events.WalletLinkRequestV1) (rep events.WalletLinkReplyV1, err error) {
	err = n.request(ctx, events.SubjectWalletLink, req, &rep)
	return rep, err
}

func (n natsCrypto) Claim(ctx context.Context, req events.CryptoClaimRequestV1) (rep events.CryptoClaimReplyV1, err error) {
	err = n.request(ctx, events.SubjectCryptoClaim, req, &rep)
	return rep, err
}
