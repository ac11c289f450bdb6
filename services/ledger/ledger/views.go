package ledger

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/onekey-oss/onekey/api/readmodel"
	"github.com/onekey-oss/onekey/services/ledger/internal/book"
	"github.com/onekey-oss/onekey/services/ledger/internal/ledgerdb"
)

// The dashboard's read models (api/readmodel/views.go): per account and
// UTC day a usage_days document, per account a payments document, and on
// the account document the map of days and the payments' seq that tell a
// reader what changed.
//
// Each document carries the seq of the last journal entry folded into it,
// and an entry is folded in only if its seq is higher: entries of an
// account are applied in seq order by the one writer, so finishing a batch
// again after a crash (or a redelivered event, which the journal refuses
// before it gets here) changes nothing. The documents are written before
// the account document that names them, as the rollups are.

// viewChanges is what one batch adds to the read models, in seq order.
type viewChanges struct {
	days     map[string]*dayFold // by usage_days _id
	dayOrder []string
	pays     map[string][]readmodel.Payment // by account, oldest first
	payOrder []string
}

type dayFold struct {
	account, day string
	rows         []foldRow
}

type foldRow struct {
	seq int64
	g   readmodel.DayGroup
}

func newViewChanges() *viewChanges {
	return &viewChanges{days: map[string]*dayFold{}, pays: map[string][]readmodel.Payment{}}
}

// usage notes the usage row of entry seq of account a.
func (v *viewChanges) usage(a *book.Account, seq int64, u ledgerdb.UsageDoc) {
	day := readmodel.Day(u.Time)
	id := readmodel.UsageDayID(a.ID, day)
	f := v.days[id]
	if f == nil {
		f = &dayFold{account: a.ID, day: day}
		v.days[id] = f
		v.dayOrder = append(v.dayOrder, id)
	}
	g := readmodel.DayGroup{Model: u.Model, KeyID: u.KeyID, ProjectID: u.ProjectID, Requests: 1,
		InputTokens: u.InputTokens, CachedInputTokens: u.CachedInputTokens, OutputTokens: u.OutputTokens,
		CostMicros: u.CostMicros, ChargedMicros: u.ChargedMicros}
	if u.Status >= 400 {
		g.Errors = 1
	}
	if u.Free {
		g.FreeRequests = 1
	}
	f.rows = append(f.rows, foldRow{seq: seq, g: g})
	if a.UsageDays == nil {
		a.UsageDays = map[string]int64{}
	}
	a.UsageDays[day] = max(a.UsageDays[day], seq)
}

// credit notes a credit entry of account a.
func (v *viewChanges) credit(a *book.Account, e book.Entry) {
	if _, ok := v.pays[a.ID]; !ok {
		v.payOrder = append(v.payOrder, a.ID)
	}
	v.pays[a.ID] = append(v.pays[a.ID], readmodel.Payment{ID: e.ID, Seq: e.Seq, Time: e.Time.UTC(),
		CreditKind: e.CreditKind, Method: e.Method, AmountMicros: int64(e.Amount)})
	a.PaymentsSeq = max(a.PaymentsSeq, e.Seq)
}

// pruneDays drops days older than the read models keep from a's map.
func pruneDays(a *book.Account, now time.Time) {
	oldest := readmodel.Day(now.AddDate(0, 0, -(readmodel.UsageDaysKept - 1)))
	for d := range a.UsageDays {
		if d < oldest {
			delete(a.UsageDays, d)
		}
	}
}

// dayState is a usage_days document as the writer last wrote it.
type dayState struct {
	seq    int64
	groups []readmodel.DayGroup
	idx    map[string]int // model \x00 key \x00 project → index in groups
}

func groupKey(g readmodel.DayGroup) string { return g.Model + "\x00" + g.KeyID + "\x00" + g.ProjectID }

func (d *dayState) add(g readmodel.DayGroup) {
	k := groupKey(g)
	if i, ok := d.idx[k]; ok {
		d.groups[i].Add(g)
		return
	}
	d.idx[k] = len(d.groups)
	d.groups = append(d.groups, g)
}

// maxCachedDays bounds the writer's cache of usage_days documents (the
// busy ones are today's).
const maxCachedDays = 4096

