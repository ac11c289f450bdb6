package ledger_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/api/readmodel"
	"github.com/onekey-oss/onekey/services/ledger/ledger"
)

// seededRand is a crash test's random source and its seed: from the clock
// or, to replay a failing run, from LEDGER_SEED; a failed test logs it.
func seededRand(t *testing.T) (*rand.Rand, uint64) {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("LEDGER_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		seed = v
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("replay with LEDGER_SEED=%d", seed)
		}
	})
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), seed
}

// TestLedger_RandomCrashesAndRestartsConvergeToTheJournal publishes 10,000
// usage and credit events over 200 accounts (10% sent twice, 5% out of
// order) while the ledger is crashed at 20 random points, some between its
// own writes, and restarted. Afterwards every balance is the sum of its
// journal, the journal holds each distinct event exactly once, and KV, the
// rollups, the dashboard's read models and reconcile agree. Set LEDGER_SEED to replay a failing run.
func TestLedger_RandomCrashesAndRestartsConvergeToTheJournal(t *testing.T) {
	rng, seed := seededRand(t)
	h := newHarness(t)

	nAccounts, nEvents, nCrashes := 200, 10_000, 20
	if raceEnabled || testing.Short() {
		// The full mix takes about two minutes without the race detector
		// and far longer with it: run `go test ./ledger/` for it.
		nAccounts, nEvents, nCrashes = 20, 1_000, 10
		t.Logf("scaled down to %d events over %d accounts and %d restarts (race detector or -short)", nEvents, nAccounts, nCrashes)
	}
	type pub struct {
		ev  events.Event
		raw bool // a re-send without Nats-Msg-Id, so JetStream keeps it
	}
	var evs []events.Event
	for i := range nAccounts {
		if rng.IntN(10) < 9 { // some accounts are never opened: their events must apply all the same
			evs = append(evs, opened(fmt.Sprintf("acc_%03d", i)))
		}
	}
	for i := range nEvents {
		acc := fmt.Sprintf("acc_%03d", rng.IntN(nAccounts))
		if rng.IntN(5) == 0 {
			evs = append(evs, credit(fmt.Sprintf("cs_%05d", i), acc, money.Micros(1+rng.IntN(5_000_000))))
			continue
		}
		u := usage(fmt.Sprintf("req_%05d", i), acc, money.Micros(rng.IntN(100_000)))
		// One key a day per account, and mostly one model: each rollup
		// touched is one document update per batch, on FerretDB one SQLite
		// transaction (the slow part of a batch).
		if rng.IntN(10) == 0 {
			u.Model = "claude-sonnet-4.5"
		}
		u.KeyID = "key_" + acc
		u.Time = t0.Add(time.Duration(rng.IntN(12*60)) * time.Minute)
		if rng.IntN(20) == 0 {
			u.Status = 500
		}
		// Half come from gateway replicas with their free-or-paid decision
		// (counted against the replica's lease), the rest are events
		// published before the decision travelled.
		if rng.IntN(2) == 0 {
			u.Replica = fmt.Sprintf("gw_%d", rng.IntN(3))
			u.Free = rng.IntN(8) == 0
		}
		evs = append(evs, u)
	}
	// 5% out of order.
	for range len(evs) / 20 {
		i, j := rng.IntN(len(evs)), rng.IntN(len(evs))
		evs[i], evs[j] = evs[j], evs[i]
	}
	pubs := make([]pub, 0, len(evs)*11/10)
	for _, ev := range evs {
		pubs = append(pubs, pub{ev: ev})
	}
	// 10% duplicated, the copy sent later.
	for range nEvents / 10 {
		ev := evs[rng.IntN(len(evs))]
		at := rng.IntN(len(pubs) + 1)
		pubs = append(pubs[:at], append([]pub{{ev: ev, raw: true}}, pubs[at:]...)...)
	}

	cfg := testConfig()
	cfg.BatchSize = 1000
	ctx := context.Background()
	publish := func(ps []pub) {
		for _, p := range ps {
			if !p.raw {
				if _, err := h.bus.PublishAsync(ctx, p.ev); err != nil {
					t.Fatal(err)
				}
				continue
			}
			msg := nats.NewMsg(subject(p.ev))
			msg.Data = mustJSON(t, p.ev)
			if _, err := h.bus.JetStream().PublishMsgAsync(msg); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case <-h.bus.PublishAsyncComplete():
		case <-time.After(30 * time.Second):
			t.Fatal("publishes not acked within 30s")
		}
	}

	points := ledger.FailPoints()
	chunk := (len(pubs) + nCrashes - 1) / nCrashes
	crashes := 0
	for round := range nCrashes {
		lo, hi := round*chunk, min((round+1)*chunk, len(pubs))
		publish(pubs[lo:hi])
		point := points[rng.IntN(len(points))]
		skip := int64(rng.IntN(2))
		var hits atomic.Int64
		var crashed atomic.Bool
		r := h.start(cfg, func(p string) error {
			if p == point && hits.Add(1) > skip && crashed.CompareAndSwap(false, true) {
				return errCrash
			}
			return nil
		})
		deadline := time.Now().Add(60 * time.Second)
		for !crashed.Load() && !h.idle() {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: neither crashed at %s nor idle within 60s", round, point)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if crashed.Load() {
			crashes++
		}
		r.stop(t)
	}
	t.Logf("seed %d: %d messages, %d crashes by fail point in %d restarts", seed, len(pubs), crashes, nCrashes)

	h.start(cfg, nil)
	distinct := map[string]events.Event{}
	for _, ev := range evs {
		distinct[ev.EventID()] = ev
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		n, err := h.st.Collection(readmodel.CollJournal).CountDocuments(ctx, bson.D{})
		if err == nil && n == int64(len(distinct)) && h.idle() {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("not converged within 60s: journal %d (err %v) for %d events, idle %v", n, err, len(distinct), h.idle())
			break
		}
		time.Sleep(200 * time.Millisecond)
	}

	checkInvariants(t, h, distinct)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// idle reports whether the ledger's consumers (of every partition) have
// nothing pending or unacked and no batch is half-written.
func (h *harness) idle() bool {
	ctx := context.Background()
	all, err := h.bus.LedgerBacklogs(ctx) // of every partition count
	if err != nil {
		return false
	}
	for _, l := range all {
		if !l.Drained() {
			return false
		}
	}
	// Counting would read the (large) batch records; one _id is enough.
	err = h.st.Collection("ledger_batches").FindOne(ctx, bson.D{}, options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})).Err()
	return errors.Is(err, mongo.ErrNoDocuments)
}

