package ledger

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/onekey-oss/onekey/api/readmodel"
	"github.com/onekey-oss/onekey/pkg/store"
	"github.com/onekey-oss/onekey/services/ledger/internal/ledgerdb"
)

// verifyReadModels checks the dashboard's read models (views.go) of every
// account that has them (read_models ≥ ReadModelsVersion) against what
// they are built from, once the ledger is idle:
//
//   - each usage_days document of a day kept equals the account's rollups
//     of that day, and every day kept with rollups has a document;
//   - the account's day map names every document of a day kept, with the
//     document's seq, and no other day kept;
//   - account_payments lists the account's newest PaymentsKept journal
//     credits, newest first, and its seq and the account's payments_seq
//     are the newest credit's.
//
// Days older than the days kept are not checked: the map is pruned only
// when the account is next written, documents expire by their own clock,
// and an event dated that far back makes a document of only itself (the
// dashboard never shows those days). The oldest day kept is taken one day
// late so that a ledger's clock a little ahead of this one's is no
// difference. It reads rollups, usage_days and account_payments once each.
func verifyReadModels(ctx context.Context, st *store.Store, accounts []ledgerdb.AccountDoc, credits map[string][]readmodel.Payment, now time.Time) ([]string, error) {
	kept := map[string]*ledgerdb.AccountDoc{}
	for i := range accounts {
		if accounts[i].ReadModels >= readmodel.ReadModelsVersion {
			kept[accounts[i].ID] = &accounts[i]
		}
	}
	oldest := readmodel.Day(now.AddDate(0, 0, -(readmodel.UsageDaysKept - 2)))
	var probs []string

	rollups, err := rollupsByDay(ctx, st, kept, oldest)
	if err != nil {
		return nil, err
	}
	docs := map[string]map[string]int64{} // account -> day -> seq of its document
	cur, err := st.Collection(readmodel.CollUsageDays).Find(ctx, bson.D{{Key: "day", Value: bson.D{{Key: "$gte", Value: oldest}}}})
	if err != nil {
		return nil, fmt.Errorf("verify: read usage days: %w", err)
	}
	var dec readmodel.Decoder
	for cur.Next(ctx) {
		var d readmodel.UsageDay
		if err := cur.Decode(&d); err != nil {
			_ = cur.Close(ctx)
			return nil, fmt.Errorf("verify: decode usage day: %w", err)
		}
		if kept[d.AccountID] == nil || d.Day < oldest {
			continue
		}
		if docs[d.AccountID] == nil {
			docs[d.AccountID] = map[string]int64{}
		}
		docs[d.AccountID][d.Day] = d.Seq
		gs, err := dec.DayGroups(d.Groups)
		if err != nil {
			probs = append(probs, fmt.Sprintf("account %s: usage day %s does not decode: %v", d.AccountID, d.Day, err))
			delete(rollups, d.ID)
			continue
		}
		probs = append(probs, compareDay(d.AccountID, d.Day, gs, rollups[d.ID])...)
		delete(rollups, d.ID)
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("verify: read usage days: %w", err)
	}
	_ = cur.Close(ctx)
	for _, id := range slices.Sorted(mapKeys(rollups)) {
		var requests int64
		var acc, day string
		for _, r := range rollups[id] {
			requests += r.Requests
			acc, day = r.AccountID, r.Day
		}
		probs = append(probs, fmt.Sprintf("account %s: usage day %s has no usage_days document, its rollups count %d requests", acc, day, requests))
	}

	pays, err := paymentsDocs(ctx, st, kept)
	if err != nil {
		return nil, err
	}
	for _, id := range slices.Sorted(mapKeys(kept)) {
		a := kept[id]
		probs = append(probs, compareDayMap(a, docs[id], oldest)...)
		probs = append(probs, comparePayments(a, pays[id], credits[id])...)
	}
	return probs, nil
}

// rollupsByDay reads the rollups of the days kept of the accounts kept, by
// usage_days id and then model and key.
func rollupsByDay(ctx context.Context, st *store.Store, kept map[string]*ledgerdb.AccountDoc, oldest string) (map[string]map[string]readmodel.Rollup, error) {
	cur, err := st.Collection(readmodel.CollRollups).Find(ctx, bson.D{{Key: "day", Value: bson.D{{Key: "$gte", Value: oldest}}}},
		options.Find().SetProjection(bson.D{{Key: "batch", Value: 0}}))
	if err != nil {
		return nil, fmt.Errorf("verify: read rollups: %w", err)
	}
	defer func() { _ = cur.Close(ctx) }()
	out := map[string]map[string]readmodel.Rollup{}
	for cur.Next(ctx) {
		var r readmodel.Rollup
		if err := cur.Decode(&r); err != nil {
			return nil, fmt.Errorf("verify: decode rollup: %w", err)
		}
		if kept[r.AccountID] == nil || r.Day < oldest {
			continue
		}
		id := readmodel.UsageDayID(r.AccountID, r.Day)
		if out[id] == nil {
			out[id] = map[string]readmodel.Rollup{}
		}
		out[id][r.Model+"\x00"+r.KeyID] = r
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("verify: read rollups: %w", err)
	}
	return out, nil
}

