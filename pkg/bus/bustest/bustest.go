// Package bustest starts a real embedded NATS JetStream server for tests,
// with the bus users and their permissions on (pkg/bus.UserAccess) and the
// whole onekey topology declared by the admin, as tools/busadmin declares
// it. A service under test connects as its own user (ConnectAs, or
// CredsFile for a main that reads NATS_CREDS_FILE); the test's own driver
// connects as the admin (Connect).
package bustest

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/onekey-oss/onekey/pkg/bus"
)

// Server is an embedded NATS server owned by one test.
type Server struct {
	*bus.Embedded
	dir   string
	creds bus.Credentials
	users map[string]string
	files string
}

// Start runs an embedded server on a random port with its store in a temp
// dir and the topology declared; it is shut down when the test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s := StartUndeclared(tb)
	s.Declare(tb, bus.DefaultTopology())
	return s
}

// StartUndeclared is Start without the topology: for tests of a service
// that starts before the admin has declared it.
func StartUndeclared(tb testing.TB) *Server {
	tb.Helper()
	dir := tb.TempDir()
	creds, err := bus.NewCredentials()
	if err != nil {
		tb.Fatal(err)
	}
	users, err := creds.PublicKeys()
	if err != nil {
		tb.Fatal(err)
	}
	e, err := bus.StartEmbedded(bus.EmbeddedConfig{DataDir: filepath.Join(dir, "nats"), Users: users, Logger: violations(tb)})
	if err != nil {
		tb.Fatalf("start embedded nats: %v", err)
	}
	s := &Server{Embedded: e, dir: filepath.Join(dir, "nats"), creds: creds, users: users, files: filepath.Join(dir, "creds")}
	if err := creds.WriteFiles(s.files); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Embedded.Shutdown() })
	return s
}

// Declare declares t as the admin, as tools/busadmin declare does.
func (s *Server) Declare(tb testing.TB, t bus.Topology) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := s.connect(tb, bus.UserAdmin, "declare")
	defer b.Close()
	if err := b.Declare(ctx, t); err != nil {
		tb.Fatalf("declare: %v", err)
	}
}

// CredsFile is the path of user's credentials file (for NATS_CREDS_FILE).
func (s *Server) CredsFile(user string) string { return bus.CredsFile(s.files, user) }

// Seed is user's nkey seed.
func (s *Server) Seed(user string) []byte { return s.creds[user] }

// Restart stops the server and starts it again on the same port and data
// dir, as a crash-and-restart of the NATS node would.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	port := s.Port()
	s.Embedded.Shutdown()
	e, err := bus.StartEmbedded(bus.EmbeddedConfig{DataDir: s.dir, Port: port, Users: s.users, Logger: violations(tb)})
	if err != nil {
		tb.Fatalf("restart embedded nats: %v", err)
	}
	s.Embedded = e
}

// DataDir is the server's JetStream store directory (for backup tests:
// copy it while the server is stopped).
func (s *Server) DataDir() string { return s.dir }

// Stop shuts the server down (for outage tests); Resume starts it again.
func (s *Server) Stop() { s.Embedded.Shutdown() }

// Resume starts a stopped server on the same port and data dir.
func (s *Server) Resume(tb testing.TB) {
	tb.Helper()
	e, err := bus.StartEmbedded(bus.EmbeddedConfig{DataDir: s.dir, Port: s.Port(), Users: s.users, Logger: violations(tb)})
	if err != nil {
		tb.Fatalf("resume embedded nats: %v", err)
	}
	s.Embedded = e
}

// Connect returns a client of the admin user (the test's own driver: it
// may publish and read anything); closed at test end.
func (s *Server) Connect(tb testing.TB, name string) *bus.Bus {
	tb.Helper()
	b := s.connect(tb, bus.UserAdmin, name)
	tb.Cleanup(b.Close)
	return b
}

// ConnectAs returns a client of user (bus.UserGateway...), with only that
// user's permissions; closed at test end.
func (s *Server) ConnectAs(tb testing.TB, user string) *bus.Bus {
	tb.Helper()
	b := s.connect(tb, user, user)
	tb.Cleanup(b.Close)
	return b
}

func (s *Server) connect(tb testing.TB, user, name string) *bus.Bus {
	tb.Helper()
	return dial(tb, s.ClientURL(), s.creds, user, name)
}

// dial connects to url as user with its seed from creds (a single node's
// or a cluster's URLs alike).
func dial(tb testing.TB, url string, creds bus.Credentials, user, name string) *bus.Bus {
	tb.Helper()
	if creds[user] == nil {
		tb.Fatalf("bustest: no bus user %q", user)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := bus.Connect(ctx, bus.Config{URL: url, Name: name, User: user, Seed: creds[user]})
	if err != nil {
		tb.Fatalf("connect as %s: %v", user, err)
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

// violations logs the server's permission violations to the test's log: a
// service refused something it needs shows up there by subject.
func violations(tb testing.TB) *slog.Logger {
	h := &violationHandler{tb: tb}
	tb.Cleanup(func() { h.mu.Lock(); h.done = true; h.mu.Unlock() })
	return slog.New(h)
}

type violationHandler struct {
	tb   testing.TB
	mu   sync.Mutex
	done bool
}

func (h *violationHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }

func (h *violationHandler) Handle(_ context.Context, r slog.Record) error {
	if !strings.Contains(r.Message, "Violation") {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.done {
		h.tb.Logf("nats: %s", r.Message)
	}
	return nil
}

func (h *violationHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *violationHandler) WithGroup(string) slog.Handler      { return h }
