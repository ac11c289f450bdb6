package ledger_test

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/services/ledger/ledger"
)

func TestLedger_RedeliveredUsageAfterAckLossIsDebitedOnce(t *testing.T) {
	h := newHarness(t)
	const acc = "acc_ackloss"
	h.publish(credit("cs_evt_1", acc, 10*money.Dollar))
	first := h.start(testConfig(), nil)
	h.waitBalance(acc, func(b events.BalanceV1) bool { return b.BalanceMicros == 10*money.Dollar })
	first.stop(t)

	// The second run applies the usage fully, then "crashes" before it
	// acks: JetStream redelivers the message to the third run.
	var crashed atomic.Bool
	second := h.start(testConfig(), func(p string) error {
		if p == ledger.PointDone && crashed.CompareAndSwap(false, true) {
			return errCrash
		}
		return nil
	})
	h.publish(usage("req_1", acc, 250_000))
	waitFor(t, "crash before ack", func() bool { return crashed.Load() })
	second.stop(t)
	h.start(testConfig(), nil)
	waitFor(t, "redelivery seen as duplicate", func() bool { return h.counter("ledger_events_duplicate") >= 1 })

	b, _ := h.balance(acc)
	if b.BalanceMicros != 10*money.Dollar-250_000 {
		t.Fatalf("balance %v, want $9.75: the redelivered usage was debited again", b.BalanceMicros)
	}
	if n := h.journalCount(acc); n != 2 {
		t.Fatalf("journal holds %d entries, want 2", n)
	}
}

func TestLedger_SameIDWithOtherContentIsRejectedAndReported(t *testing.T) {
	h := newHarness(t)
	const acc = "acc_conflict"
	h.start(testConfig(), nil)
	h.publish(credit("cs_evt_1", acc, 10*money.Dollar), usage("req_1", acc, 100))
	h.waitBalance(acc, func(b events.BalanceV1) bool { return b.Seq == 2 })

	other := usage("req_1", acc, 999_999)
	h.publishRaw(subject(other), other)
	h.publish(usage("req_2", acc, 100))
	// Sequence numbers may skip the number tried for the refused event.
	h.waitBalance(acc, func(b events.BalanceV1) bool { return b.Seq >= 3 })

	b, _ := h.balance(acc)
	if want := 10*money.Dollar - 200; b.BalanceMicros != want {
		t.Fatalf("balance %v, want %v: the conflicting event changed it", b.BalanceMicros, want)
	}
	waitFor(t, "dead letter", func() bool { return len(h.deadLetters(acc)) > 0 })
	dls := h.deadLetters(acc)
	if len(dls) != 1 || dls[0].MsgID != "" && dls[0].Consumer != events.ConsumerLedgerUsage || dls[0].Reason == "" {
		t.Fatalf("dead letters = %+v, want the conflicting usage with a reason", dls)
	}
	var got events.UsageRecordedV1
	if err := json.Unmarshal(dls[0].Payload, &got); err != nil || got.CostMicros != 999_999 {
		t.Fatalf("dead letter payload %s is not the conflicting event", dls[0].Payload)
	}
	if n := h.counter("ledger_events_conflict"); n != 1 {
		t.Fatalf("conflict metric = %d, want 1", n)
	}
	if n := h.counter("ledger_dead_letters"); n != 1 {
		t.Fatalf("dead-letter metric = %d, want 1", n)
	}
}

func TestLedger_PoisonMessageIsDeadLetteredAndDoesNotBlockTheStream(t *testing.T) {
	h := newHarness(t)
	const acc = "acc_poison"
	h.start(testConfig(), nil)
	h.publishRaw("usage.recorded."+acc, []byte(`{"v":1,"id":"req_bad","account_id":`))
	bad := usage("req_neg", acc, -5)
	h.publishRaw(subject(bad), bad)
	h.publish(credit("cs_evt_1", acc, money.Dollar), usage("req_ok", acc, 10))
	h.waitBalance(acc, func(b events.BalanceV1) bool { return b.Seq == 2 })
	waitFor(t, "two dead letters", func() bool { return len(h.deadLetters(acc)) == 2 })
	if n := h.counter("ledger_dead_letters"); n != 2 {
		t.Fatalf("dead-letter metric = %d, want 2", n)
	}
	if b, _ := h.balance(acc); b.BalanceMicros != money.Dollar-10 {
		t.Fatalf("balance %v", b.BalanceMicros)
	}
}

