package gateway_test

import (
	"context"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/pkg/bus"
)

// natsServer is bustest.Server with start-up retried: on a loaded 2-core
// machine an embedded server sometimes misses pkg/bus's 10 s readiness
// deadline, which is not what these tests are about.
type natsServer struct {
	*bus.Embedded
	dir string
}

func startEmbedded(tb testing.TB, dir string, port int) *bus.Embedded {
	tb.Helper()
	var err error
	for range 3 {
		var e *bus.Embedded
		if e, err = bus.StartEmbedded(bus.EmbeddedConfig{DataDir: dir, Port: port}); err == nil {
			return e
		}
	}
	tb.Fatalf("start embedded nats: %v", err)
	return nil
}

func startNATS(tb testing.TB) *natsServer {
	tb.Helper()
	s := &natsServer{dir: tb.TempDir()}
	s.Embedded = startEmbedded(tb, s.dir, 0)
	tb.Cleanup(func() { s.Embedded.Shutdown() })
	return s
}

// Stop shuts the server down for an outage; Resume starts it again on the
// same port and data dir.
func (s *natsServer) Stop() { s.Embedded.Shutdown() }

func (s *natsServer) Resume(tb testing.TB) {
	tb.Helper()
	s.Embedded = startEmbedded(tb, s.dir, s.Port())
}

// Connect returns a client with the topology declared; closed at test end.
func (s *natsServer) Connect(tb testing.TB, name string) *bus.Bus {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
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
