package ledger_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/api/readmodel"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestLedger_AccountSettingsSetTheLowBalanceThresholdItAlertsAt: a user's
// threshold (account.settings, published by auth) replaces the default,
// is kept in the account document, and balance.low fires when the balance
// crosses it, not the default.
func TestLedger_AccountSettingsSetTheLowBalanceThresholdItAlertsAt(t *testing.T) {
	h := newHarness(t)
	const acc = "acc_settings"
	cfg := testConfig()
	cfg.LowBalance = money.Dollar
	cfg.FreeRequests = 0
	h.start(cfg, nil)
	h.publish(opened(acc), credit("cs_evt_s1", acc, 10*money.Dollar))
	h.waitBalance(acc, func(b events.BalanceV1) bool { return b.BalanceMicros == 10*money.Dollar })
	h.publish(events.AccountSettingsV1{V: 1, ID: "settings_1", Time: time.Now(), AccountID: acc, LowBalanceMicros: 5 * money.Dollar})
	waitFor(t, "threshold in the account document", func() bool {
		a, ok := h.account(acc)
		return ok && a.LowBalanceMicros == int64(5*money.Dollar)
	})
	h.publish(usage("req_s1", acc, 6*money.Dollar)) // 10 → 4: crosses 5, not 1
	h.waitBalance(acc, func(b events.BalanceV1) bool { return b.BalanceMicros == 4*money.Dollar })
	ctx := context.Background()
	st, err := h.bus.JetStream().Stream(ctx, events.StreamNotify)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "balance.low", func() bool {
		_, err := st.GetLastMsgForSubject(ctx, events.FamilyBalanceLow+"."+acc)
		return err == nil
	})
	raw, _ := st.GetLastMsgForSubject(ctx, events.FamilyBalanceLow+"."+acc)
	var low events.BalanceLowV1
	_ = json.Unmarshal(raw.Data, &low)
	if low.ThresholdMicros != 5*money.Dollar || low.BalanceMicros != 4*money.Dollar {
		t.Fatalf("balance.low = %+v, want threshold $5 at $4", low)
	}
	if n := h.journalCount(acc); n != 4 {
		t.Fatalf("journal entries = %d, want 4 (open, credit, settings, usage)", n)
	}
}

// TestLedger_RollupsCountFreeRequestsAndWhatWasCharged: the dashboard
// shows what was charged (a free request: $0.00, counted as free), so the
// rollups carry both beside the requests' cost.
func TestLedger_RollupsCountFreeRequestsAndWhatWasCharged(t *testing.T) {
	h := newHarness(t)
	const acc = "acc_rollup_free"
	cfg := testConfig()
	cfg.FreeRequests = 1
	h.start(cfg, nil)
	h.publish(opened(acc), credit("cs_evt_r1", acc, 10*money.Dollar))
	// Both applied (two streams, either order) before the usage: a usage
	// applied before account.created finds no free request and is charged.
	h.waitBalance(acc, func(b events.BalanceV1) bool { return b.BalanceMicros == 10*money.Dollar && b.FreeRequestsLeft == 1 })
	h.publish(usage("req_r1", acc, 300), usage("req_r2", acc, 500))
	h.waitBalance(acc, func(b events.BalanceV1) bool { return b.BalanceMicros == 10*money.Dollar-500 })
	var r readmodel.Rollup
	u := usage("req_r1", acc, 300)
	id := readmodel.RollupID(acc, readmodel.Day(u.Time), u.Model, u.KeyID)
	waitFor(t, "rollup", func() bool {
		err := h.st.Collection(readmodel.CollRollups).FindOne(context.Background(), bson.D{{Key: "_id", Value: id}}).Decode(&r)
		return err == nil && r.Requests == 2
	})
	if r.CostMicros != 800 || r.ChargedMicros != 500 || r.FreeRequests != 1 {
		t.Fatalf("rollup = %+v, want cost 800, charged 500, 1 free", r)
	}
}
