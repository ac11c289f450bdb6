package bus_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/bus/bustest"
)

// The server's partition() and events.PartitionOf must agree for the
// ledger to answer credit leases (core requests, routed by PartitionOf) for
// the same accounts whose events it is delivered (stored by partition()).
// Going from 1 to 2 partitions, what the first layout's consumers hold is
// still theirs and every later event goes to exactly its account's
// partition.
func TestLedgerPartitions_EventsGoToTheirAccountsPartitionAndTheOldConsumersKeepTheirs(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv := bustest.Start(t) // LEDGER_PARTITIONS=1
	admin := srv.Connect(t, "test")
	js := admin.JetStream()
	accounts := make([]string, 40)
	for i := range accounts {
		accounts[i] = fmt.Sprintf("acc_%02d", i)
	}
	publish := func(round string) {
		t.Helper()
		for _, a := range accounts {
			if _, err := js.Publish(ctx, events.FamilyUsageRecorded+"."+a, []byte("{}"), jetstream.WithMsgID(round+a)); err != nil {
				t.Fatal(err)
			}
			if _, err := js.Publish(ctx, events.FamilyCreditAdjusted+"."+a, []byte("{}"), jetstream.WithMsgID("c"+round+a)); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish("one")
	// An install from before partitions: the ledger's consumers have no filter.
	for _, name := range []string{events.ConsumerLedgerUsage, events.ConsumerLedgerBilling, events.ConsumerLedgerAccounts} {
		c, err := admin.Consumer(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		cfg := c.CachedInfo().Config
		cfg.FilterSubjects = nil
		if _, err := js.UpdateConsumer(ctx, events.ConsumerStream(name), cfg); err != nil {
			t.Fatal(err)
		}
	}

	top := bus.DefaultTopology()
	top.LedgerPartitions = 2
	srv.Declare(t, top)
	publish("two")

	pull := func(name string, want int) []string {
		t.Helper()
		c, err := admin.Consumer(ctx, name)
		if err != nil {
			t.Fatalf("consumer %s: %v", name, err)
		}
		b, err := c.Fetch(1000, jetstream.FetchMaxWait(500*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		var subjects []string
		for m := range b.Messages() {
			subjects = append(subjects, m.Subject())
			_ = m.Ack()
		}
		if len(subjects) != want {
			t.Fatalf("%s delivered %d messages, want %d: %v", name, len(subjects), want, subjects)
		}
		return subjects
	}
	// The first layout's consumers: the round before the change, as published.
	for _, s := range pull(events.ConsumerLedgerUsage, len(accounts)) {
		if events.Published(s) != s {
			t.Fatalf("ledger-usage delivered a partitioned subject %s", s)
		}
	}
	pull(events.ConsumerLedgerBilling, len(accounts))
	// Each partition: the second round of its accounts, and only them.
	seen := map[string]int{}
	for p := range 2 {
		for _, base := range []string{events.ConsumerLedgerUsage, events.ConsumerLedgerBilling} {
			name := events.LedgerConsumer(base, 2, p)
			c, err := admin.Consumer(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			want := int(c.CachedInfo().NumPending)
			for _, s := range pull(name, want) {
				acc := events.AccountOf(s)
				if got := events.PartitionOf(acc, 2); got != p {
					t.Fatalf("%s: %s (partition %d by PartitionOf) delivered to partition %d", name, s, got, p)
				}
				if want := fmt.Sprintf("2.%d.%s", p, acc); s[len(s)-len(want):] != want {
					t.Fatalf("stored subject %s, want it to end with %s", s, want)
				}
				seen[base+acc]++
			}
		}
	}
	for _, a := range accounts {
		if seen[events.ConsumerLedgerUsage+a] != 1 || seen[events.ConsumerLedgerBilling+a] != 1 {
			t.Fatalf("account %s: delivered %d usage and %d billing events, want 1 each", a, seen[events.ConsumerLedgerUsage+a], seen[events.ConsumerLedgerBilling+a])
		}
	}
}

// The old layout's consumers are deleted only once drained.
func TestLedgerPartitions_OldConsumersAreDeletedOnlyOnceDrained(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv := bustest.Start(t)
	admin := srv.Connect(t, "test")
	if _, err := admin.JetStream().Publish(ctx, events.FamilyUsageRecorded+".acc_1", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	top := bus.DefaultTopology()
	top.LedgerPartitions = 2
	srv.Declare(t, top)
	if _, err := admin.DeleteLedgerConsumers(ctx, 2); err == nil {
		t.Fatal("deleted ledger-usage while it held a message")
	}
	c, err := admin.Consumer(ctx, events.ConsumerLedgerUsage)
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.Next(jetstream.FetchMaxWait(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.DoubleAck(ctx); err != nil {
		t.Fatal(err)
	}
	deleted, err := admin.DeleteLedgerConsumers(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(deleted) != 3 {
		t.Fatalf("deleted %v, want the three ledger consumers of the first layout", deleted)
	}
	left, err := admin.LedgerBacklogs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 6 {
		t.Fatalf("left %v, want the six consumers of two partitions", left)
	}
}
