package ledger_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/services/ledger/ledger"
)

// partition declares the ledger's streams mapped to n partitions, as
// `LEDGER_PARTITIONS=n busadmin declare` does, with short ack waits.
func (h *harness) partition(n int, top bus.Topology) {
	h.t.Helper()
	top.LedgerPartitions = n
	h.srv.Declare(h.t, top)
	h.shortenAckWait()
}

func partitionConfig(n, p int) ledger.Config {
	c := testConfig()
	c.Partitions, c.Partition = n, p
	return c
}

// accountsOf returns count account ids of partition p of n.
func accountsOf(prefix string, n, p, count int) []string {
	var out []string
	for i := 0; len(out) < count; i++ {
		id := fmt.Sprintf("%s_%03d", prefix, i)
		if events.PartitionOf(id, n) == p {
			out = append(out, id)
		}
	}
	return out
}

// partitionIdle reports whether partition p of n's consumers hold nothing
// and it has no half-written batch.
func (h *harness) partitionIdle(n, p int) bool {
	ctx := context.Background()
	all, err := h.bus.LedgerBacklogs(ctx)
	if err != nil {
		return false
	}
	for _, l := range all {
		if l.Partitions == n && l.Partition == p && !l.Drained() {
			return false
		}
	}
	var key any = bson.D{{Key: "$exists", Value: false}}
	if n > 1 {
		key = fmt.Sprintf("%dof%d", p, n)
	}
	err = h.st.Collection("ledger_batches").FindOne(ctx, bson.D{{Key: "partition", Value: key}},
		options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})).Err()
	return errors.Is(err, mongo.ErrNoDocuments)
}

// askLease sends a credit-lease request as a gateway does; ok is false when
// no ledger answered within wait.
func (h *harness) askLease(id, acc string, wait time.Duration) (events.LeaseV1, bool) {
	h.t.Helper()
	r := events.LeaseRequestV1{V: 1, ID: id, AccountID: acc, Replica: "gw_a", Op: events.LeaseGrant, Micros: 100_000}
	subj, err := r.EventSubject()
	if err != nil {
		h.t.Fatal(err)
	}
	raw, _ := json.Marshal(r)
	msg, err := h.bus.Conn().Request(subj, raw, wait)
	if errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders) {
		return events.LeaseV1{}, false
	}
	if err != nil {
		h.t.Fatal(err)
	}
	var out events.LeaseV1
	if err := json.Unmarshal(msg.Data, &out); err != nil {
		h.t.Fatal(err)
	}
	return out, true
}

func TestLedgerPartitions_OnePartitionStoppedDoesNotStopTheOther(t *testing.T) {
	h := newHarness(t)
	h.partition(2, bus.DefaultTopology())
	acc0, acc1 := accountsOf("acc_ind", 2, 0, 3), accountsOf("acc_ind", 2, 1, 3)
	h.start(partitionConfig(2, 1), nil) // partition 0's process is down
	for _, acc := range append(append([]string{}, acc0...), acc1...) {
		h.publish(opened(acc), credit("cs_"+acc, acc, money.Dollar), usage("req_"+acc, acc, 1000))
	}
	for _, acc := range acc1 {
		h.waitBalance(acc, func(b events.BalanceV1) bool { return b.Seq == 3 })
	}
	if l, ok := h.askLease("lse_"+acc1[0], acc1[0], 10*time.Second); !ok || l.Error != "" || l.GrantedMicros != 100_000 {
		t.Fatalf("partition 1's account: lease answer %+v (answered %v), want 100000 granted", l, ok)
	}
	if l, ok := h.askLease("lse_"+acc0[0], acc0[0], time.Second); ok {
		t.Fatalf("partition 0's account got a lease answer %+v from partition 1's writer", l)
	}
	for _, acc := range acc0 {
		if n := h.journalCount(acc); n != 0 {
			t.Fatalf("%s (partition 0) has %d journal entries while partition 0 is down", acc, n)
		}
		if _, ok := h.balance(acc); ok {
			t.Fatalf("%s (partition 0) has a balance while partition 0 is down", acc)
		}
	}
	// Partition 0 comes back and catches up; partition 1 never waited.
	h.start(partitionConfig(2, 0), nil)
	for _, acc := range acc0 {
		h.waitBalance(acc, func(b events.BalanceV1) bool { return b.Seq == 3 })
	}
	if l, ok := h.askLease("lse_"+acc0[0], acc0[0], 10*time.Second); !ok || l.GrantedMicros != 100_000 {
		t.Fatalf("partition 0's account after its start: lease answer %+v (answered %v)", l, ok)
	}
	h.verify()
}

