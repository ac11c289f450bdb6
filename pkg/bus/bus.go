// Package bus is onekey's connection to NATS JetStream: it connects to a
// cluster (NATS_URL) or to the embedded server, declares the topology,
// publishes events with Nats-Msg-Id set to the event id and waits for the
// server's ack, runs durable explicit-ack consumers, and carries W3C trace
// context in message headers.
package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/onekey-oss/onekey/api/events"
)

// Config says where the bus is and how to report.
type Config struct {
	// URL of the NATS server or cluster (comma-separated URLs allowed).
	URL string
	// Name identifies this connection in the server's monitoring (the
	// service name).
	Name string
	// User is the bus user this connection authenticates as (UserGateway...):
	// it sets the inbox prefix its permissions allow. Empty: the default
	// inbox, for a server without users.
	User string
	// CredsFile is the user's credentials file (NATS_CREDS_FILE: an nkey
	// seed, see Credentials); Seed is the seed itself. Neither: no
	// authentication.
	CredsFile string
	Seed      []byte
	// Logger for connection state changes; nil discards.
	Logger *slog.Logger
	// TracerProvider for publish/consume spans; nil means no tracing.
	TracerProvider trace.TracerProvider
}

// Bus is a connection to NATS with JetStream. It is safe for concurrent use.
type Bus struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	log    *slog.Logger
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
	// user names the deferred inbox (deferred.go).
	user     string
	deferred deferredMux
}

// Connect dials NATS. It retries the first connection until ctx ends, and
// reconnects for ever afterwards, buffering publishes while disconnected.
func Connect(ctx context.Context, cfg Config) (*Bus, error) {
	if cfg.URL == "" {
		return nil, errors.New("bus: no NATS URL")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tp := cfg.TracerProvider
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("nats reconnected", "url", c.ConnectedUrlRedacted()) }),
		// Asynchronous errors (a slow consumer, a consumer gone during a
		// server restart) go to our log, not to nats.go's stderr default.
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if sub != nil {
				log.Warn("nats async error", "subject", sub.Subject, "err", err)
				return
			}
			log.Warn("nats async error", "err", err)
		}),
	}
	if cfg.User != "" {
		opts = append(opts, nats.CustomInboxPrefix(InboxPrefix(cfg.User)))
	}
	auth, err := nkeyOption(cfg)
	if err != nil {
		return nil, err
	}
	if auth != nil {
		opts = append(opts, auth)
	}
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("bus: connect %s: %w", redact(cfg.URL), err)
	}
	for !nc.IsConnected() {
		select {
		case <-ctx.Done():
			nc.Close()
			return nil, fmt.Errorf("bus: connect %s: %w", redact(cfg.URL), ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("bus: jetstream: %w", err)
	}
	return &Bus{
		nc:     nc,
		js:     js,
		log:    log,
		tracer: tp.Tracer("github.com/onekey-oss/onekey/pkg/bus"),
		prop:   propagation.TraceContext{},
		user:   cfg.User,
	}, nil
}

// nkeyOption authenticates with the configured nkey seed (nil: none).
func nkeyOption(cfg Config) (nats.Option, error) {
	seed := cfg.Seed
	if cfg.CredsFile != "" {
		s, err := ReadSeed(cfg.CredsFile)
		if err != nil {
			return nil, err
		}
		seed = s
	}
	if len(seed) == 0 {
		return nil, nil
	}
	kp, err := nkeys.FromSeed(seed)
	if err != nil {
		return nil, fmt.Errorf("bus: nkey seed: %w", err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("bus: nkey seed: %w", err)
	}
	return nats.Nkey(pub, kp.Sign), nil
}

// redact drops credentials from a NATS URL list before it is logged.
func redact(raw string) string {
	var out []string
	for _, one := range strings.Split(raw, ",") {
		u, err := url.Parse(strings.TrimSpace(one))
		if err != nil {
			out = append(out, "nats://<unparseable>")
			continue
		}
		out = append(out, u.Redacted())
	}
	return strings.Join(out, ",")
}

// Conn is the underlying NATS connection, for request/reply.
func (b *Bus) Conn() *nats.Conn { return b.nc }

// JetStream is the underlying JetStream context.
func (b *Bus) JetStream() jetstream.JetStream { return b.js }

// Close drains the connection: pending publishes are flushed and
// subscriptions finish their in-flight messages.
func (b *Bus) Close() {
	if err := b.nc.Drain(); err != nil {
		b.nc.Close()
		return
	}
	for !b.nc.IsClosed() {
		time.Sleep(5 * time.Millisecond)
	}
}

// PublishResult tells whether JetStream stored the message or recognized
// its id as a duplicate inside its window (either way it is safely stored).
type PublishResult struct {
	Stream    string
	Sequence  uint64
	Duplicate bool
}

// Publish sends ev as JSON to its subject with Nats-Msg-Id = ev.EventID() and
// waits for JetStream's ack. An error means the event may not be stored:
// the caller must keep it and try again (the id makes a retry safe).
func (b *Bus) Publish(ctx context.Context, ev events.Event) (PublishResult, error) {
	msg, err := b.message(ctx, ev)
	if err != nil {
		return PublishResult{}, err
	}
	ctx, span := b.tracer.Start(ctx, "publish "+msg.Subject, trace.WithSpanKind(trace.SpanKindProducer))
	defer span.End()
	b.prop.Inject(ctx, headerCarrier(msg.Header))
	ack, err := b.js.PublishMsg(ctx, msg, jetstream.WithMsgID(ev.EventID()))
	if err != nil {
		span.RecordError(err)
		return PublishResult{}, fmt.Errorf("publish %s %s: %w", msg.Subject, ev.EventID(), err)
	}
	return PublishResult{Stream: ack.Stream, Sequence: ack.Sequence, Duplicate: ack.Duplicate}, nil
}

// PublishAsync sends ev without waiting; the returned future resolves with
// the server's ack or an error. The caller must track it: an event whose
// future failed is not stored.
func (b *Bus) PublishAsync(ctx context.Context, ev events.Event) (jetstream.PubAckFuture, error) {
	msg, err := b.message(ctx, ev)
	if err != nil {
		return nil, err
	}
	b.prop.Inject(ctx, headerCarrier(msg.Header))
	f, err := b.js.PublishMsgAsync(msg, jetstream.WithMsgID(ev.EventID()))
	if err != nil {
		return nil, fmt.Errorf("publish async %s %s: %w", msg.Subject, ev.EventID(), err)
	}
	return f, nil
}

// PublishAsyncComplete is closed when every async publish has been acked or
// has failed.
func (b *Bus) PublishAsyncComplete() <-chan struct{} { return b.js.PublishAsyncComplete() }

func (b *Bus) message(ctx context.Context, ev events.Event) (*nats.Msg, error) {
	subject, err := ev.EventSubject()
	if err != nil {
		return nil, fmt.Errorf("publish %T: %w", ev, err)
	}
	if ev.EventID() == "" {
		return nil, fmt.Errorf("publish %s: event has no id", subject)
	}
	data, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("publish %s: encode: %w", subject, err)
	}
	msg := nats.NewMsg(subject)
	msg.Data = data
	return msg, nil
}

// KV opens a declared bucket.
func (b *Bus) KV(ctx context.Context, bucket string) (jetstream.KeyValue, error) {
	kv, err := b.js.KeyValue(ctx, bucket)
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", bucket, err)
	}
	return kv, nil
}