// checkInvariants compares the database, KV and reconcile with the events.
func checkInvariants(t *testing.T, h *harness, distinct map[string]events.Event) {
	t.Helper()
	ctx := context.Background()
	type entry struct {
		ID        string `bson:"_id"`
		AccountID string `bson:"account_id"`
		Kind      string `bson:"kind"`
		Amount    int64  `bson:"amount_micros"`
		Free      int64  `bson:"free_delta"`
		Cost      int64  `bson:"cost_micros"`
	}
	cur, err := h.st.Collection(readmodel.CollJournal).Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var entries []entry
	if err := cur.All(ctx, &entries); err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(distinct) {
		t.Errorf("journal holds %d entries for %d distinct events", len(entries), len(distinct))
	}
	sum := map[string]int64{}
	free := map[string]int64{}
	freeUsed := map[string]int64{}
	for _, e := range entries {
		ev, ok := distinct[e.ID]
		if !ok {
			t.Errorf("journal entry %s is no event", e.ID)
			continue
		}
		delete(distinct, e.ID)
		sum[e.AccountID] += e.Amount
		free[e.AccountID] += e.Free
		switch ev := ev.(type) {
		case events.UsageRecordedV1:
			// Debited once: either its cost or one free request, never both, never twice.
			charged := e.Amount == -int64(ev.CostMicros) && e.Free == 0 && !ev.Free
			freeOne := e.Amount == 0 && e.Free == -1 && (ev.CostMicros > 0 || ev.Free)
			zero := (ev.CostMicros == 0 || ev.Free) && e.Amount == 0 && e.Free == 0
			if !charged && !freeOne && !zero {
				t.Errorf("usage %s (cost %d) has entry amount %d free %d", e.ID, ev.CostMicros, e.Amount, e.Free)
			}
			if freeOne {
				freeUsed[e.AccountID]++
			}
		case events.CreditPurchasedV1:
			if e.Amount != int64(ev.AmountMicros) {
				t.Errorf("credit %s: entry %d, event %d", e.ID, e.Amount, ev.AmountMicros)
			}
		}
	}
	for id := range distinct {
		t.Errorf("event %s is not in the journal (lost)", id)
	}
	cur, err = h.st.Collection(readmodel.CollAccounts).Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var accounts []readmodel.Account
	if err := cur.All(ctx, &accounts); err != nil {
		t.Fatal(err)
	}
	dumped := false
	for _, a := range accounts {
		if a.BalanceMicros != sum[a.ID] || a.FreeRequestsLeft != free[a.ID] {
			if !dumped {
				dumped = true
				dumpJournal(t, h, a.ID)
			}
			t.Errorf("%s: balance %d free %d, journal sums %d and %d", a.ID, a.BalanceMicros, a.FreeRequestsLeft, sum[a.ID], free[a.ID])
		}
		if freeUsed[a.ID] > 20 {
			t.Errorf("%s used %d free requests", a.ID, freeUsed[a.ID])
		}
		b, ok := h.balance(a.ID)
		if !ok || int64(b.BalanceMicros) != a.BalanceMicros || b.FreeRequestsLeft != a.FreeRequestsLeft {
			t.Errorf("%s: KV %+v (found %v) differs from the account %+v", a.ID, b, ok, a)
		}
	}
	checkRollups(t, h, "")
	checkReadModels(t, h, accounts)
	rep, err := ledger.Verify(ctx, h.st)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Errorf("reconcile found differences: %v", rep.Problems)
	}
}

