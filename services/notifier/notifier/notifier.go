// Package notifier is onekey's e-mail service: it turns bus events into
// transactional mails and sends each of them once.
//
// It consumes three durable consumers (names in api/events):
//   - notifier-mail on MAIL: mail.requested (sign-in links from auth), which
//     carries the address;
//   - notifier on NOTIFY: credit.applied (receipts, from the ledger),
//     balance.low, payment.failed and tx.rejected, which carry only an
//     opaque account id; the address is looked up in auth's "users"
//     collection (_id = account id, email), read-only. A deleted or unknown
//     account gets no mail.
//   - notifier-notices on NOTICES: notice.requested (tools/notice), one per
//     account and notice, with ids only: the notice is read from
//     api/notices' collection and the address as above; paced at one mail
//     per NoticeInterval.
//
// Once per event: the event id is the mail's Idempotency-Key at Resend, and
// a record keyed by the event id (a unique insert) says whether the mail
// went out. A redelivered event whose record says "sent" sends nothing; one
// whose record says "sending" (a crash or lost answer after the send) is
// sent again with the same key, which Resend answers with the first send's
// result instead of a second mail (its keys live 24 hours, far longer than
// the bus's redeliveries of a failing event take).
//
// Privacy: logs, records and metrics hold event ids, account ids and kinds
// only; never an address, a subject, a body or a link.
package notifier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/boot"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/store"
	"github.com/onekey-oss/onekey/services/notifier/internal/mail"
	"github.com/onekey-oss/onekey/services/notifier/internal/send"
)

// Deps are the notifier's connections.
type Deps struct {
	Bus   *bus.Bus     // with the topology declared
	Store *store.Store // the account layer's database (records; auth's users, read-only)
	// Logger; nil discards.
	Logger *slog.Logger
	// MeterProvider for the notifier's metrics; nil records none.
	MeterProvider metric.MeterProvider
	// Console receives one line per mail written to the outbox, with the
	// sign-in link of a magic-link mail (devstack); nil discards.
	Console io.Writer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// ResendTransport carries the calls to Resend; nil means
	// http.DefaultTransport.
	ResendTransport http.RoundTripper
}

// sender delivers one rendered mail and returns the provider's id for it.
type sender interface {
	Send(ctx context.Context, m mail.Message) (string, error)
}

// Service is a running notifier; build it with New and start it with Run.
type Service struct {
	cfg       Config
	bus       *bus.Bus
	st        *store.Store
	log       *slog.Logger
	now       func() time.Time
	render    *mail.Renderer
	mailKeys  []events.MailSealKey // current, then previous
	send      sender
	transport string // "resend" or "outbox"
	metrics   metrics
	sweeper   *store.Sweeper
	notices   *noticeCache
	pace      *pacer
	ready     atomic.Bool
}

// New checks cfg and builds the service; it connects to nothing itself.
func New(cfg Config, deps Deps) (*Service, error) {
	if deps.Bus == nil || deps.Store == nil {
		return nil, errors.New("notifier: a bus and a store are required")
	}
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("notifier: %w", err)
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	mp := deps.MeterProvider
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	m, err := newMetrics(mp)
	if err != nil {
		return nil, err
	}
	rend, err := mail.NewRenderer(mail.Site{Name: cfg.SiteName, URL: cfg.SiteURL, DashboardURL: cfg.DashboardURL, MagicLinkTTL: cfg.MagicLinkTTL})
	if err != nil {
		return nil, fmt.Errorf("notifier: %w", err)
	}
	keys, err := cfg.mailKeys()
	if err != nil {
		return nil, fmt.Errorf("notifier: %w", err) // reported by validate too
	}
	s := &Service{cfg: cfg, bus: deps.Bus, st: deps.Store, log: log, now: now, render: rend, metrics: m, mailKeys: keys,
		notices: newNoticeCache(deps.Store), pace: &pacer{interval: cfg.NoticeInterval}}
	if cfg.ResendAPIKey != "" {
		s.send, err = send.NewResend(send.ResendConfig{
			APIKey: cfg.ResendAPIKey, BaseURL: cfg.ResendBaseURL, From: cfg.From, ReplyTo: cfg.ReplyTo,
			Attempts: cfg.SendAttempts, Backoff: cfg.SendBackoff, Transport: deps.ResendTransport,
		})
		s.transport = "resend"
	} else {
		s.send, err = send.NewOutbox(cfg.OutboxDir, cfg.From, deps.Console)
		s.transport = "outbox"
	}
	if err != nil {
		return nil, fmt.Errorf("notifier: %w", err)
	}
	s.sweeper = store.NewSweeper(deps.Store, log, time.Hour, now, CollMails)
	return s, nil
}

