package outbox_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/bus/bustest"
	"github.com/onekey-oss/onekey/services/gateway/internal/outbox"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(childDirEnv); dir != "" {
		os.Exit(crashChild(dir, os.Getenv(childNATSEnv)))
	}
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

const (
	childDirEnv  = "OUTBOX_TEST_CHILD_DIR"
	childNATSEnv = "OUTBOX_TEST_CHILD_NATS"
	crashEvents  = 3000
)

// crashChild runs in a child process: it adds crashEvents events to an
// outbox publishing to the NATS server at natsURL, prints "ADDED" and
// waits to be killed.
func crashChild(dir, natsURL string) int {
	ctx := context.Background()
	b, err := bus.Connect(ctx, bus.Config{URL: natsURL, Name: "outbox-crash-child"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// Small segments, so that the kill finds some deleted (acknowledged),
	// some closed and some open.
	o, err := outbox.New(b, outbox.Config{Dir: dir, SegmentBytes: 16 << 10})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go func() { _ = o.Run(ctx) }()
	for i := range crashEvents {
		if err := o.Add(usage(i)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	fmt.Println("ADDED")
	select {}
}

// The process is killed (SIGKILL) right after its last Add returned, with
// publishes and acks in flight: a new outbox on the same directory
// publishes what the bus had not acknowledged, and every event is stored
// exactly once.
func TestOutbox_AProcessKilledAfterAddLosesNoEvent(t *testing.T) {
	t.Parallel()
	srv := bustest.Start(t)
	b := srv.Connect(t, "outbox-test")
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run", "^$")
	cmd.Env = append(os.Environ(), childDirEnv+"="+dir, childNATSEnv+"="+srv.ClientURL())
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	added := false
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "ADDED" {
			added = true
			break
		}
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if !added {
		t.Fatal("the child exited before adding its events")
	}
	stored := func() map[string]int {
		got := map[string]int{}
		for _, ev := range bustest.Messages[events.UsageRecordedV1](t, b, events.StreamUsage, events.FamilyUsageRecorded+".acc_1") {
			got[ev.ID]++
		}
		return got
	}
	t.Logf("stored before the restart: %d of %d; left on disk: %d lines", len(stored()), crashEvents, spilledLines(t, dir))

	o, err := outbox.New(b, outbox.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	var got map[string]int
	for {
		got = stored()
		if len(got) >= crashEvents && o.Spilled() == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events stored, %d bytes spilled", len(got), crashEvents, o.Spilled())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for i := range crashEvents {
		if n := got[usage(i).ID]; n != 1 {
			t.Errorf("event %s stored %d times", usage(i).ID, n)
		}
	}
	if len(got) != crashEvents {
		t.Errorf("%d distinct events stored, want %d", len(got), crashEvents)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "usage-*.jsonl")); len(files) != 0 {
		t.Errorf("segments left after everything was acknowledged: %v", files)
	}
}

// With a healthy bus every event is published live, nothing counts as
// spilled, and the segments are deleted once acknowledged.
func TestOutbox_HealthyBusPublishesLiveAndLeavesNoFiles(t *testing.T) {
	t.Parallel()
	srv := bustest.Start(t)
	b := srv.Connect(t, "outbox-test")
	dir := t.TempDir()
	o, err := outbox.New(b, outbox.Config{Dir: dir, SegmentBytes: 32 << 10})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	const n = 2000
	for i := range n {
		if err := o.Add(usage(i)); err != nil {
			t.Fatal(err)
		}
		if i == 0 && spilledLines(t, dir) != 1 {
			t.Fatal("the first event is not on disk when Add returns")
		}
		if o.Spilled() != 0 {
			t.Fatalf("%d bytes spilled with a healthy bus", o.Spilled())
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(dir, "usage-*.jsonl"))
		if len(files) == 0 && !o.Full() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("segments still on disk: %v", files)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := len(bustest.Messages[events.UsageRecordedV1](t, b, events.StreamUsage, events.FamilyUsageRecorded+".acc_1")); got != n {
		t.Errorf("%d events stored, want %d", got, n)
	}
}
