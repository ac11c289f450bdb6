package ledger_test

import (
	"testing"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
)

func TestLedger_AppliesTheGatewaysFreeDecision(t *testing.T) {
	h := newHarness(t)
	const acc = "acc_decision"
	h.start(testConfig(), nil)
	h.publish(opened(acc), credit("cs_evt_1", acc, money.Dollar))
	h.waitBalance(acc, func(b events.BalanceV1) bool { return b.Seq == 2 })

	// The gateway decided paid although free requests are left: debited.
	paid := usage("req_paid", acc, 3_000)
	paid.Replica = "gw_1"
	// The gateway decided free: one free request, nothing debited.
	free := usage("req_free", acc, 4_000)
	free.Replica, free.Free = "gw_1", true
	h.publish(paid, free)
	b := h.waitBalance(acc, func(b events.BalanceV1) bool { return b.Seq == 4 })
	if b.BalanceMicros != money.Dollar-3_000 || b.FreeRequestsLeft != 19 {
		t.Fatalf("after a paid and a free request: balance %v, free %d; want $0.997 and 19", b.BalanceMicros, b.FreeRequestsLeft)
	}
	if b.KeySpendMicros["key_"+acc] != 3_000 {
		t.Fatalf("key spend %v, want 3000 (the free request costs the key nothing)", b.KeySpendMicros)
	}

	// An event published before the gateway sent its decision (no
	// replica) keeps the old rule: a free request while any is left.
	h.publish(usage("req_old", acc, 5_000))
	b = h.waitBalance(acc, func(b events.BalanceV1) bool { return b.Seq == 5 })
	if b.BalanceMicros != money.Dollar-3_000 || b.FreeRequestsLeft != 18 {
		t.Fatalf("after an old event: balance %v, free %d; want $0.997 and 18", b.BalanceMicros, b.FreeRequestsLeft)
	}
}

func TestLedger_AccountCreatedWithoutFreeRequestsOpensWithNone(t *testing.T) {
	h := newHarness(t)
	const acc = "acc_nofree"
	h.start(testConfig(), nil)
	ev := opened(acc)
	ev.NoFreeRequests = true
	h.publish(ev, credit("cs_evt_1", acc, money.Dollar))
	b := h.waitBalance(acc, func(b events.BalanceV1) bool { return b.Seq == 2 })
	if b.FreeRequestsLeft != 0 || b.BalanceMicros != money.Dollar {
		t.Fatalf("free %d, balance %v; want 0 and $1", b.FreeRequestsLeft, b.BalanceMicros)
	}
	a, ok := h.account(acc)
	if !ok || !a.Opened || a.FreeRequestsLeft != 0 {
		t.Fatalf("account = %+v", a)
	}
}