func TestLedger_FreeRequestsRunOutThenCreditsAreUsed(t *testing.T) {
	h := newHarness(t)
	const acc = "acc_free"
	h.start(testConfig(), nil)
	h.publish(opened(acc))
	h.waitBalance(acc, func(b events.BalanceV1) bool { return b.FreeRequestsLeft == 20 })
	for i := range 22 {
		h.publish(usage(idn("req", i), acc, 1_000))
	}
	b := h.waitBalance(acc, func(b events.BalanceV1) bool { return b.Seq == 23 })
	if b.FreeRequestsLeft != 0 || b.BalanceMicros != -2_000 {
		t.Fatalf("after 22 requests: free %d, balance %v; want 0 and -$0.002", b.FreeRequestsLeft, b.BalanceMicros)
	}
	if b.KeySpendMicros["key_"+acc] != 2_000 {
		t.Fatalf("key spend %v, want 2000 (free requests cost the key nothing)", b.KeySpendMicros)
	}
	h.publish(credit("cs_evt_1", acc, 5*money.Dollar), usage("req_after", acc, 1_000))
	b = h.waitBalance(acc, func(b events.BalanceV1) bool { return b.Seq == 25 })
	if want := 5*money.Dollar - 3_000; b.BalanceMicros != want || b.FreeRequestsLeft != 0 {
		t.Fatalf("after credit and one more request: balance %v free %d, want %v and 0", b.BalanceMicros, b.FreeRequestsLeft, want)
	}
}

func TestLedger_CreditBeforeAccountCreatedIsNotLost(t *testing.T) {
	h := newHarness(t)
	const acc = "acc_early"
	h.start(testConfig(), nil)
	h.publish(credit("cs_evt_1", acc, 7*money.Dollar))
	h.waitBalance(acc, func(b events.BalanceV1) bool { return b.BalanceMicros == 7*money.Dollar })
	if a, ok := h.account(acc); !ok || a.Opened {
		t.Fatalf("account before account.created = %+v (found %v), want a document not yet opened", a, ok)
	}
	h.publish(opened(acc))
	b := h.waitBalance(acc, func(b events.BalanceV1) bool { return b.FreeRequestsLeft == 20 })
	if b.BalanceMicros != 7*money.Dollar {
		t.Fatalf("balance after opening %v, want the early $7", b.BalanceMicros)
	}
	a, _ := h.account(acc)
	if !a.Opened || a.BalanceMicros != int64(7*money.Dollar) || a.FreeRequestsLeft != 20 {
		t.Fatalf("account = %+v", a)
	}
}

func TestLedger_CreditsArePublishedAndLowBalanceIsAnnounced(t *testing.T) {
	h := newHarness(t)
	const acc = "acc_notes"
	cfg := testConfig()
	cfg.LowBalance = money.Dollar
	h.start(cfg, nil)
	h.publish(opened(acc), credit("cs_evt_1", acc, 2*money.Dollar))
	// Both applied (two streams, either order) before the free requests
	// are used: a usage applied before account.created is charged.
	h.waitBalance(acc, func(b events.BalanceV1) bool { return b.BalanceMicros == 2*money.Dollar && b.FreeRequestsLeft == 20 })
	for i := range 20 {
		h.publish(usage(idn("free", i), acc, 1))
	}
	h.publish(usage("req_big", acc, 1_500_000))
	h.waitBalance(acc, func(b events.BalanceV1) bool { return b.BalanceMicros == 500_000 })

	ctx := context.Background()
	st, err := h.bus.JetStream().Stream(ctx, events.StreamNotify)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := st.GetLastMsgForSubject(ctx, events.FamilyCreditApplied+"."+acc)
	if err != nil {
		t.Fatalf("no credit.applied: %v", err)
	}
	var ca events.CreditAppliedV1
	_ = json.Unmarshal(raw.Data, &ca)
	if ca.ID != "applied:cs_evt_1" || ca.AmountMicros != 2*money.Dollar || ca.BalanceMicros != 2*money.Dollar || ca.Method != "card" {
		t.Fatalf("credit.applied = %+v", ca)
	}
	waitFor(t, "balance.low", func() bool {
		_, err := st.GetLastMsgForSubject(ctx, events.FamilyBalanceLow+"."+acc)
		return err == nil
	})
	raw, _ = st.GetLastMsgForSubject(ctx, events.FamilyBalanceLow+"."+acc)
	var low events.BalanceLowV1
	_ = json.Unmarshal(raw.Data, &low)
	if low.BalanceMicros != 500_000 || low.ThresholdMicros != money.Dollar {
		t.Fatalf("balance.low = %+v", low)
	}
}