// dayState returns the document id as written, from the cache or the
// database (an absent document is empty).
func (s *Service) dayState(ctx context.Context, id string) (*dayState, error) {
	if d, ok := s.days[id]; ok {
		return d, nil
	}
	doc, _, err := s.db.LoadUsageDay(ctx, id)
	if err != nil {
		return nil, err
	}
	d := &dayState{seq: doc.Seq, idx: map[string]int{}}
	gs, err := readmodel.DecodeDayGroups(doc.Groups)
	if err != nil {
		return nil, fmt.Errorf("usage day %s: %w", id, err)
	}
	for _, g := range gs {
		d.add(g)
	}
	if len(s.days) >= maxCachedDays {
		clear(s.days)
	}
	s.days[id] = d
	return d, nil
}

// writeViews folds a batch's changes into the usage_days and payments
// documents and writes those that changed.
func (s *Service) writeViews(ctx context.Context, v *viewChanges) error {
	var docs []readmodel.UsageDay
	for _, id := range v.dayOrder {
		f := v.days[id]
		d, err := s.dayState(ctx, id)
		if err != nil {
			return err
		}
		changed := false
		for _, r := range f.rows {
			if r.seq > d.seq {
				d.add(r.g)
				d.seq = r.seq
				changed = true
			}
		}
		if !changed {
			continue
		}
		docs = append(docs, usageDayDoc(f.account, f.day, d))
	}
	if len(docs) > 0 {
		if err := s.db.SaveUsageDays(ctx, docs); err != nil {
			// The cache may now be ahead of the database: read them again.
			for _, id := range v.dayOrder {
				delete(s.days, id)
			}
			return err
		}
	}
	var pays []readmodel.Payments
	for _, acc := range v.payOrder {
		doc, _, err := s.db.LoadPayments(ctx, acc)
		if err != nil {
			return err
		}
		old, err := readmodel.DecodePayments(doc.Entries)
		if err != nil {
			return fmt.Errorf("payments of %s: %w", acc, err)
		}
		var fresh []readmodel.Payment
		seq := doc.Seq
		for _, p := range v.pays[acc] {
			if p.Seq > doc.Seq {
				fresh = append(fresh, p)
				seq = max(seq, p.Seq)
			}
		}
		if len(fresh) == 0 {
			continue
		}
		slices.Reverse(fresh) // newest first
		all := append(fresh, old...)
		if len(all) > readmodel.PaymentsKept {
			all = all[:readmodel.PaymentsKept]
		}
		pays = append(pays, readmodel.Payments{ID: acc, Seq: seq, Entries: readmodel.EncodePayments(all)})
	}
	if len(pays) > 0 {
		return s.db.SavePayments(ctx, pays)
	}
	return nil
}

func usageDayDoc(account, day string, d *dayState) readmodel.UsageDay {
	start, _ := time.Parse(time.DateOnly, day) // readmodel.Day wrote it
	return readmodel.UsageDay{ID: readmodel.UsageDayID(account, day), AccountID: account, Day: day, Seq: d.seq,
		Groups: readmodel.EncodeDayGroups(d.groups), ExpiresAt: start.AddDate(0, 0, readmodel.UsageDaysKept)}
}

// readModelsKept sets s.readModels if the backfill is recorded as done.
func (s *Service) readModelsKept(ctx context.Context) error {
	if s.readModels {
		return nil
	}
	done, err := s.db.Done(ctx, migrationReadModels)
	if err == nil && !done && s.partitionKey() != "" {
		// With partitions each builds its own accounts' and records that.
		done, err = s.db.Done(ctx, s.readModelsMigration())
	}
	s.readModels = done
	return err
}

// readModelsMigration is the name this partition records its backfill
// under: migrationReadModels for all accounts (one partition), or with
// the partition's key for its own.
func (s *Service) readModelsMigration() string {
	if k := s.partitionKey(); k != "" {
		return migrationReadModels + ":" + k
	}
	return migrationReadModels
}

// migrationReadModels names the one-time backfill of the read models.
const migrationReadModels = "read_models_v1"