// Run consumes until ctx is cancelled. Each consumer finishes the mail in
// hand (its send and record are not cut short by the cancel) and returns;
// then Run returns nil. An error means a consumer could not run at all.
func (s *Service) Run(ctx context.Context) error {
	// account_id: for auth's export of what is stored about a person.
	// A cancel during start-up is a stop like any other, not a failure.
	indexes := append(s.sweeper.Indexes(), store.Index{Collection: CollMails, Keys: bson.D{{Key: "account_id", Value: 1}}, Name: "account_id_1"})
	if err := s.st.EnsureIndexes(ctx, indexes); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("notifier: %w", err)
	}
	for _, c := range []string{events.ConsumerNotifier, events.ConsumerNotifierMail, events.ConsumerNotifierNotices} {
		// Bind to what the admin declared, waiting while it is not there.
		if _, err := s.bus.WaitConsumer(ctx, c); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("notifier: %w", err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	opts := bus.ConsumeOptions{
		MaxAttempts: s.cfg.MaxDeliveries,
		Backoff:     s.cfg.RetryBackoff,
		OnDeadLetter: func(subject, _ string) {
			s.metrics.deadLetter(ctx, subject)
		},
	}
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	run := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := f(ctx)
			if ctx.Err() != nil {
				// Stopping (the caller's cancel, or another part's
				// failure): an error now is the cancel's, such as a
				// consumer cancelled while it was still opening.
				return
			}
			if err == nil {
				err = errors.New("stopped on its own")
			}
			// One part down stops the others: a notifier that mails
			// receipts but no sign-in links must not look healthy.
			errc <- fmt.Errorf("notifier: %s: %w", name, err)
			cancel()
		}()
	}
	run(events.ConsumerNotifier, func(ctx context.Context) error {
		return s.bus.Consume(ctx, events.ConsumerNotifier, s.handleNotify, opts)
	})
	// A sign-in mail that fails for a passing reason is retried until its
	// link expires, then dropped (see handleMail): a replay could not help
	// a link that lives minutes. Only one whose sealed link does not open
	// (tampered with, or sealed with a key this notifier lacks) is
	// dead-lettered at once: its link stays sealed there.
	mailOpts := opts
	mailOpts.MaxAttempts = math.MaxInt32
	run(events.ConsumerNotifierMail, func(ctx context.Context) error {
		return s.bus.Consume(ctx, events.ConsumerNotifierMail, s.handleMail, mailOpts)
	})
	// A notice that fails for a passing reason (Resend down or limiting)
	// is retried until it goes, never dead-lettered: the send stalls and
	// resumes, and the stream keeps it for 14 days. Only one that can never
	// be sent (ErrPermanent) becomes a dead letter (ids only).
	noticeOpts := opts
	noticeOpts.MaxAttempts = math.MaxInt32
	run(events.ConsumerNotifierNotices, func(ctx context.Context) error {
		return s.bus.Consume(ctx, events.ConsumerNotifierNotices, s.handleNotice, noticeOpts)
	})
	run("sweeper", s.sweeper.Run)
	s.ready.Store(true)
	s.log.Info("notifier running", "transport", s.transport)
	wg.Wait()
	s.ready.Store(false)
	close(errc)
	return errors.Join(collect(errc)...)
}

func collect(errc <-chan error) []error {
	var errs []error
	for err := range errc {
		errs = append(errs, err)
	}
	return errs
}

// Ready reports whether the consumers are bound (declared by the bus
// admin; Run waits for them) and running: the admin server's /readyz.
func (s *Service) Ready() bool { return s.ready.Load() }

// Handler serves /healthz and /readyz (Ready) as the admin server of main
// does (pkg/boot), for a caller that runs the notifier without it.
func (s *Service) Handler() http.Handler { return boot.AdminHandler(nil, s.Ready) }

// Transport says how mails leave: "resend" or "outbox".
func (s *Service) Transport() string { return s.transport }
