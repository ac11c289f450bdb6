package store

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

// countingHandler counts WithAttrs calls on the handler it wraps.
type countingHandler struct {
	slog.Handler
	withAttrs *int
}

func (c countingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	*c.withAttrs++
	return countingHandler{Handler: c.Handler.WithAttrs(attrs), withAttrs: c.withAttrs}
}

func (c countingHandler) WithGroup(name string) slog.Handler {
	return countingHandler{Handler: c.Handler.WithGroup(name), withAttrs: c.withAttrs}
}

func TestMinLevelHandler_FormatsAttributesOnlyForRecordsItPasses(t *testing.T) {
	var buf bytes.Buffer
	calls := 0
	next := countingHandler{Handler: slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}), withAttrs: &calls}
	log := slog.New(minLevelHandler{min: slog.LevelError, next: next}).With("component", "ferretdb")

	for range 100 {
		log.With("sql", "INSERT INTO t VALUES (?)", "args", "a whole document").Debug("statement")
	}
	if calls != 0 || buf.Len() != 0 {
		t.Fatalf("dropped debug records cost %d WithAttrs calls and wrote %q", calls, buf.String())
	}

	log.WithGroup("conn").With("id", 7).Error("failed", "err", "disk full")
	line := buf.String()
	for _, want := range []string{"level=ERROR", "component=ferretdb", "conn.id=7", `conn.err="disk full"`} {
		if !strings.Contains(line, want) {
			t.Errorf("error record %q lacks %s", line, want)
		}
	}
	if !slog.New(minLevelHandler{min: slog.LevelError, next: next}).Handler().Enabled(context.Background(), slog.LevelError) {
		t.Error("error level not enabled")
	}
}