// checkRollups requires every rollup (or only the one named) to equal the
// sums of the usage rows it covers, and every usage row to be covered.
func checkRollups(t *testing.T, h *harness, only string) {
	t.Helper()
	ctx := context.Background()
	type row struct {
		AccountID string    `bson:"account_id"`
		KeyID     string    `bson:"key_id"`
		Model     string    `bson:"model"`
		Time      time.Time `bson:"time"`
		In        int64     `bson:"input_tokens"`
		Cached    int64     `bson:"cached_input_tokens"`
		Out       int64     `bson:"output_tokens"`
		Cost      int64     `bson:"cost_micros"`
		Status    int       `bson:"status"`
	}
	cur, err := h.st.Collection(readmodel.CollUsage).Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var rows []row
	if err := cur.All(ctx, &rows); err != nil {
		t.Fatal(err)
	}
	want := map[string]readmodel.Rollup{}
	for _, r := range rows {
		id := readmodel.RollupID(r.AccountID, readmodel.Day(r.Time), r.Model, r.KeyID)
		x := want[id]
		x.Requests++
		if r.Status >= 400 {
			x.Errors++
		}
		x.InputTokens += r.In
		x.CachedInputTokens += r.Cached
		x.OutputTokens += r.Out
		x.CostMicros += r.Cost
		want[id] = x
	}
	cur, err = h.st.Collection(readmodel.CollRollups).Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var got []readmodel.Rollup
	if err := cur.All(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if only == "" && len(got) != len(want) {
		t.Errorf("%d rollups for %d (account, day, model, key) of usage rows", len(got), len(want))
	}
	for _, g := range got {
		if only != "" && g.ID != only {
			continue
		}
		w := want[g.ID]
		if g.Requests != w.Requests || g.Errors != w.Errors || g.InputTokens != w.InputTokens ||
			g.CachedInputTokens != w.CachedInputTokens || g.OutputTokens != w.OutputTokens || g.CostMicros != w.CostMicros {
			t.Errorf("rollup %s = %+v, usage rows sum to %+v", g.ID, g, w)
		}
	}
}

func dumpJournal(t *testing.T, h *harness, acc string) {
	ctx := context.Background()
	cur, err := h.st.Collection(readmodel.CollJournal).Find(ctx, bson.D{{Key: "account_id", Value: acc}})
	if err != nil {
		t.Fatal(err)
	}
	var all []bson.M
	_ = cur.All(ctx, &all)
	var doc bson.M
	_ = h.st.Collection(readmodel.CollAccounts).FindOne(ctx, bson.D{{Key: "_id", Value: acc}}).Decode(&doc)
	t.Logf("account %v", doc)
	for _, e := range all {
		t.Logf("entry %v seq %v kind %v amount %v free %v batch %v applied %v", e["_id"], e["seq"], e["kind"], e["amount_micros"], e["free_delta"], e["batch"], e["applied_at"])
	}
}

// checkReadModels requires the usage_days documents to hold what the
// rollups of their days hold, each account to name each of its days with
// the day's seq, and the payments documents to list the newest credits of
// the journal.
func checkReadModels(t *testing.T, h *harness, accounts []readmodel.Account) {
	t.Helper()
	ctx := context.Background()
	oldest := readmodel.Day(time.Now().AddDate(0, 0, -(readmodel.UsageDaysKept - 1)))
	cur, err := h.st.Collection(readmodel.CollRollups).Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var rollups []readmodel.Rollup
	if err := cur.All(ctx, &rollups); err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]readmodel.Rollup{} // usage_days id -> rollup id -> rollup
	for _, r := range rollups {
		if r.Day < oldest {
			continue
		}
		id := readmodel.UsageDayID(r.AccountID, r.Day)
		if want[id] == nil {
			want[id] = map[string]readmodel.Rollup{}
		}
		r.ID = readmodel.RollupID(r.AccountID, r.Day, r.Model, r.KeyID)
		want[id][r.ID] = r
	}
	cur, err = h.st.Collection(readmodel.CollUsageDays).Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var days []readmodel.UsageDay
	if err := cur.All(ctx, &days); err != nil {
		t.Fatal(err)
	}
	seqs := map[string]int64{}
	for _, d := range days {
		seqs[d.ID] = d.Seq
		gs, err := readmodel.DecodeDayGroups(d.Groups)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]readmodel.Rollup{}
		for _, g := range gs {
			r := g.Rollup(d.AccountID, d.Day)
			got[r.ID] = r
		}
		if !reflect.DeepEqual(got, want[d.ID]) {
			t.Errorf("usage day %s holds %+v, its rollups %+v", d.ID, got, want[d.ID])
		}
		delete(want, d.ID)
	}
	for id := range want {
		t.Errorf("rollups of %s but no usage_days document", id)
	}
	credits := map[string][]readmodel.Payment{}
	cur, err = h.st.Collection(readmodel.CollJournal).Find(ctx, bson.D{{Key: "kind", Value: readmodel.JournalCredit}},
		options.Find().SetSort(bson.D{{Key: "seq", Value: -1}}))
	if err != nil {
		t.Fatal(err)
	}
	var entries []readmodel.JournalEntry
	if err := cur.All(ctx, &entries); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		credits[e.AccountID] = append(credits[e.AccountID], readmodel.Payment{ID: e.ID, Seq: e.Seq, Time: e.Time.UTC(),
			CreditKind: e.CreditKind, Method: e.Method, AmountMicros: e.AmountMicros})
	}
	for _, a := range accounts {
		named, err := readmodel.ParseUsageDays(a.UsageDays)
		if err != nil {
			t.Fatal(err)
		}
		for id, seq := range seqs {
			acc, day, _ := strings.Cut(id, "|")
			if acc == a.ID && day >= oldest && named[day] != seq {
				t.Errorf("account %s names day %s with seq %d, its document has %d", a.ID, day, named[day], seq)
			}
		}
		if a.ReadModels != readmodel.ReadModelsVersion {
			t.Errorf("account %s: read_models %d", a.ID, a.ReadModels)
		}
		got := h.payments(a.ID)
		w := credits[a.ID]
		if len(w) > readmodel.PaymentsKept {
			w = w[:readmodel.PaymentsKept]
		}
		if len(got) != len(w) || (len(w) > 0 && !reflect.DeepEqual(got, w)) {
			t.Errorf("account %s: payments document lists %d, the journal %d newest credits", a.ID, len(got), len(w))
		}
		if len(w) > 0 && a.PaymentsSeq != w[0].Seq {
			t.Errorf("account %s: payments_seq %d, newest credit %d", a.ID, a.PaymentsSeq, w[0].Seq)
		}
	}
}