// Consumer opens a declared durable consumer, for callers that fetch in
// batches themselves (the ledger).
func (b *Bus) Consumer(ctx context.Context, durable string) (jetstream.Consumer, error) {
	stream := events.ConsumerStream(durable)
	if stream == "" {
		return nil, fmt.Errorf("consumer %s is not declared in api/events", durable)
	}
	c, err := b.js.Consumer(ctx, stream, durable)
	if err != nil {
		return nil, fmt.Errorf("open consumer %s on %s: %w", durable, stream, err)
	}
	return c, nil
}

// ContextFrom returns ctx carrying the trace context found in msg's headers,
// so a consumer's work joins the publisher's trace.
func (b *Bus) ContextFrom(ctx context.Context, msg jetstream.Msg) context.Context {
	h := msg.Headers()
	if h == nil {
		return ctx
	}
	return b.prop.Extract(ctx, headerCarrier(h))
}

// MsgID is the Nats-Msg-Id header of msg ("" if none).
func MsgID(msg jetstream.Msg) string {
	if h := msg.Headers(); h != nil {
		return h.Get(jetstream.MsgIDHeader)
	}
	return ""
}

// headerCarrier lets the W3C propagator read and write NATS headers under
// their exact names ("traceparent"): NATS header names are case-sensitive,
// unlike HTTP's, so http.Header's canonical "Traceparent" would not be
// found by other W3C-aware NATS clients.
type headerCarrier nats.Header

func (h headerCarrier) Get(key string) string {
	if v := nats.Header(h).Get(key); v != "" {
		return v
	}
	return http.Header(h).Get(key) // a canonicalized name from an older publisher
}

func (h headerCarrier) Set(key, value string) { h[key] = []string{value} }

func (h headerCarrier) Keys() []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	return keys
}