// backfillViews builds the read models once from what a ledger that did
// not keep them left: usage_days from the rollups of the days kept,
// payments from the journal's credits, and each account's map, then marks
// every account as kept. It runs at start-up, after any half-written batch
// is finished and before the writer applies anything, so the rollups and
// the journal are complete and nothing changes under it. Every write is
// absolute: a backfill cut short is simply done again at the next start.
// (On FerretDB it scans the rollups and the journal once.)
func (s *Service) backfillViews(ctx context.Context) error {
	if err := s.readModelsKept(ctx); err != nil || s.readModels {
		return err
	}
	start := time.Now()
	now := s.now().UTC()
	rollups, err := s.db.RollupsSince(ctx, readmodel.Day(now.AddDate(0, 0, -(readmodel.UsageDaysKept-1))))
	if err != nil {
		return err
	}
	views := map[string]*ledgerdb.AccountViews{}
	var order []string
	view := func(acc string) *ledgerdb.AccountViews {
		v := views[acc]
		if v == nil {
			v = &ledgerdb.AccountViews{ID: acc, UsageDays: map[string]int64{}}
			views[acc] = v
			order = append(order, acc)
		}
		return v
	}
	type dayOf struct {
		account, day string
		st           *dayState
	}
	days := map[string]*dayOf{}
	var dayOrder []string
	for _, r := range rollups {
		if !s.owns(r.AccountID) {
			continue // another partition's (partition.go)
		}
		id := readmodel.UsageDayID(r.AccountID, r.Day)
		d := days[id]
		if d == nil {
			d = &dayOf{account: r.AccountID, day: r.Day, st: &dayState{idx: map[string]int{}}}
			days[id] = d
			dayOrder = append(dayOrder, id)
		}
		d.st.add(readmodel.DayGroup{Model: r.Model, KeyID: r.KeyID, ProjectID: r.ProjectID, Requests: r.Requests,
			Errors: r.Errors, FreeRequests: r.FreeRequests, InputTokens: r.InputTokens, CachedInputTokens: r.CachedInputTokens,
			OutputTokens: r.OutputTokens, CostMicros: r.CostMicros, ChargedMicros: r.ChargedMicros})
		view(r.AccountID).UsageDays[r.Day] = 0
	}
	// Each day gets the account's seq: every entry applied so far is in the
	// rollups, every later one has a higher seq.
	seqs := map[string]int64{}
	for _, acc := range order {
		d, _, err := s.db.LoadAccount(ctx, acc)
		if err != nil {
			return err
		}
		seqs[acc] = d.Seq
		for day := range views[acc].UsageDays {
			views[acc].UsageDays[day] = d.Seq
		}
	}
	var docs []readmodel.UsageDay
	for _, id := range dayOrder {
		d := days[id]
		d.st.seq = seqs[d.account]
		docs = append(docs, usageDayDoc(d.account, d.day, d.st))
	}
	if err := s.db.SaveUsageDays(ctx, docs); err != nil {
		return err
	}

	credits, err := s.db.CreditEntries(ctx)
	if err != nil {
		return err
	}
	byAccount := map[string][]readmodel.Payment{}
	for _, e := range credits {
		if !s.owns(e.AccountID) {
			continue
		}
		byAccount[e.AccountID] = append(byAccount[e.AccountID], readmodel.Payment{ID: e.ID, Seq: e.Seq, Time: e.Time.UTC(),
			CreditKind: e.CreditKind, Method: e.Method, AmountMicros: e.AmountMicros})
	}
	var pays []readmodel.Payments
	for acc, ps := range byAccount {
		slices.SortFunc(ps, func(a, b readmodel.Payment) int { return cmp.Compare(b.Seq, a.Seq) })
		v := view(acc)
		v.PaymentsSeq = ps[0].Seq
		pays = append(pays, readmodel.Payments{ID: acc, Seq: ps[0].Seq, Entries: readmodel.EncodePayments(ps[:min(len(ps), readmodel.PaymentsKept)])})
	}
	if err := s.db.SavePayments(ctx, pays); err != nil {
		return err
	}
	all := make([]ledgerdb.AccountViews, 0, len(order))
	for _, acc := range order {
		all = append(all, *views[acc])
	}
	if err := s.db.SetAccountViews(ctx, all, s.owns); err != nil {
		return err
	}
	if err := s.db.MarkDone(ctx, s.readModelsMigration()); err != nil {
		return err
	}
	clear(s.accounts) // their documents changed under the cache
	clear(s.days)
	s.readModels = true
	s.log.Info("ledger: built the dashboard's read models", "accounts", len(order), "usage_days", len(docs),
		"payments", len(pays), "took", time.Since(start))
	return nil
}