// paymentsDocs reads the payments documents of the accounts kept.
func paymentsDocs(ctx context.Context, st *store.Store, kept map[string]*ledgerdb.AccountDoc) (map[string]*readmodel.Payments, error) {
	cur, err := st.Collection(readmodel.CollPayments).Find(ctx, bson.D{})
	if err != nil {
		return nil, fmt.Errorf("verify: read payments: %w", err)
	}
	defer func() { _ = cur.Close(ctx) }()
	out := map[string]*readmodel.Payments{}
	for cur.Next(ctx) {
		var d readmodel.Payments
		if err := cur.Decode(&d); err != nil {
			return nil, fmt.Errorf("verify: decode payments: %w", err)
		}
		if kept[d.ID] != nil {
			out[d.ID] = &d
		}
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("verify: read payments: %w", err)
	}
	return out, nil
}

// dayFigures names the figures of a day's row, in the order reported.
var dayFigures = []struct {
	name string
	of   func(readmodel.Rollup) int64
}{
	{"requests", func(r readmodel.Rollup) int64 { return r.Requests }},
	{"errors", func(r readmodel.Rollup) int64 { return r.Errors }},
	{"free requests", func(r readmodel.Rollup) int64 { return r.FreeRequests }},
	{"input tokens", func(r readmodel.Rollup) int64 { return r.InputTokens }},
	{"cached input tokens", func(r readmodel.Rollup) int64 { return r.CachedInputTokens }},
	{"output tokens", func(r readmodel.Rollup) int64 { return r.OutputTokens }},
	{"cost", func(r readmodel.Rollup) int64 { return r.CostMicros }},
	{"charged", func(r readmodel.Rollup) int64 { return r.ChargedMicros }},
}

// compareDay compares the rows of a usage_days document with the day's
// rollups (by model and key), figure by figure. Rows are summed by model
// and key because a rollup is: its project is the first one its key was
// used under, so it is compared only where the document has one project
// for the model and key.
func compareDay(acc, day string, gs []readmodel.DayGroup, rollups map[string]readmodel.Rollup) []string {
	got := map[string]*readmodel.DayGroup{}
	projects := map[string]map[string]bool{}
	for _, g := range gs {
		k := g.Model + "\x00" + g.KeyID
		if sum := got[k]; sum != nil {
			sum.Add(g)
		} else {
			got[k] = &g
		}
		if projects[k] == nil {
			projects[k] = map[string]bool{}
		}
		projects[k][g.ProjectID] = true
	}
	keys := map[string]bool{}
	for k := range got {
		keys[k] = true
	}
	for k := range rollups {
		keys[k] = true
	}
	var probs []string
	for _, k := range slices.Sorted(mapKeys(keys)) {
		sum, inDoc := got[k]
		r, inRollups := rollups[k]
		g := readmodel.Rollup{Model: r.Model, KeyID: r.KeyID}
		if inDoc {
			g = sum.Rollup(acc, day)
		}
		if !inRollups {
			r = readmodel.Rollup{Model: g.Model, KeyID: g.KeyID}
		}
		for _, f := range dayFigures {
			if f.of(g) != f.of(r) {
				probs = append(probs, fmt.Sprintf("account %s: usage day %s, model %s key %s: %s %d in usage_days, rollups sum to %d",
					acc, day, g.Model, g.KeyID, f.name, f.of(g), f.of(r)))
			}
		}
		if inDoc && inRollups && len(projects[k]) == 1 && !projects[k][r.ProjectID] {
			probs = append(probs, fmt.Sprintf("account %s: usage day %s, model %s key %s: project %q in usage_days, rollup has %q",
				acc, day, g.Model, g.KeyID, g.ProjectID, r.ProjectID))
		}
	}
	return probs
}