// Two processes for one partition (a rollout, an operator's mistake):
// one writes, the other waits; when the writer stops the other takes
// over. Both start on a backlog in small batches, so that two writers would
// write at once; a probe in each process's batch steps counts the batches
// being written at the same time, across both, and the accounts must still
// follow their journals.
func TestLedgerPartitions_TwoProcessesOfOnePartitionNeverWriteAtOnce(t *testing.T) {
	h := newHarness(t)
	top := bus.DefaultTopology()
	top.LeaseTTL = 2 * time.Second
	h.partition(2, top)
	accs := accountsOf("acc_two", 2, 1, 6)
	const perAccount = 40
	var evs []events.Event
	for i, acc := range accs {
		evs = append(evs, opened(acc))
		for j := range perAccount {
			evs = append(evs, credit(fmt.Sprintf("cs_two_%d_%d", i, j), acc, money.Micros(1000+j)))
		}
	}
	h.publishMixed(evs, nil, 0, len(evs))
	var inBatch, overlaps, batches atomic.Int64
	probe := func(p string) error {
		switch p {
		case ledger.PointBatchRecord:
			batches.Add(1)
			if inBatch.Add(1) > 1 {
				overlaps.Add(1)
			}
			time.Sleep(5 * time.Millisecond) // widen the window
		case ledger.PointDone:
			inBatch.Add(-1)
		}
		return nil
	}
	cfg := partitionConfig(2, 1)
	cfg.BatchSize = 10
	first := h.start(cfg, probe)
	second := h.start(cfg, probe)
	for _, acc := range accs {
		h.waitBalance(acc, func(b events.BalanceV1) bool { return b.Seq == perAccount+1 })
	}
	first.stop(t)
	for i, acc := range accs {
		h.publish(credit(fmt.Sprintf("cs_two_after_%d", i), acc, money.Dollar))
	}
	for _, acc := range accs {
		h.waitBalance(acc, func(b events.BalanceV1) bool { return b.Seq == perAccount+2 })
	}
	second.stop(t)
	if n := overlaps.Load(); n != 0 {
		t.Errorf("two processes of partition 1 wrote a batch at the same time %d times (of %d batches)", n, batches.Load())
	}
	h.verify()
}

func TestLedgerPartitions_ReadModelsBuiltByOnePartitionLeaveTheOthersAccountsToIt(t *testing.T) {
	h := newHarness(t)
	mine, theirs := accountsOf("acc_rm", 2, 0, 1)[0], accountsOf("acc_rm", 2, 1, 1)[0]
	// An older, unpartitioned ledger applied both accounts' events and
	// left no read models.
	r := h.start(testConfig(), nil)
	for _, acc := range []string{mine, theirs} {
		h.publish(opened(acc), credit("cs_"+acc, acc, money.Dollar), usage("req_"+acc, acc, 1000))
	}
	waitFor(t, "applied", func() bool { return h.journalCount(mine) == 3 && h.journalCount(theirs) == 3 && h.idle() })
	r.stop(t)
	ctx := context.Background()
	for _, c := range []string{"usage_days", "account_payments", "ledger_meta"} {
		if _, err := h.st.Collection(c).DeleteMany(ctx, bson.D{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.st.Collection("accounts").UpdateMany(ctx, bson.D{},
		bson.D{{Key: "$unset", Value: bson.D{{Key: "read_models", Value: ""}, {Key: "usage_days", Value: ""}, {Key: "payments_seq", Value: ""}}}}); err != nil {
		t.Fatal(err)
	}

	// Two partitions now; only partition 0 runs.
	h.partition(2, bus.DefaultTopology())
	h.start(partitionConfig(2, 0), nil)
	waitFor(t, "partition 0's read models built", func() bool { a, _ := h.account(mine); return a.ReadModels > 0 })
	a, _ := h.account(theirs)
	if a.ReadModels != 0 || a.PaymentsSeq != 0 {
		t.Fatalf("partition 0 marked partition 1's account %s as built (read_models %d, payments_seq %d): its dashboard would show no usage and no payments until partition 1 builds it",
			theirs, a.ReadModels, a.PaymentsSeq)
	}
	h.start(partitionConfig(2, 1), nil)
	waitFor(t, "partition 1's read models built", func() bool { a, _ := h.account(theirs); return a.ReadModels > 0 && a.PaymentsSeq > 0 })
}
