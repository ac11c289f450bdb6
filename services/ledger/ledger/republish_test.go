package ledger_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/pkg/bus"
)

// TestLedger_StartSetsKVBalancesOfItsPartitionToTheDatabase leaves KV
// balances unlike the database, as a restore does: an entry newer than its
// account (a higher seq and another balance), one missing, one whose
// account the database does not have, in each of two partitions. Started
// alone, partition 0's writer sets its entries to their accounts (also
// back to the lower seq), creates the missing one and deletes the one with
// no account, without any event; partition 1's entries are left to
// partition 1's writer.
func TestLedger_StartSetsKVBalancesOfItsPartitionToTheDatabase(t *testing.T) {
	h := newHarness(t)
	h.partition(2, bus.DefaultTopology())
	acc0, acc1 := accountsOf("acc_rep", 2, 0, 3), accountsOf("acc_rep", 2, 1, 3)
	w0, w1 := h.start(partitionConfig(2, 0), nil), h.start(partitionConfig(2, 1), nil)
	for _, acc := range []string{acc0[0], acc0[1], acc1[0], acc1[1]} {
		h.publish(opened(acc), credit("cs_"+acc, acc, money.Dollar))
	}
	for _, acc := range []string{acc0[0], acc0[1], acc1[0], acc1[1]} {
		h.waitBalance(acc, func(b events.BalanceV1) bool { return b.Seq == 2 })
	}
	w0.stop(t)
	w1.stop(t)

	ctx := context.Background()
	kv, err := h.bus.KV(ctx, events.BucketBalances)
	if err != nil {
		t.Fatal(err)
	}
	put := func(acc string, balance money.Micros, seq uint64) {
		raw, _ := json.Marshal(events.BalanceV1{V: 1, AccountID: acc, BalanceMicros: balance, FreeRequestsLeft: 20, Seq: seq})
		if _, err := kv.Put(ctx, acc, raw); err != nil {
			t.Fatal(err)
		}
	}
	for _, accs := range [][]string{acc0, acc1} {
		put(accs[0], 999*money.Dollar, 99) // newer than the database
		if err := kv.Delete(ctx, accs[1]); err != nil {
			t.Fatal(err)
		}
		put(accs[2], 5*money.Dollar, 1) // no account in the database
	}

	h.start(partitionConfig(2, 0), nil)
	waitFor(t, "partition 0's entry without an account deleted", func() bool {
		_, err := kv.Get(ctx, acc0[2])
		return errors.Is(err, jetstream.ErrKeyNotFound)
	})
	for _, acc := range acc0[:2] {
		a, _ := h.account(acc)
		b := h.waitBalance(acc, func(b events.BalanceV1) bool { return b.Seq == 2 })
		if b.BalanceMicros != money.Micros(a.BalanceMicros) || a.BalanceMicros != money.Dollar.Int64() || b.FreeRequestsLeft != a.FreeRequestsLeft {
			t.Errorf("%s: KV says %+v, the database %+v", acc, b, a)
		}
	}
	// Partition 1's writer is not running: its entries are as left.
	if b, ok := h.balance(acc1[0]); !ok || b.Seq != 99 || b.BalanceMicros != 999*money.Dollar {
		t.Errorf("partition 0's writer changed partition 1's entry: %+v (%v)", b, ok)
	}
	if _, ok := h.balance(acc1[1]); ok {
		t.Errorf("partition 0's writer created partition 1's entry")
	}
	if _, ok := h.balance(acc1[2]); !ok {
		t.Errorf("partition 0's writer deleted partition 1's entry")
	}
	h.verify()
}
