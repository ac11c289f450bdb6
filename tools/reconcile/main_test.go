package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/api/readmodel"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/bus/bustest"
	"github.com/onekey-oss/onekey/pkg/config"
	"github.com/onekey-oss/onekey/pkg/store/storetest"
	"github.com/onekey-oss/onekey/services/ledger/ledger"
	"github.com/onekey-oss/onekey/tools/internal/reconcilecheck"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// TestReconcile_PassesOnACleanLedgerAndFindsAHandMadeDiscrepancy runs the
// real ledger over a few events, checks that reconcile passes, then edits
// one balance by hand and requires reconcile to name that account and fail.
func TestReconcile_PassesOnACleanLedgerAndFindsAHandMadeDiscrepancy(t *testing.T) {
	srv := bustest.Start(t)
	b := srv.Connect(t, "reconcile-test")
	st := storetest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	svc, err := ledger.New(ledger.DefaultConfig(), ledger.Deps{Bus: srv.ConnectAs(t, bus.UserLedger), Store: st})
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Run(rctx) }()
	now := time.Now().UTC()
	for _, acc := range []string{"acc_a", "acc_b"} {
		evs := []events.Event{
			events.AccountCreatedV1{V: 1, ID: "account.created:" + acc, Time: now, AccountID: acc},
			events.CreditPurchasedV1{V: 1, ID: "cs_" + acc, Time: now, AccountID: acc, Kind: events.CreditPurchase, AmountMicros: 3 * money.Dollar, Source: "stripe", PaymentID: "cs"},
		}
		for i := range 25 {
			evs = append(evs, events.UsageRecordedV1{V: 1, ID: acc + "_req_" + string(rune('a'+i)), Time: now, AccountID: acc, KeyID: "key_1", Model: "m", CostMicros: 1000, Status: 200})
		}
		for _, ev := range evs {
			if _, err := b.Publish(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
	}
	env := config.MapEnv(map[string]string{"MONGODB_URI": storetest.URI(t), "MONGODB_DB": st.DB().Name()})
	deadline := time.Now().Add(time.Minute)
	for {
		n, _ := st.Collection(readmodel.CollJournal).CountDocuments(ctx, bson.D{})
		if n == 54 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ledger applied %d of 54 events within a minute", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A gateway replica's credit lease: a journal entry that moves money
	// from available to leased (available + leased = the journal).
	raw, _ := json.Marshal(events.LeaseRequestV1{V: 1, ID: "lse_1", AccountID: "acc_a", Replica: "gw_1", Op: events.LeaseGrant, Micros: money.Dollar})
	msg, err := b.Conn().Request("ledger.lease.acc_a", raw, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var lease events.LeaseV1
	if err := json.Unmarshal(msg.Data, &lease); err != nil || lease.GrantedMicros != money.Dollar {
		t.Fatalf("lease reply %s (%v)", msg.Data, err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	if err := run(ctx, nil, env, &out); err != nil {
		t.Fatalf("reconcile on a clean ledger: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "2 accounts, 55 journal entries, 0 differences") {
		t.Fatalf("output: %s", out.String())
	}

	// A hand-made discrepancy: someone edits a balance in the database.
	if _, err := st.Collection(readmodel.CollAccounts).UpdateOne(ctx, bson.D{{Key: "_id", Value: "acc_b"}},
		bson.D{{Key: "$inc", Value: bson.D{{Key: "balance_micros", Value: 42}}}}); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	err = run(ctx, nil, env, &out)
	if !errors.Is(err, reconcilecheck.ErrDifferences) {
		t.Fatalf("reconcile after editing a balance returned %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "account acc_b: balance") || !strings.Contains(out.String(), "difference 42") || strings.Contains(out.String(), "acc_a") {
		t.Fatalf("reconcile did not name exactly the edited account:\n%s", out.String())
	}

	// The balance put back, the lease edited: leased no longer follows
	// the journal.
	for _, e := range []struct {
		acc, field string
		by         int64
	}{{"acc_b", "balance_micros", -42}, {"acc_a", "leased_micros", 7}} {
		if _, err := st.Collection(readmodel.CollAccounts).UpdateOne(ctx, bson.D{{Key: "_id", Value: e.acc}},
			bson.D{{Key: "$inc", Value: bson.D{{Key: e.field, Value: e.by}}}}); err != nil {
			t.Fatal(err)
		}
	}
	out.Reset()
	err = run(ctx, nil, env, &out)
	if !errors.Is(err, reconcilecheck.ErrDifferences) || !strings.Contains(out.String(), "account acc_a: leased 1000007") || strings.Contains(out.String(), "acc_b") {
		t.Fatalf("reconcile after editing a lease returned %v:\n%s", err, out.String())
	}
}
