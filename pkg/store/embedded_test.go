package store_test

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/onekey-oss/onekey/pkg/store"
)

// This test starts its own FerretDB twice, one after the other, beside the shared one from TestMain.
// StartEmbedded serializes FerretDB's constructor, which writes a package global of FerretDB's.
func TestEmbedded_DataSurvivesRestartOnSameDataDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	logs := &levelRecorder{}
	logger := slog.New(logs)

	startCtx, cancelStart := context.WithCancel(t.Context())
	e := startEmbedded(t, startCtx, dir, logger)
	cancelStart() // the server must outlive the context it was started with

	st := open(t, e.URI())
	if err := st.EnsureIndexes(t.Context(), []store.Index{
		{Collection: "journal", Keys: bson.D{{Key: "event_id", Value: 1}}, Unique: true},
	}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"ev1", "ev2", "ev3"} {
		if _, err := st.Collection("journal").InsertOne(t.Context(), bson.D{{Key: "event_id", Value: id}}); err != nil {
			t.Fatal(err)
		}
	}
	// FerretDB logs this error reply at WARN; it must not reach our logger.
	if _, err := st.Collection("journal").InsertOne(t.Context(), bson.D{{Key: "event_id", Value: "ev1"}}); !store.IsDuplicate(err) {
		t.Fatalf("duplicate insert before restart: err = %v, want duplicate key", err)
	}
	closeAll(t, st, e)
	if again := e.Close(t.Context()); again != nil {
		t.Errorf("second Close: %v", again)
	}
	if below := logs.belowError(); len(below) > 0 {
		t.Errorf("FerretDB passed records below Error level to our logger: %q", below)
	}

	e2 := startEmbedded(t, t.Context(), dir, logger)
	st2 := open(t, e2.URI())
	n, err := st2.Collection("journal").CountDocuments(t.Context(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("after restart the journal holds %d documents, want 3", n)
	}
	if _, err := st2.Collection("journal").InsertOne(t.Context(), bson.D{{Key: "event_id", Value: "ev2"}}); !store.IsDuplicate(err) {
		t.Fatalf("duplicate insert after restart: err = %v, want duplicate key (the unique index must persist)", err)
	}
	closeAll(t, st2, e2)
}

func TestStartEmbedded_RequiresDataDir(t *testing.T) {
	t.Parallel()
	if e, err := store.StartEmbedded(t.Context(), store.EmbeddedConfig{}); err == nil {
		_ = e.Close(context.Background())
		t.Fatal("StartEmbedded without a data dir succeeded")
	}
}

func startEmbedded(t *testing.T, ctx context.Context, dir string, logger *slog.Logger) *store.Embedded {
	t.Helper()
	e, err := store.StartEmbedded(ctx, store.EmbeddedConfig{DataDir: dir, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close(context.Background()) })
	return e
}

func open(t *testing.T, uri string) *store.Store {
	t.Helper()
	st, err := store.Open(t.Context(), uri, "persist", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	return st
}

// closeAll closes the client before the server, as FerretDB lingers up to 3 s for open connections.
func closeAll(t *testing.T, st *store.Store, e *store.Embedded) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := st.Close(ctx); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if err := e.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(began); d > 2*time.Second {
		t.Errorf("Close took %v with no clients connected", d)
	}
}

// levelRecorder is a slog.Handler that remembers FerretDB's records (those with component=ferretdb) below
// Error level.
type levelRecorder struct {
	mu    sync.Mutex
	below []string
}

func (r *levelRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *levelRecorder) Handle(context.Context, slog.Record) error { return nil } // not FerretDB's

func (r *levelRecorder) WithAttrs(attrs []slog.Attr) slog.Handler {
	for _, a := range attrs {
		if a.Key == "component" && a.Value.String() == "ferretdb" {
			return ferretRecorder{r}
		}
	}
	return r
}

func (r *levelRecorder) WithGroup(string) slog.Handler { return r }

func (r *levelRecorder) belowError() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.below)
}

type ferretRecorder struct{ r *levelRecorder }

func (f ferretRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (f ferretRecorder) Handle(_ context.Context, rec slog.Record) error {
	if rec.Level < slog.LevelError {
		f.r.mu.Lock()
		defer f.r.mu.Unlock()
		f.r.below = append(f.r.below, rec.Level.String()+" "+rec.Message)
	}
	return nil
}

func (f ferretRecorder) WithAttrs([]slog.Attr) slog.Handler { return f }
func (f ferretRecorder) WithGroup(string) slog.Handler      { return f }
