package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/readmodel"
)

// TestOnekeyctl_DeadLetterIsListedAndReplayedToItsSubjectOnce puts on the
// DEADLETTER stream a usage event the ledger gave up on (as pkg/bus records
// it), lists it, replays it: the ledger journals it once, and replaying it
// again (by seq and with --all) is dropped by its original Nats-Msg-Id.
func TestOnekeyctl_DeadLetterIsListedAndReplayedToItsSubjectOnce(t *testing.T) {
	s := newStack(t)
	acc := s.seed("dlq@example.com")
	ctx := context.Background()
	usage := events.UsageRecordedV1{V: 1, ID: "req_dead_1", Time: time.Now().UTC(), AccountID: acc.AccountID,
		KeyID: acc.KeyID, ProjectID: acc.ProjectID, Model: "m", CostMicros: 1000, Status: 200}
	payload, _ := json.Marshal(usage)
	subject, _ := usage.EventSubject()
	if _, err := s.bus.Publish(ctx, events.DeadLetterV1{V: 1, ID: "ledger-usage:req_dead_1", Time: time.Now().UTC(),
		Consumer: "ledger-usage", Subject: subject, MsgID: usage.ID, Attempts: 5, Reason: "database down", Payload: payload}); err != nil {
		t.Fatal(err)
	}
	out, code := s.run("dlq", "list")
	if code != 0 || !strings.Contains(out, subject) || !strings.Contains(out, "req_dead_1") || !strings.Contains(out, "database down") || !strings.Contains(out, "1 dead letter(s)") {
		t.Fatalf("dlq list: exit %d: %s", code, out)
	}
	seq := strings.Fields(out)[0]
	if out, code := s.run("dlq", "replay", seq); code != 0 || !strings.Contains(out, "replayed") {
		t.Fatalf("dlq replay %s: exit %d: %s", seq, code, out)
	}
	journaled := func() int64 {
		n, err := s.st.Collection(readmodel.CollJournal).CountDocuments(ctx, bson.D{{Key: "_id", Value: usage.ID}})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	deadline := time.Now().Add(time.Minute)
	for journaled() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the ledger did not apply the replayed usage within a minute")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out, code := s.run("dlq", "replay", seq); code != 0 || !strings.Contains(out, "duplicate") {
		t.Fatalf("second replay: exit %d: %s", code, out)
	}
	if out, code := s.run("dlq", "replay", "--all"); code != 0 || !strings.Contains(out, "duplicate") {
		t.Fatalf("replay --all: exit %d: %s", code, out)
	}
	st, err := s.bus.JetStream().Stream(ctx, events.StreamUsage)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Fatalf("USAGE holds %d messages after three replays of one, want 1", info.State.Msgs)
	}
	if n := journaled(); n != 1 {
		t.Fatalf("journal has %d entries for the replayed request", n)
	}
	if out, code := s.run("dlq", "replay", "999"); code != exitFailed {
		t.Fatalf("replay of a missing seq: exit %d: %s", code, out)
	}
	if out, code := s.run("dlq", "replay"); code != exitUsage {
		t.Fatalf("replay without seq: exit %d: %s", code, out)
	}
}