// compareDayMap compares the account's day map, for the days kept, with
// the seqs of its usage_days documents.
func compareDayMap(a *ledgerdb.AccountDoc, docs map[string]int64, oldest string) []string {
	named, err := readmodel.ParseUsageDays(a.UsageDays)
	if err != nil {
		return []string{fmt.Sprintf("account %s: %v", a.ID, err)}
	}
	days := map[string]bool{}
	for d := range named {
		if d >= oldest {
			days[d] = true
		}
	}
	for d := range docs {
		days[d] = true
	}
	var probs []string
	for _, d := range slices.Sorted(mapKeys(days)) {
		n, isNamed := named[d]
		s, hasDoc := docs[d]
		switch {
		case !hasDoc:
			probs = append(probs, fmt.Sprintf("account %s: usage_days names day %s with seq %d, it has no usage_days document", a.ID, d, n))
		case !isNamed:
			probs = append(probs, fmt.Sprintf("account %s: usage_days document of day %s (seq %d) is not named in the account's usage_days", a.ID, d, s))
		case n != s:
			probs = append(probs, fmt.Sprintf("account %s: usage_days names day %s with seq %d, its usage_days document has seq %d", a.ID, d, n, s))
		}
		if hasDoc && s > a.Seq {
			probs = append(probs, fmt.Sprintf("account %s: usage_days document of day %s has seq %d, past the account's %d", a.ID, d, s, a.Seq))
		}
	}
	return probs
}

// comparePayments compares an account's payments document (nil: none)
// with its journal credits (in any order).
func comparePayments(a *ledgerdb.AccountDoc, doc *readmodel.Payments, credits []readmodel.Payment) []string {
	want := slices.Clone(credits)
	slices.SortFunc(want, func(x, y readmodel.Payment) int { return cmp.Compare(y.Seq, x.Seq) })
	want = want[:min(len(want), readmodel.PaymentsKept)]
	var newest int64
	if len(want) > 0 {
		newest = want[0].Seq
	}
	var probs []string
	if a.PaymentsSeq != newest {
		probs = append(probs, fmt.Sprintf("account %s: payments_seq %d, the journal's newest credit has seq %d", a.ID, a.PaymentsSeq, newest))
	}
	if doc == nil {
		for _, p := range want {
			probs = append(probs, fmt.Sprintf("account %s: payment %s missing from account_payments (journal: %s)", a.ID, p.ID, fmtPayment(p)))
		}
		return probs
	}
	if doc.Seq != newest {
		probs = append(probs, fmt.Sprintf("account %s: account_payments seq %d, the journal's newest credit has seq %d", a.ID, doc.Seq, newest))
	}
	got, err := readmodel.DecodePayments(doc.Entries)
	if err != nil {
		return append(probs, fmt.Sprintf("account %s: account_payments does not decode: %v", a.ID, err))
	}
	listed := map[string]readmodel.Payment{}
	for _, p := range got {
		listed[p.ID] = p
	}
	wanted := map[string]bool{}
	for _, p := range want {
		wanted[p.ID] = true
		g, ok := listed[p.ID]
		switch {
		case !ok:
			probs = append(probs, fmt.Sprintf("account %s: payment %s missing from account_payments (journal: %s)", a.ID, p.ID, fmtPayment(p)))
		case !samePayment(g, p):
			probs = append(probs, fmt.Sprintf("account %s: payment %s is %s in account_payments, the journal has %s", a.ID, p.ID, fmtPayment(g), fmtPayment(p)))
		}
	}
	for _, p := range got {
		if !wanted[p.ID] {
			probs = append(probs, fmt.Sprintf("account %s: account_payments lists %s (%s), not among the journal's newest %d credits", a.ID, p.ID, fmtPayment(p), len(want)))
		}
	}
	if len(listed) != len(got) {
		probs = append(probs, fmt.Sprintf("account %s: account_payments lists %d payments, %d of them distinct", a.ID, len(got), len(listed)))
	}
	if len(probs) == 0 { // the same payments: in the same order?
		for i := range got {
			if got[i].ID != want[i].ID {
				probs = append(probs, fmt.Sprintf("account %s: account_payments lists %s in place %d, the journal's newest credits %s", a.ID, got[i].ID, i+1, want[i].ID))
				break
			}
		}
	}
	return probs
}

// samePayment compares two payments, their times to the millisecond (what
// the journal stores).
func samePayment(a, b readmodel.Payment) bool {
	return a.ID == b.ID && a.Seq == b.Seq && a.AmountMicros == b.AmountMicros && a.CreditKind == b.CreditKind &&
		a.Method == b.Method && a.Time.Truncate(time.Millisecond).Equal(b.Time.Truncate(time.Millisecond))
}

func fmtPayment(p readmodel.Payment) string {
	return fmt.Sprintf("seq %d, %d micro-USD, %s by %s at %s", p.Seq, p.AmountMicros, p.CreditKind, p.Method, p.Time.UTC().Format(time.RFC3339Nano))
}
