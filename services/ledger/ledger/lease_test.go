package ledger_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/services/ledger/ledger"
)

// lease sends a lease request as a gateway replica does and returns the
// ledger's reply.
func (h *harness) lease(r events.LeaseRequestV1) events.LeaseV1 {
	h.t.Helper()
	r.V = 1
	subj, err := r.EventSubject()
	if err != nil {
		h.t.Fatal(err)
	}
	raw, _ := json.Marshal(r)
	msg, err := h.bus.Conn().Request(subj, raw, 20*time.Second)
	if err != nil {
		h.t.Fatalf("lease request %s: %v", r.ID, err)
	}
	var out events.LeaseV1
	if err := json.Unmarshal(msg.Data, &out); err != nil {
		h.t.Fatal(err)
	}
	if out.Error != "" {
		h.t.Fatalf("lease request %s refused: %s", r.ID, out.Error)
	}
	return out
}

func (h *harness) verify() {
	h.t.Helper()
	rep, err := ledger.Verify(context.Background(), h.st)
	if err != nil {
		h.t.Fatal(err)
	}
	if !rep.OK() {
		h.t.Fatalf("the accounts do not follow the journal: %v", rep.Problems)
	}
}

func TestLedger_LeasesNeverExceedTheBalanceAndARepeatedRequestAppliesOnce(t *testing.T) {
	h := newHarness(t)
	const acc = "acc_lease"
	h.start(testConfig(), nil)
	h.publish(opened(acc), credit("cs_evt_1", acc, money.Dollar))
	h.waitBalance(acc, func(b events.BalanceV1) bool { return b.Seq == 2 })

	a := h.lease(events.LeaseRequestV1{ID: "lse_a1", AccountID: acc, Replica: "gw_a", Op: events.LeaseGrant, Micros: 600_000, Free: 15})
	if a.GrantedMicros != 600_000 || a.GrantedFree != 15 || a.AvailableMicros != 400_000 || a.AvailableFree != 5 {
		t.Fatalf("first grant: %+v", a)
	}
	// The same request again (a replica that timed out): applied once.
	again := h.lease(events.LeaseRequestV1{ID: "lse_a1", AccountID: acc, Replica: "gw_a", Op: events.LeaseGrant, Micros: 600_000, Free: 15})
	if again.GrantedMicros != 600_000 || again.AvailableMicros != 400_000 {
		t.Fatalf("repeated grant: %+v", again)
	}
	// Another replica gets only what is left.
	b := h.lease(events.LeaseRequestV1{ID: "lse_b1", AccountID: acc, Replica: "gw_b", Op: events.LeaseGrant, Micros: 600_000, Free: 15})
	if b.GrantedMicros != 400_000 || b.GrantedFree != 5 || b.AvailableMicros != 0 || b.AvailableFree != 0 {
		t.Fatalf("second replica: %+v", b)
	}
	// Usage of gw_a within its lease: the balance is debited, and the
	// lease's used counter (its high-water mark) grows by the same.
	u := usage("req_1", acc, 250_000)
	u.Replica = "gw_a"
	f := usage("req_2", acc, 10_000)
	f.Replica, f.Free = "gw_a", true
	h.publish(u, f)
	bal := h.waitBalance(acc, func(b events.BalanceV1) bool {
		return b.Leases["gw_a"].UsedMicros == 250_000 && b.Leases["gw_a"].UsedFree == 1
	})
	if bal.BalanceMicros != 750_000 || bal.FreeRequestsLeft != 19 || bal.LeasedMicros != 750_000 || bal.LeasedFree != 19 {
		t.Fatalf("after usage: %+v", bal)
	}
	// gw_a returns what it did not use: it keeps what it admitted.
	r := h.lease(events.LeaseRequestV1{ID: "lse_a2", AccountID: acc, Replica: "gw_a", Op: events.LeaseReturn, KeepMicros: 250_000, KeepFree: 1})
	if r.GrantedMicros != 250_000 || r.AvailableMicros != 350_000 || r.AvailableFree != 14 {
		t.Fatalf("after return: %+v", r)
	}
	h.waitBalance(acc, func(b events.BalanceV1) bool { return b.LeasedMicros == 400_000 && b.LeasedFree == 5 })
	h.verify()
}

func TestLedger_ALeaseNotRenewedIsReclaimed(t *testing.T) {
	h := newHarness(t)
	const acc = "acc_reclaim"
	cfg := testConfig()
	cfg.LeaseTTL = 2 * time.Second
	h.start(cfg, nil)
	h.publish(credit("cs_evt_1", acc, money.Dollar))
	h.waitBalance(acc, func(b events.BalanceV1) bool { return b.Seq == 1 })
	h.lease(events.LeaseRequestV1{ID: "lse_1", AccountID: acc, Replica: "gw_gone", Op: events.LeaseGrant, Micros: 300_000})
	u := usage("req_1", acc, 100_000)
	u.Replica = "gw_gone"
	h.publish(u)
	h.waitBalance(acc, func(b events.BalanceV1) bool { return b.LeasedMicros == 200_000 })
	// The replica is never heard from again: its lease goes back.
	b := h.waitBalance(acc, func(b events.BalanceV1) bool { return b.LeasedMicros == 0 })
	if b.BalanceMicros != 900_000 || len(b.Leases) != 0 {
		t.Fatalf("after the reclaim: %+v", b)
	}
	c := h.lease(events.LeaseRequestV1{ID: "lse_2", AccountID: acc, Replica: "gw_new", Op: events.LeaseGrant, Micros: 5 * money.Dollar})
	if c.GrantedMicros != 900_000 {
		t.Fatalf("a new replica is granted %v, want the whole $0.90", c.GrantedMicros)
	}
	h.verify()
}
