package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/onekey-oss/onekey/pkg/config"
)

// Services do not declare the topology: the admin does (tools/busadmin
// declare; devstack and the tests' harnesses run the same Declare). A
// service binds to what exists, and while a stream, consumer or bucket is
// not there yet, or the bus cannot be reached, it waits and retries with
// backoff: it never exits for that. The Wait functions are that loop.

// bindBackoff is the pause between binding attempts: doubling from 100 ms
// to 5 s.
func bindBackoff(prev time.Duration) time.Duration {
	return min(max(2*prev, 100*time.Millisecond), 5*time.Second)
}

// WaitKV opens bucket, retrying with backoff until it exists (and the bus
// is reachable); it returns an error only when ctx ends.
func (b *Bus) WaitKV(ctx context.Context, bucket string) (jetstream.KeyValue, error) {
	return waitFor(ctx, b, "bucket "+bucket, func(ctx context.Context) (jetstream.KeyValue, error) {
		return b.KV(ctx, bucket)
	})
}

// WaitConsumer opens the durable consumer, retrying with backoff until it
// exists (and the bus is reachable); it returns an error only when ctx
// ends.
func (b *Bus) WaitConsumer(ctx context.Context, durable string) (jetstream.Consumer, error) {
	return waitFor(ctx, b, "consumer "+durable, func(ctx context.Context) (jetstream.Consumer, error) {
		return b.Consumer(ctx, durable)
	})
}

// WaitStream opens stream, retrying with backoff until it exists (and
// the bus is reachable); it returns an error only when ctx ends. It is
// for a service that only publishes (chainwatcher), so binds to no
// consumer or bucket that would tell it the stream is there.
func (b *Bus) WaitStream(ctx context.Context, stream string) (jetstream.Stream, error) {
	return waitFor(ctx, b, "stream "+stream, func(ctx context.Context) (jetstream.Stream, error) {
		s, err := b.js.Stream(ctx, stream)
		if err != nil {
			return nil, fmt.Errorf("open stream %s: %w", stream, err)
		}
		return s, nil
	})
}

func waitFor[T any](ctx context.Context, b *Bus, what string, open func(context.Context) (T, error)) (T, error) {
	var pause time.Duration
	logged := false
	for {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		v, err := open(actx)
		cancel()
		if err == nil {
			if logged {
				b.log.Info("bus: bound", "to", what)
			}
			return v, nil
		}
		if ctx.Err() != nil {
			var zero T
			return zero, fmt.Errorf("wait for %s: %w", what, ctx.Err())
		}
		pause = bindBackoff(pause)
		if !logged || pause == 5*time.Second {
			b.log.Warn("bus: not there yet (declared by tools/busadmin declare); waiting", "for", what, "err", err, "retry_in", pause)
			logged = true
		}
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
	}
}

// ConfigFrom reads NATS_URL (required) and NATS_CREDS_FILE (the service
// user's credentials file; unset: no authentication, for a server without
// users) for service, which is also its bus user; problems are recorded on
// r.
func ConfigFrom(r *config.Reader, service string) Config {
	return Config{URL: r.Required("NATS_URL"), Name: service, User: service, CredsFile: r.String("NATS_CREDS_FILE", "")}
}
