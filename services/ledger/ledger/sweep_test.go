package ledger_test

import (
	"context"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/api/readmodel"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/services/ledger/ledger"
)

func TestLedger_UsageRowsOlderThan90DaysAreRemovedAndMoneyAndRollupsStay(t *testing.T) {
	h := newHarness(t)
	const acc = "acc_sweep"
	now := time.Now().UTC()
	cfg := testConfig()
	cfg.SweepInterval = 100 * time.Millisecond
	svc, err := ledger.New(cfg, ledger.Deps{Bus: h.srv.ConnectAs(t, bus.UserLedger), Store: h.st, Logger: testLogger(t), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	h.publish(credit("cs_1", acc, money.Dollar))
	var old, recent []events.Event
	for i := range 5 {
		u := usage(idn("old", i), acc, 100)
		u.Time = now.Add(-91 * 24 * time.Hour)
		old = append(old, u)
		u = usage(idn("new", i), acc, 100)
		u.Time = now.Add(-time.Hour)
		u.Status = []int{200, 500}[i%2]
		recent = append(recent, u)
	}
	h.publish(append(recent, old...)...)
	h.waitBalance(acc, func(b events.BalanceV1) bool { return b.BalanceMicros == money.Dollar-1000 })

	rollupsBefore := h.rollups(acc)
	waitFor(t, "rows older than 90 days swept", func() bool {
		n, err := h.st.Collection(readmodel.CollUsage).CountDocuments(context.Background(), bson.D{{Key: "account_id", Value: acc}})
		return err == nil && n == int64(len(recent))
	})
	for _, ev := range recent {
		n, _ := h.st.Collection(readmodel.CollUsage).CountDocuments(context.Background(), bson.D{{Key: "_id", Value: ev.EventID()}})
		if n != 1 {
			t.Errorf("recent usage row %s was removed", ev.EventID())
		}
	}
	if n := h.journalCount(acc); n != 11 {
		t.Errorf("journal holds %d entries after the sweep, want 11", n)
	}
	if a, _ := h.account(acc); a.BalanceMicros != int64(money.Dollar-1000) {
		t.Errorf("balance after the sweep %d", a.BalanceMicros)
	}
	after := h.rollups(acc)
	if len(after) != 2 || len(after) != len(rollupsBefore) {
		t.Fatalf("rollups before %v, after %v", rollupsBefore, after)
	}
	for id, r := range rollupsBefore {
		if after[id] != r {
			t.Errorf("rollup %s changed by the sweep: %+v then %+v", id, r, after[id])
		}
	}
	day := readmodel.RollupID(acc, readmodel.Day(now.Add(-time.Hour)), "gpt-5.2", "key_"+acc)
	if r := after[day]; r.Requests != 5 || r.Errors != 2 || r.CostMicros != 500 || r.InputTokens != 500 || r.OutputTokens != 250 {
		t.Errorf("recent rollup %+v, want the sums of its 5 rows", r)
	}
	checkRollupsFor(t, h, day)
}

func (h *harness) rollups(acc string) map[string]readmodel.Rollup {
	h.t.Helper()
	cur, err := h.st.Collection(readmodel.CollRollups).Find(context.Background(), bson.D{{Key: "account_id", Value: acc}})
	if err != nil {
		h.t.Fatal(err)
	}
	var rs []readmodel.Rollup
	if err := cur.All(context.Background(), &rs); err != nil {
		h.t.Fatal(err)
	}
	out := map[string]readmodel.Rollup{}
	for _, r := range rs {
		out[r.ID] = r
	}
	return out
}

// checkRollupsFor compares one rollup with the usage rows still there.
func checkRollupsFor(t *testing.T, h *harness, id string) {
	t.Helper()
	checkRollups(t, h, id)
}
