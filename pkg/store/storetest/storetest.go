// Package storetest gives tests a fresh database on a real server: one embedded FerretDB per test binary,
// or the MongoDB named by ONEKEY_TEST_MONGODB_URI, so the same tests run against both (a contract suite).
//
// Use it from a package's tests:
//
//	func TestMain(m *testing.M) { storetest.Main(m) }
//
//	func TestLedger_Something(t *testing.T) {
//		st := storetest.New(t) // *store.Store on a database of its own, dropped when t ends
//		...
//	}
//
// Tests may call New in parallel; each gets its own database, so they need no cleanup of their own.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/pkg/store"
)

// EnvMongoDBURI names the environment variable that points the tests at a real MongoDB instead of an
// embedded FerretDB, e.g. ONEKEY_TEST_MONGODB_URI=mongodb://localhost:27017/?replicaSet=rs0.
const EnvMongoDBURI = "ONEKEY_TEST_MONGODB_URI"

// Server is the database server shared by the tests of one test binary.
type Server struct {
	uri      string
	embedded *store.Embedded // nil when using an external MongoDB
	dataDir  string
}

// shared is the Server started by Main and used by New. It is a package variable because a test function
// gets only its *testing.T, and the point of this package is that tests need nothing else; the alternative,
// a variable in every test package, is the same thing repeated. It is written once, before m.Run, and only
// read afterwards. Test-only code.
var shared *Server

// Main starts the shared server, runs the tests and stops the server, removing its data dir. Call it as the
// whole body of TestMain. If the server cannot start, the test binary exits with status 1.
func Main(m *testing.M) {
	srv, err := Start(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "storetest:", err)
		os.Exit(1)
	}
	shared = srv
	code := m.Run()
	if err := srv.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "storetest:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// Start starts a server: the MongoDB named by $ONEKEY_TEST_MONGODB_URI if set, otherwise an embedded
// FerretDB on a fresh temporary data dir. Most tests want [Main] and [New] instead. Because of a global in
// FerretDB (see [store.StartEmbedded]), start at most one per test binary.
func Start(ctx context.Context) (*Server, error) {
	if uri := os.Getenv(EnvMongoDBURI); uri != "" {
		return &Server{uri: uri}, nil
	}
	dir, err := os.MkdirTemp("", "onekey-storetest-")
	if err != nil {
		return nil, fmt.Errorf("start test FerretDB: %w", err)
	}
	e, err := store.StartEmbedded(ctx, store.EmbeddedConfig{
		DataDir: dir,
		Logger:  slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start test FerretDB: %w", err)
	}
	return &Server{uri: e.URI(), embedded: e, dataDir: dir}, nil
}

// URI is the server's MongoDB connection string.
func (s *Server) URI() string { return s.uri }

// Close stops an embedded server and removes its data dir; for an external MongoDB it does nothing.
func (s *Server) Close() error {
	if s.embedded == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return errors.Join(s.embedded.Close(ctx), os.RemoveAll(s.dataDir))
}

// New returns a store on a new, empty database of the server started by [Main], and drops the database and
// closes the store when tb and its subtests end. Its logs go to the test's output.
func New(tb testing.TB) *store.Store {
	tb.Helper()
	if shared == nil {
		tb.Fatal("storetest: no server; call storetest.Main(m) from TestMain")
	}
	return shared.New(tb)
}

// URI returns the connection string of the server started by [Main], for code under test that opens its own
// connection from configuration; pair it with the name of a database from [New] (st.DB().Name()), which is
// then dropped for you.
func URI(tb testing.TB) string {
	tb.Helper()
	if shared == nil {
		tb.Fatal("storetest: no server; call storetest.Main(m) from TestMain")
	}
	return shared.URI()
}

// New returns a store on a new, empty database of s, dropped and closed when tb ends.
func (s *Server) New(tb testing.TB) *store.Store {
	tb.Helper()
	name := databaseName(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	logger := slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, err := store.Open(ctx, s.uri, name, logger)
	if err != nil {
		tb.Fatalf("storetest: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := st.DB().Drop(ctx); err != nil {
			tb.Errorf("storetest: drop database %s: %v", name, err)
		}
		if err := st.Close(ctx); err != nil {
			tb.Errorf("storetest: %v", err)
		}
	})
	return st
}

// databaseName returns a new database name for tb: a prefix of the test's name, made safe for MongoDB and
// FerretDB (letters, digits, '_' and '-', at most 63 bytes), and a random suffix so that reruns (-count)
// and parallel tests never share a database.
func databaseName(tb testing.TB) string {
	var suffix [6]byte
	_, _ = rand.Read(suffix[:]) // crypto/rand.Read never fails
	safe := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
			return r
		default:
			return '_'
		}
	}, tb.Name())
	const maxPrefix = 63 - len("t__") - 2*len(suffix)
	if len(safe) > maxPrefix {
		safe = safe[:maxPrefix]
	}
	return "t_" + safe + "_" + hex.EncodeToString(suffix[:])
}
