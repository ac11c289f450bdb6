package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/onekey-oss/onekey/api/events"
)

// Handler handles one message. It must be idempotent: a message is
// redelivered if the handler fails, if the ack is lost, or after a crash.
// Returning nil acks the message; an error naks it with a backoff; an
// error wrapping ErrPermanent dead-letters it at once.
type Handler func(ctx context.Context, msg jetstream.Msg) error

// ErrPermanent marks an error that no retry can fix (a payload that does
// not decode, a rule the event breaks).
var ErrPermanent = errors.New("permanent failure")

// ConsumeOptions tune Consume.
type ConsumeOptions struct {
	// MaxAttempts before a failing message goes to the dead-letter subject
	// (default 5).
	MaxAttempts int
	// Backoff before redelivery after a failure (default 1s).
	Backoff time.Duration
	// OnDeadLetter is called after a message was dead-lettered (for an
	// alert metric). Optional.
	OnDeadLetter func(subject, reason string)
	// OnBound is called once the durable consumer exists and Consume is
	// bound to it, before the first message (for readiness). Optional.
	OnBound func()
}

// Consume runs h for each message of the durable consumer, one at a time,
// until ctx is cancelled; then it stops pulling, lets the message in hand
// finish, naks what was buffered but not started (so it is redelivered at
// once rather than after the ack wait), and returns nil. A message is acked only after h returned nil
// (with a double ack, so the ack is known to have reached the server).
// A consumer not declared yet is waited for (WaitConsumer).
func (b *Bus) Consume(ctx context.Context, durable string, h Handler, o ConsumeOptions) error {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	cons, err := b.WaitConsumer(ctx, durable)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(64))
	if err != nil {
		return fmt.Errorf("consume %s: %w", durable, err)
	}
	if o.OnBound != nil {
		o.OnBound()
	}
	stop := context.AfterFunc(ctx, it.Drain)
	defer stop()
	defer it.Stop()
	// Errors from Next are transient (a missed heartbeat while the server
	// restarts, a reconnect): keep pulling, with a growing pause so a
	// lasting outage neither spins nor floods the log.
	pause := time.Duration(0)
	for {
		msg, err := it.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			pause = min(max(2*pause, 50*time.Millisecond), 2*time.Second)
			b.log.Warn("consume: next message", "consumer", durable, "err", err, "retry_in", pause)
			select {
			case <-ctx.Done():
			case <-time.After(pause):
			}
			continue
		}
		pause = 0
		if ctx.Err() != nil {
			_ = msg.Nak()
			continue
		}
		b.handle(ctx, durable, msg, h, o)
	}
}

func (b *Bus) handle(ctx context.Context, durable string, msg jetstream.Msg, h Handler, o ConsumeOptions) {
	mctx := b.ContextFrom(context.WithoutCancel(ctx), msg)
	mctx, span := b.tracer.Start(mctx, "consume "+msg.Subject(), trace.WithSpanKind(trace.SpanKindConsumer))
	defer span.End()
	herr := h(mctx, msg)
	if herr == nil {
		if err := msg.DoubleAck(mctx); err != nil {
			// The handler's effect is idempotent: a redelivery is harmless.
			b.log.Warn("consume: ack", "consumer", durable, "subject", msg.Subject(), "err", err)
		}
		return
	}
	span.RecordError(herr)
	attempts := 1
	if md, err := msg.Metadata(); err == nil {
		attempts = int(md.NumDelivered)
	}
	if errors.Is(herr, ErrPermanent) || attempts >= o.MaxAttempts {
		if err := b.DeadLetter(mctx, durable, msg, attempts, herr.Error()); err != nil {
			b.log.Error("consume: dead-letter failed; will retry", "consumer", durable, "subject", msg.Subject(), "err", err)
			_ = msg.NakWithDelay(o.Backoff)
			return
		}
		if o.OnDeadLetter != nil {
			o.OnDeadLetter(msg.Subject(), herr.Error())
		}
		_ = msg.Term()
		return
	}
	b.log.Warn("consume: handler failed; will retry", "consumer", durable, "subject", msg.Subject(), "attempt", attempts, "err", herr)
	_ = msg.NakWithDelay(o.Backoff * time.Duration(attempts))
}

// DeadLetter publishes msg to deadletter.<account> with the reason, keyed by
// consumer and message id so a repeat is recorded once.
func (b *Bus) DeadLetter(ctx context.Context, consumer string, msg jetstream.Msg, attempts int, reason string) error {
	id := MsgID(msg)
	if id == "" {
		if md, err := msg.Metadata(); err == nil {
			id = fmt.Sprintf("%s:%d", md.Stream, md.Sequence.Stream)
		}
	}
	_, err := b.Publish(ctx, events.DeadLetterV1{
		V: 1, ID: consumer + ":" + id, Time: time.Now().UTC(),
		Consumer: consumer, Subject: events.Published(msg.Subject()), MsgID: id,
		Attempts: attempts, Reason: reason, Payload: msg.Data(),
	})
	return err
}
