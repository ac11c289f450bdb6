package bustest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/bus/bustest"
)

// An R3 stream keeps every event whose publish was acked when its leader
// node dies, and a publish retried under its event id through the
// election is stored once: the stream holds each event exactly once after
// the old leader is back.
func TestCluster_AnR3StreamKeepsEveryAckedEventOnceWhenItsLeaderIsKilled(t *testing.T) {
	c := bustest.StartCluster(t, 3)
	top := bus.DefaultTopology()
	top.Replicas = 3
	start := time.Now()
	c.Declare(t, top)
	t.Logf("declared R3 in %s", time.Since(start).Round(time.Millisecond))
	admin := c.Connect(t, "test")
	gw := c.ConnectAs(t, bus.UserGateway)

	retries := 0
	publish := func(i int) {
		t.Helper()
		ev := events.UsageRecordedV1{V: 1, ID: fmt.Sprintf("req-%04d", i), Time: time.Now().UTC(), AccountID: "acc1", Model: "m", CostMicros: 1}
		deadline := time.Now().Add(time.Minute)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err := gw.Publish(ctx, ev)
			cancel()
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("publish %s: %v", ev.ID, err)
			}
			retries++
			t.Logf("publish %s: %v (retrying)", ev.ID, err)
			time.Sleep(50 * time.Millisecond)
		}
	}
	for i := range 100 {
		publish(i)
	}
	leader := c.Leader(t, admin, events.StreamUsage)
	c.Kill(leader)
	killed := time.Now()
	for i := 100; i < 200; i++ {
		publish(i)
	}
	t.Logf("100 publishes through the election took %s (%d retried)", time.Since(killed).Round(time.Millisecond), retries)
	if now := c.Leader(t, admin, events.StreamUsage); now == leader {
		t.Fatalf("node %d still leads USAGE after it was killed", leader+1)
	}
	c.Restart(t, leader)
	got := bustest.Messages[events.UsageRecordedV1](t, admin, events.StreamUsage, events.FamilyUsageRecorded+".acc1")
	seen := map[string]int{}
	for _, ev := range got {
		seen[ev.ID]++
	}
	for i := range 200 {
		if id := fmt.Sprintf("req-%04d", i); seen[id] != 1 {
			t.Errorf("%s stored %d times, want once", id, seen[id])
		}
	}
	if len(got) != 200 {
		t.Errorf("USAGE holds %d events, want 200", len(got))
	}
}

// A declare sent to a fresh cluster before it can take it (no meta leader
// elected yet: such a request gets no answer) fails within seconds instead
// of waiting out its deadline, so the admin (tools/busadmin: one attempt
// per 30 s, retried) declares as soon as the cluster can take it. Before,
// the first attempt hung for its whole 30 s and ended "declare stream
// ...: context deadline exceeded", the error of the issue.
func TestCluster_ADeclareBeforeTheClusterCanTakeItFailsFastAndARetrySucceeds(t *testing.T) {
	c := bustest.StartCluster(t, 3)
	admin := c.Connect(t, "admin")
	top := bus.DefaultTopology()
	top.Replicas = 3
	start := time.Now()
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := admin.Declare(ctx, top)
		expired := ctx.Err() != nil
		cancel()
		if err == nil {
			t.Logf("declared R3 at attempt %d, %s after the cluster started", attempt, time.Since(start).Round(time.Millisecond))
			return
		}
		t.Logf("attempt %d: %v", attempt, err)
		if expired {
			t.Fatalf("attempt %d waited out its whole 30 s deadline", attempt)
		}
		if attempt == 10 {
			t.Fatal("no declare in 10 attempts")
		}
		time.Sleep(250 * time.Millisecond)
	}
}
