package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// embeddedStartTimeout bounds how long StartEmbedded waits for the server to answer a ping.
const embeddedStartTimeout = 30 * time.Second

// ferretNewMu serializes ferretdb.New. New writes a FerretDB package-global (version.Get().Package) without
// synchronization, so two instances created concurrently in one process are a data race. This mutex guards
// that third-party global; it is the one piece of package-level state here and holds no data of ours.
// A running instance still reads that global when it serves getLog or exports metrics, so prefer one embedded
// server per process (tests: one per test binary, see package storetest).
var ferretNewMu sync.Mutex

// EmbeddedConfig configures an in-process FerretDB server.
type EmbeddedConfig struct {
	// DataDir holds the SQLite files, one per database. It is created if missing; it must not be used by
	// another running server. Required.
	DataDir string
	// Addr is the TCP address to listen on; default "127.0.0.1:0" (a free port, see [Embedded.URI]).
	Addr string
	// Logger receives FerretDB's own logs, filtered to Error level: FerretDB logs every error reply
	// (including expected duplicate-key errors) at WARN with a full message dump. Nil discards them.
	Logger *slog.Logger
	// SyncEveryCommit makes SQLite fsync its write-ahead log on every commit (synchronous=FULL), so that
	// a commit survives an OS crash or power loss. By default (synchronous=NORMAL in WAL mode) a commit
	// survives a crash of this process, which is what the tests exercise, but the last commits before a
	// power loss may be lost; the database stays consistent either way. That is the same boundary as the
	// embedded NATS server, whose JetStream store syncs to disk every two minutes by default. Production
	// runs MongoDB, where durability is the write concern's.
	SyncEveryCommit bool
}

// Embedded is a FerretDB server running in this process on SQLite files, speaking the MongoDB wire protocol
// on a TCP port. It is the default database of devstack and tests; production uses MongoDB.
type Embedded struct {
	uri    string
	cancel context.CancelFunc
	done   chan struct{} // closed when FerretDB's Run has returned and its SQLite files are closed
}

// StartEmbedded starts FerretDB and returns once it answers a ping. ctx bounds only the start-up; the server
// runs until [Embedded.Close].
//
// Concurrent calls are serialized around FerretDB's constructor (see ferretNewMu), but running several
// servers in one process is not recommended.
func StartEmbedded(ctx context.Context, cfg EmbeddedConfig) (*Embedded, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("start embedded FerretDB: empty data dir")
	}
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("start embedded FerretDB: data dir: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("start embedded FerretDB: data dir: %w", err)
	}
	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ferretLogger := slog.New(minLevelHandler{min: slog.LevelError, next: logger.Handler()}).With("component", "ferretdb")

	// FerretDB wants a "file:" URI naming an existing directory, with a trailing slash.
	syncMode := "normal"
	if cfg.SyncEveryCommit {
		syncMode = "full"
	}
	sqliteURL := "file:" + (&url.URL{Path: filepath.ToSlash(dir) + "/"}).EscapedPath() + "?_pragma=synchronous(" + syncMode + ")"

	ferretNewMu.Lock()
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: addr},
		Handler:   "sqlite",
		SQLiteURL: sqliteURL,
		Logger:    ferretLogger,
	})
	ferretNewMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("start embedded FerretDB on %s: %w", addr, err)
	}

	// The server outlives ctx: cancelling the start-up context must not stop a started server.
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	e := &Embedded{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(e.done)
		_ = f.Run(runCtx) // always nil; it returns once runCtx is cancelled and everything is closed
	}()

	startCtx, startCancel := context.WithTimeout(ctx, embeddedStartTimeout)
	defer startCancel()
	if err := e.waitReady(startCtx, f); err != nil {
		stopCtx, stopCancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer stopCancel()
		_ = e.Close(stopCtx) // the start-up error is the one worth reporting
		return nil, fmt.Errorf("start embedded FerretDB on %s: %w", addr, err)
	}
	logger.Debug("embedded FerretDB started", "uri", e.uri, "data_dir", dir)
	return e, nil
}

// waitReady learns the server's URI and pings it, both bounded by ctx.
func (e *Embedded) waitReady(ctx context.Context, f *ferretdb.FerretDB) error {
	// MongoDBURI blocks until the TCP listener exists. In v1.24 that happens inside New, but FerretDB documents
	// that calling it before Run has initialized the listeners may block, so bound the wait.
	uriCh := make(chan string, 1)
	go func() { uriCh <- f.MongoDBURI() }()
	select {
	case e.uri = <-uriCh:
	case <-ctx.Done():
		return fmt.Errorf("wait for listener: %w", ctx.Err())
	}

	// The driver retries server selection until ctx expires, so one ping is a bounded poll.
	client, err := connect(ctx, e.uri)
	if err != nil {
		return err
	}
	// Disconnect now: a connection still open when Close runs delays FerretDB's shutdown by ~3 s.
	return client.Disconnect(context.WithoutCancel(ctx))
}

// URI returns the MongoDB connection string of the server, e.g. "mongodb://127.0.0.1:41234/".
func (e *Embedded) URI() string { return e.uri }

// Close stops the server and waits, bounded by ctx, until it has closed its SQLite files; after a nil
// return the data dir may be reused by a new server. Disconnect clients first: FerretDB gives connections
// still open up to 3 s to go away before closing them. Close is safe to call more than once.
func (e *Embedded) Close(ctx context.Context) error {
	e.cancel()
	select {
	case <-e.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop embedded FerretDB: %w", ctx.Err())
	}
}

// minLevelHandler passes on only records at or above min, whatever the wrapped handler's own level.
//
// WithAttrs and WithGroup are kept pending and applied only to a record that is handled: FerretDB derives
// a logger with the SQL and its arguments for every statement, and a text or JSON handler formats attributes
// as soon as they are added, so applying them eagerly cost about a tenth of the database's CPU for records
// that were then dropped.
type minLevelHandler struct {
	min     slog.Leveler
	next    slog.Handler
	pending []func(slog.Handler) slog.Handler
}

func (h minLevelHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min.Level() && h.next.Enabled(ctx, l)
}

func (h minLevelHandler) Handle(ctx context.Context, r slog.Record) error {
	next := h.next
	for _, apply := range h.pending {
		next = apply(next)
	}
	return next.Handle(ctx, r)
}

func (h minLevelHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return h.with(func(next slog.Handler) slog.Handler { return next.WithAttrs(attrs) })
}

func (h minLevelHandler) WithGroup(name string) slog.Handler {
	return h.with(func(next slog.Handler) slog.Handler { return next.WithGroup(name) })
}

func (h minLevelHandler) with(apply func(slog.Handler) slog.Handler) minLevelHandler {
	pending := make([]func(slog.Handler) slog.Handler, len(h.pending), len(h.pending)+1)
	copy(pending, h.pending)
	return minLevelHandler{min: h.min, next: h.next, pending: append(pending, apply)}
}
