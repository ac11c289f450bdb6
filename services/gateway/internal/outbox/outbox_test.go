package outbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/bus/bustest"
	"github.com/onekey-oss/onekey/services/gateway/internal/outbox"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*Server).startGoRoutine.func1"),
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.(*ipQueue[...]).push"),
	)
}

func usage(i int) events.UsageRecordedV1 {
	return events.UsageRecordedV1{V: 1, ID: fmt.Sprintf("req_%d", i), Time: time.Now().UTC(), AccountID: "acc_1", Model: "gpt-5.2", CostMicros: 1}
}

func TestOutbox_EventsSpilledByAnEarlierRunArePublishedOnceAfterRestart(t *testing.T) {
	t.Parallel()
	srv := bustest.Start(t)
	b := srv.Connect(t, "outbox-test")
	dir := t.TempDir()
	// A first run whose bus never answers: every event lands on disk.
	srv.Stop()
	o1, err := outbox.New(b, outbox.Config{Dir: dir, AckTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o1.Run(ctx) }()
	for i := range 50 {
		if err := o1.Add(usage(i)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for o1.Spilled() == 0 || time.Now().Before(deadline) && spilledLines(t, dir) < 50 {
		if time.Now().After(deadline) {
			t.Fatalf("spilled %d lines", spilledLines(t, dir))
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The bus returns; a new process starts on the same directory.
	srv.Resume(t)
	o2, err := outbox.New(b, outbox.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if o2.Spilled() == 0 {
		t.Fatal("the new outbox did not find the spilled events")
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() { done <- o2.Run(ctx2) }()
	deadline = time.Now().Add(30 * time.Second)
	for o2.Spilled() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("still %d bytes spilled", o2.Spilled())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel2()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st, err := b.JetStream().Stream(context.Background(), events.StreamUsage)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 50 {
		t.Errorf("stream holds %d events, want 50", info.State.Msgs)
	}
	seen := map[string]bool{}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(context.Background(), seq)
		if err != nil {
			t.Fatal(err)
		}
		var ev events.UsageRecordedV1
		_ = json.Unmarshal(m.Data, &ev)
		seen[ev.ID] = true
	}
	if len(seen) != 50 {
		t.Errorf("%d distinct events", len(seen))
	}
}

func spilledLines(t *testing.T, dir string) int {
	files, _ := filepath.Glob(filepath.Join(dir, "usage-*.jsonl"))
	n := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, c := range raw {
			if c == '\n' {
				n++
			}
		}
	}
	return n
}
