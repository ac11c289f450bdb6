// Package bustest starts a real embedded NATS JetStream server for tests,
// with the whole onekey topology declared.
package bustest

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/onekey-oss/onekey/pkg/bus"
)

// Server is an embedded NATS server owned by one test.
type Server struct {
	*bus.Embedded
	dir string
}

// Start runs an embedded server on a random port with its store in a temp
// dir; it is shut down when the test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	dir := tb.TempDir()
	e, err := bus.StartEmbedded(bus.EmbeddedConfig{DataDir: dir})
	if err != nil {
		tb.Fatalf("start embedded nats: %v", err)
	}
	s := &Server{Embedded: e, dir: dir}
	tb.Cleanup(func() { s.Embedded.Shutdown() })
	return s
}

// Restart stops the server and starts it again on the same port and data
// dir, as a crash-and-restart of the NATS node would.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	port := s.Port()
	s.Embedded.Shutdown()
	e, err := bus.StartEmbedded(bus.EmbeddedConfig{DataDir: s.dir, Port: port})
	if err != nil {
		tb.Fatalf("restart embedded nats: %v", err)
	}
	s.Embedded = e
}

// Stop shuts the server down (for outage tests); Resume starts it again.
func (s *Server) Stop() { s.Embedded.Shutdown() }

// Resume starts a stopped server on the same port and data dir.
func (s *Server) Resume(tb testing.TB) {
	tb.Helper()
	e, err := bus.StartEmbedded(bus.EmbeddedConfig{DataDir: s.dir, Port: s.Port()})
	if err != nil {
		tb.Fatalf("resume embedded nats: %v", err)
	}
	s.Embedded = e
}

// Connect returns a client with the topology declared; closed at test end.
func (s *Server) Connect(tb testing.TB, name string) *bus.Bus {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := bus.Connect(ctx, bus.Config{URL: s.ClientURL(), Name: name})
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(b.Close)
	if err := b.Declare(ctx, bus.DefaultTopology()); err != nil {
		tb.Fatalf("declare: %v", err)
	}
	return b
}

// Messages decodes every message stored on subject of stream, oldest first.
// It reads with an ordered consumer, so it neither needs nor disturbs a
// durable one.
func Messages[T any](tb testing.TB, b *bus.Bus, stream, subject string) []T {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := b.JetStream().Stream(ctx, stream)
	if err != nil {
		tb.Fatalf("stream %s: %v", stream, err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		tb.Fatalf("stream %s info: %v", stream, err)
	}
	want := int(info.State.Subjects[subject])
	if want == 0 {
		return nil
	}
	cons, err := b.JetStream().OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		tb.Fatalf("read %s: %v", subject, err)
	}
	var out []T
	for len(out) < want {
		batch, err := cons.Fetch(want-len(out), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			tb.Fatalf("read %s: %v", subject, err)
		}
		for m := range batch.Messages() {
			var v T
			if err := json.Unmarshal(m.Data(), &v); err != nil {
				tb.Fatalf("decode %s: %v", subject, err)
			}
			out = append(out, v)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			tb.Fatalf("read %s: %v", subject, err)
		}
	}
	return out
}
