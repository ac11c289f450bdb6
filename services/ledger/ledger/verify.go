package ledger

import (
	"context"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/api/readmodel"
	"github.com/onekey-oss/onekey/pkg/store"
	"github.com/onekey-oss/onekey/services/ledger/internal/book"
	"github.com/onekey-oss/onekey/services/ledger/internal/ledgerdb"
)

// Report is what Verify found.
type Report struct {
	Accounts int
	Entries  int
	// Pending counts half-written batches (a running ledger's batch in
	// flight, or one a stopped ledger will finish at its next start).
	Pending int
	// Problems lists each difference between an account and its journal,
	// and between the dashboard's read models and what they are built from.
	Problems []string
}

// OK reports whether every account equals the sum of its journal and
// every read model what it is built from.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// Verify recomputes every account from the journal (balance, free requests
// left, what each key has been charged, last sequence number) and reports
// each difference with the account document; then checks the dashboard's
// read models of the accounts that have them against the rollups and the
// journal (verifyviews.go). It reads each collection once and sums in Go
// (no server-side $group, see DESIGN.md §3). Run it while the ledger is
// stopped or idle: a batch in flight shows as a difference.
func Verify(ctx context.Context, st *store.Store) (Report, error) {
	type sums struct {
		balance, free, seq int64
		spend              map[string]int64
		leases             map[string]*events.Lease
		entries            int
	}
	var rep Report
	all := map[string]*sums{}
	credits := map[string][]readmodel.Payment{}
	cur, err := st.Collection(readmodel.CollJournal).Find(ctx, bson.D{}, options.Find().SetProjection(bson.D{
		{Key: "account_id", Value: 1}, {Key: "seq", Value: 1}, {Key: "kind", Value: 1},
		{Key: "amount_micros", Value: 1}, {Key: "free_delta", Value: 1}, {Key: "key_id", Value: 1},
		{Key: "replica", Value: 1}, {Key: "grant_delta", Value: 1}, {Key: "grant_free_delta", Value: 1},
		{Key: "use_delta", Value: 1}, {Key: "use_free_delta", Value: 1},
		{Key: "credit_kind", Value: 1}, {Key: "method", Value: 1}, {Key: "time", Value: 1},
	}))
	if err != nil {
		return rep, fmt.Errorf("verify: read journal: %w", err)
	}
	for cur.Next(ctx) {
		var e ledgerdb.EntryDoc
		if err := cur.Decode(&e); err != nil {
			_ = cur.Close(ctx)
			return rep, fmt.Errorf("verify: decode journal entry: %w", err)
		}
		s := all[e.AccountID]
		if s == nil {
			s = &sums{spend: map[string]int64{}, leases: map[string]*events.Lease{}}
			all[e.AccountID] = s
		}
		if e.Replica != "" {
			l := s.leases[e.Replica]
			if l == nil {
				l = &events.Lease{}
				s.leases[e.Replica] = l
			}
			l.GrantedMicros += money.Micros(e.GrantDelta)
			l.GrantedFree += e.GrantFreeDelta
			l.UsedMicros += money.Micros(e.UseDelta)
			l.UsedFree += e.UseFreeDelta
		}
		s.balance += e.AmountMicros
		s.free += e.FreeDelta
		s.seq = max(s.seq, e.Seq)
		s.entries++
		if e.Kind == book.KindUsage && e.AmountMicros < 0 && book.ValidKeyID(e.KeyID) {
			s.spend[e.KeyID] -= e.AmountMicros
		}
		if e.Kind == book.KindCredit {
			credits[e.AccountID] = append(credits[e.AccountID], readmodel.Payment{ID: e.ID, Seq: e.Seq, Time: e.Time.UTC(),
				CreditKind: e.CreditKind, Method: e.Method, AmountMicros: e.AmountMicros})
		}
		rep.Entries++
	}
	if err := cur.Err(); err != nil {
		return rep, fmt.Errorf("verify: read journal: %w", err)
	}
	_ = cur.Close(ctx)

	cur, err = st.Collection(readmodel.CollAccounts).Find(ctx, bson.D{})
	if err != nil {
		return rep, fmt.Errorf("verify: read accounts: %w", err)
	}
	seen := map[string]bool{}
	var kept []ledgerdb.AccountDoc // those with read models
	for cur.Next(ctx) {
		var a ledgerdb.AccountDoc
		if err := cur.Decode(&a); err != nil {
			_ = cur.Close(ctx)
			return rep, fmt.Errorf("verify: decode account: %w", err)
		}
		rep.Accounts++
		seen[a.ID] = true
		if a.ReadModels >= readmodel.ReadModelsVersion {
			kept = append(kept, a)
		}
		s := all[a.ID]
		if s == nil {
			s = &sums{spend: map[string]int64{}, leases: map[string]*events.Lease{}}
		}
		// The invariant with leases: available + leased = balance = the
		// sum of the journal, where leased is what each replica's lease
		// counters (sums of the journal too) leave outstanding.
		var leased, leasedFree int64
		for _, r := range slices.Sorted(mapKeys(s.leases)) {
			l := *s.leases[r]
			m, f := l.Outstanding()
			leased += int64(m)
			leasedFree += f
			d := a.Leases[r]
			if d.GrantedMicros != int64(l.GrantedMicros) || d.UsedMicros != int64(l.UsedMicros) || d.GrantedFree != l.GrantedFree || d.UsedFree != l.UsedFree {
				rep.Problems = append(rep.Problems, fmt.Sprintf("account %s: lease of %s is %+v, journal sums to %+v", a.ID, r, d, l))
			}
		}
		if a.LeasedMicros != leased || a.LeasedFree != leasedFree {
			rep.Problems = append(rep.Problems, fmt.Sprintf("account %s: leased %d and %d free, journal sums to %d and %d", a.ID, a.LeasedMicros, a.LeasedFree, leased, leasedFree))
		}
		if a.BalanceMicros != s.balance {
			rep.Problems = append(rep.Problems, fmt.Sprintf("account %s: balance %d, journal sums to %d (difference %d)", a.ID, a.BalanceMicros, s.balance, a.BalanceMicros-s.balance))
		}
		if a.FreeRequestsLeft != s.free {
			rep.Problems = append(rep.Problems, fmt.Sprintf("account %s: %d free requests left, journal sums to %d", a.ID, a.FreeRequestsLeft, s.free))
		}
		if a.Seq != s.seq {
			rep.Problems = append(rep.Problems, fmt.Sprintf("account %s: applied up to entry %d, journal holds up to %d", a.ID, a.Seq, s.seq))
		}
		keys := map[string]bool{}
		for k := range a.KeySpendMicros {
			keys[k] = true
		}
		for k := range s.spend {
			keys[k] = true
		}
		for _, k := range slices.Sorted(mapKeys(keys)) {
			if a.KeySpendMicros[k] != s.spend[k] {
				rep.Problems = append(rep.Problems, fmt.Sprintf("account %s: key %s spent %d, journal sums to %d", a.ID, k, a.KeySpendMicros[k], s.spend[k]))
			}
		}
	}
	if err := cur.Err(); err != nil {
		return rep, fmt.Errorf("verify: read accounts: %w", err)
	}
	_ = cur.Close(ctx)
	for _, id := range slices.Sorted(mapKeys(all)) {
		if !seen[id] {
			rep.Problems = append(rep.Problems, fmt.Sprintf("account %s: %d journal entries but no account document", id, all[id].entries))
		}
	}
	views, err := verifyReadModels(ctx, st, kept, credits, time.Now())
	if err != nil {
		return rep, err
	}
	rep.Problems = append(rep.Problems, views...)
	n, err := st.Collection(ledgerdb.CollBatches).CountDocuments(ctx, bson.D{})
	if err != nil {
		return rep, fmt.Errorf("verify: read batch records: %w", err)
	}
	rep.Pending = int(n)
	return rep, nil
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