// putsTook is how long the bus takes here, now, for n sequential puts of a
// balance-sized value: the baseline of TestLedger_BalanceReachesKVRightAfterItsBatch.
func putsTook(t *testing.T, kv jetstream.KeyValue, n int) time.Duration {
	t.Helper()
	raw, _ := json.Marshal(events.BalanceV1{V: 1, AccountID: "acc_baseline", BalanceMicros: money.Dollar, Seq: 3})
	began := time.Now()
	for i := range n {
		if _, err := kv.Put(context.Background(), idn("baseline", i), raw); err != nil {
			t.Fatal(err)
		}
	}
	return time.Since(began)
}

// The promise: a batch's balances are put right after it wrote the
// accounts (not on a timer, not after a later batch). Issue 4's target,
// within 100 ms, is measured by BenchmarkLedger_BalanceReachesKVAfterItsBatch
// (figure in the README); this test fails only when it is way off: ten
// times the target plus three times what the bus itself takes for as many
// puts, measured before and after in the same run. A 100 ms bound (even
// with that baseline) failed on a loaded machine: the baseline measures
// the bus, not a ledger goroutine paused between its writes.
func TestLedger_BalanceReachesKVRightAfterItsBatch(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	kv, err := h.bus.KV(ctx, events.BucketBalances)
	if err != nil {
		t.Fatal(err)
	}
	base, err := h.bus.JetStream().CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "baseline", History: 1, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	const accounts = 20
	baseline := putsTook(t, base, accounts)
	h.start(testConfig(), nil)
	for i := range accounts {
		acc := idn("acc_kv", i)
		h.publish(opened(acc), credit("cs_"+acc, acc, money.Dollar), usage("req_"+acc, acc, 5))
	}
	for i := range accounts {
		h.waitBalance(idn("acc_kv", i), func(b events.BalanceV1) bool { return b.Seq == 3 })
	}
	allowed := time.Second + 3*max(baseline, putsTook(t, base, accounts))
	for i := range accounts {
		acc := idn("acc_kv", i)
		// The value's updated_at is when its batch had written the
		// account; the KV entry's server timestamp tells when the gateway
		// could see it.
		e, err := kv.Get(ctx, acc)
		if err != nil {
			t.Fatal(err)
		}
		var v events.BalanceV1
		if err := json.Unmarshal(e.Value(), &v); err != nil {
			t.Fatal(err)
		}
		if d := e.Created().Sub(v.UpdatedAt); d > allowed {
			t.Errorf("%s: KV updated %v after its batch wrote the account (allowed %v)", acc, d, allowed)
		}
	}

	// A gateway restarted now builds its view from a fresh watch: the
	// replay must equal the ledger's accounts.
	w, err := kv.WatchAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Stop() }()
	view := map[string]events.BalanceV1{}
	for e := range w.Updates() {
		if e == nil {
			break
		}
		var v events.BalanceV1
		if err := json.Unmarshal(e.Value(), &v); err != nil {
			t.Fatal(err)
		}
		view[e.Key()] = v
	}
	if len(view) != accounts {
		t.Fatalf("restarted view has %d balances, want %d", len(view), accounts)
	}
	for acc, v := range view {
		a, _ := h.account(acc)
		if int64(v.BalanceMicros) != a.BalanceMicros || v.FreeRequestsLeft != a.FreeRequestsLeft {
			t.Errorf("%s: view %+v, account %+v", acc, v, a)
		}
	}
}

func idn(prefix string, i int) string {
	return prefix + "_" + itoa(i)
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}
