package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/readmodel"
	"github.com/onekey-oss/onekey/pkg/ids"
	"github.com/onekey-oss/onekey/services/ledger/internal/book"
	"github.com/onekey-oss/onekey/services/ledger/internal/ledgerdb"
)

// Fail points, in the order a batch reaches them.
const (
	PointBatchRecord = "batch-record" // after the write-ahead record
	PointJournal     = "journal"      // after the journal entries
	PointUsage       = "usage"        // after the usage rows
	PointRollups     = "rollups"      // after the rollups
	PointViews       = "views"        // after the dashboard's usage_days and payments documents
	PointAccounts    = "accounts"     // after the account documents
	PointKV          = "kv"           // after KV balances
	PointNotify      = "notify"       // after credit.applied / balance.low
	PointDone        = "done"         // after deleting the record, before acking
)

// FailPoints lists every fail point.
func FailPoints() []string {
	return []string{PointBatchRecord, PointJournal, PointUsage, PointRollups, PointViews, PointAccounts, PointKV, PointNotify, PointDone}
}

// item is one event of a batch: a bus message (in), a replica's lease
// request (lease) or the ledger's own reclaim (neither).
type item struct {
	in    inMsg
	lease *nats.Msg
	ev    book.Event
}

// apply applies one batch of messages, lease requests and reclaims, acks
// the messages and answers the requests. Messages that can never be
// applied (undecodable, breaking a rule, or reusing an event id with other
// content) are dead-lettered, such requests answered with an error;
// duplicates are acked (answered). On an error nothing is acked or
// answered and the caller must recover before the next batch.
func (s *Service) apply(ctx context.Context, msgs []inMsg, leases []*nats.Msg, reclaims []book.Event) error {
	start := time.Now()
	var items []item
	var acks []jetstream.Msg
	var answers []leaseAnswer
	seen := map[string]string{} // event id -> fingerprint, within the batch
	for _, m := range leases {
		ev, err := book.DecodeLease(m.Subject, m.Data)
		if err != nil {
			answers = append(answers, leaseAnswer{msg: m, ev: ev, err: err.Error()})
			continue
		}
		if fp, ok := seen[ev.ID]; ok {
			a := leaseAnswer{msg: m, ev: ev}
			if fp != ev.Fingerprint {
				a.err = fmt.Sprintf("lease request id %s already used with other content", ev.ID)
			}
			answers = append(answers, a)
			continue
		}
		seen[ev.ID] = ev.Fingerprint
		items = append(items, item{lease: m, ev: ev})
	}
	for _, ev := range reclaims {
		items = append(items, item{ev: ev})
	}
	for _, m := range msgs {
		ev, err := book.Decode(events.Published(m.msg.Subject()), m.msg.Data())
		switch {
		case errors.Is(err, book.ErrIgnored):
			acks = append(acks, m.msg)
			continue
		case err != nil:
			if err := s.deadLetter(ctx, m, err.Error()); err != nil {
				return err
			}
			continue
		}
		if fp, ok := seen[ev.ID]; ok {
			if fp != ev.Fingerprint {
				s.m.conflicts.Add(ctx, 1)
				if err := s.deadLetter(ctx, m, fmt.Sprintf("event id %s already used with other content", ev.ID)); err != nil {
					return err
				}
				continue
			}
			s.m.duplicates.Add(ctx, 1)
			acks = append(acks, m.msg)
			continue
		}
		seen[ev.ID] = ev.Fingerprint
		items = append(items, item{in: m, ev: ev})
	}

	if len(items) > 0 {
		rejected, err := s.write(ctx, items)
		if err != nil {
			return err
		}
		for _, it := range items {
			reason, bad := rejected[it.ev.ID]
			switch {
			case it.lease != nil:
				answers = append(answers, leaseAnswer{msg: it.lease, ev: it.ev, err: reason})
			case it.in.msg == nil:
			case bad:
				if err := s.deadLetter(ctx, it.in, reason); err != nil {
					return err
				}
			default:
				acks = append(acks, it.in.msg)
			}
		}
	}
	if err := s.point(PointDone); err != nil {
		return err
	}
	// A lost ack is harmless: the redelivered message finds its entry.
	for _, m := range acks {
		_ = m.Ack()
	}
	s.answerLeases(ctx, answers)
	s.m.batchSize.Record(ctx, int64(len(msgs)))
	s.m.batchSeconds.Record(ctx, time.Since(start).Seconds())
	return nil
}

// write computes the entries of items, records the batch, inserts the
// journal and finishes the batch. It returns the ids it refused because
// the journal holds another event under that id.
func (s *Service) write(ctx context.Context, items []item) (map[string]string, error) {
	now := s.now().UTC()
	w0 := time.Now()
	bases := map[string]book.Account{}
	var order []string
	for _, it := range items {
		if _, ok := bases[it.ev.Account]; ok {
			continue
		}
		a, err := s.account(ctx, it.ev.Account)
		if err != nil {
			return nil, err
		}
		bases[it.ev.Account] = a.Clone()
		order = append(order, a.ID)
	}

	// Entries as if every event were new. Duplicates found by the insert
	// below are dropped; the entries after them in the same account keep
	// their numbers (leaving gaps) and their recorded effects, which were
	// decided on a state that counted the duplicate once more: at worst a
	// request is charged where it could have used a free request, which is
	// then left for a later one. Balance = sum of entries holds either way.
	work := map[string]*book.Account{}
	for id, a := range bases {
		c := a.Clone()
		work[id] = &c
	}
	rec := ledgerdb.BatchDoc{ID: ids.New("bat"), Created: now, Partition: s.partitionKey()}
	for _, id := range order {
		rec.Bases = append(rec.Bases, accountDoc(bases[id]))
	}
	docs := make([]ledgerdb.EntryDoc, 0, len(items))
	for _, it := range items {
		e, _ := work[it.ev.Account].Apply(it.ev, s.cfg.FreeRequests)
		if e.NoOp() {
			continue // a renewal: nothing to journal
		}
		d := ledgerdb.EntryToDoc(e, rec.ID, now)
		docs = append(docs, d)
		be := ledgerdb.BatchEntry{Entry: d}
		if it.ev.Usage != nil {
			u := s.usageDoc(it.ev.Usage, e)
			be.Usage = &u
		}
		rec.Entries = append(rec.Entries, be)
	}
	if len(docs) == 0 {
		return nil, nil
	}
	w1 := time.Now()
	if err := s.db.PutBatch(ctx, rec); err != nil {
		return nil, err
	}
	w2 := time.Now()
	if err := s.point(PointBatchRecord); err != nil {
		return nil, err
	}
	dups, err := s.db.InsertEntries(ctx, docs)
	if err != nil {
		return nil, err
	}
	out := ledgerdb.OutcomeDoc{ID: rec.ID, Refused: []string{}}
	for i := range docs {
		if dups[i] {
			out.Refused = append(out.Refused, docs[i].ID)
		}
	}
	if err := s.db.PutOutcome(ctx, out); err != nil {
		return nil, err
	}
	if err := s.point(PointJournal); err != nil {
		return nil, err
	}
	rejected := map[string]string{}
	var confirmed []ledgerdb.BatchEntry
	var refused []ledgerdb.EntryDoc
	for i, be := range rec.Entries {
		if dups[i] {
			refused = append(refused, be.Entry)
		} else {
			confirmed = append(confirmed, be)
		}
	}
	w3 := time.Now()
	// Refused entries are rare (redeliveries): they are read back, in one
	// query, to tell an older batch's entry of the same event (same
	// fingerprint) from a conflicting one.
	held, err := s.db.Entries(ctx, entryIDs(refused))
	if err != nil {
		return nil, err
	}
	for _, d := range refused {
		old, found := held[d.ID]
		if !found {
			// Refused yet not there: another entry holds its sequence
			// (never with one writer).
			return nil, fmt.Errorf("journal entry %s of account %s: sequence %d is taken; is a second ledger writing?", d.ID, d.AccountID, d.Seq)
		}
		if old.Fingerprint == d.Fingerprint {
			s.m.duplicates.Add(ctx, 1)
			continue
		}
		s.m.conflicts.Add(ctx, 1)
		rejected[d.ID] = fmt.Sprintf("event id %s is already in the journal with other content (account %s)", d.ID, old.AccountID)
	}
	s.log.Debug("ledger: batch written", "items", len(items), "refused", len(refused), "load", w1.Sub(w0), "record", w2.Sub(w1), "journal", w3.Sub(w2), "probe", time.Since(w3))
	if err := s.finish(ctx, rec, confirmed, nil); err != nil {
		return nil, err
	}
	return rejected, nil
}

// account returns the cached state of an account, loading it on a miss
// (an account without a document starts empty, with the configured
// low-balance threshold).
func (s *Service) account(ctx context.Context, id string) (*book.Account, error) {
	if a, ok := s.accounts[id]; ok {
		return a, nil
	}
	d, found, err := s.db.LoadAccount(ctx, id)
	if err != nil {
		return nil, err
	}
	a := book.Account{ID: id, LowThreshold: s.cfg.LowBalance}
	if found {
		a = d.ToAccount()
	}
	s.accounts[id] = &a
	return &a, nil
}

// finish does every write after the journal for the entries of rec that
// are in the journal (confirmed): usage rows, rollups, the dashboard's
// read models, accounts, KV balances, notifications, then deletes rec.
// Each step is idempotent, so finishing a batch twice leaves what
// finishing it once does; rollupDone (recovery only) names the rollups the
// batch had already added to, whose usage rows are written too.
func (s *Service) finish(ctx context.Context, rec ledgerdb.BatchDoc, confirmed []ledgerdb.BatchEntry, rollupDone map[string]bool) error {
	now := s.now().UTC()
	states := map[string]*book.Account{}
	var order []string
	for _, b := range rec.Bases {
		a := b.ToAccount()
		states[a.ID] = &a
		order = append(order, a.ID)
	}
	// confirmed is in batch order, which is each account's seq order.

	var usage []ledgerdb.UsageDoc
	rollups := map[string]*ledgerdb.RollupDelta{}
	var rollupOrder []string
	var notes []events.Event
	views := newViewChanges()
	for _, be := range confirmed {
		a := states[be.Entry.AccountID]
		if a == nil {
			return fmt.Errorf("batch %s: entry %s has no base state for account %s", rec.ID, be.Entry.ID, be.Entry.AccountID)
		}
		before := a.Balance
		e := a.ApplyEntry(be.Entry.ToEntry())
		if e.Kind == book.KindCredit {
			views.credit(a, e)
			notes = append(notes, events.CreditAppliedV1{
				V: 1, ID: "applied:" + e.ID, Time: now, AccountID: e.Account, SourceEventID: e.ID,
				Method: e.Method, Kind: e.CreditKind, AmountMicros: e.Amount, BalanceMicros: e.BalanceAfter,
			})
		}
		if a.LowThreshold > 0 && before >= a.LowThreshold && a.Balance < a.LowThreshold {
			notes = append(notes, events.BalanceLowV1{
				V: 1, ID: fmt.Sprintf("balance.low:%s:%d", a.ID, e.Seq), Time: now, AccountID: a.ID,
				BalanceMicros: a.Balance, ThresholdMicros: a.LowThreshold,
			})
		}
		if be.Usage != nil {
			u := *be.Usage
			views.usage(a, e.Seq, u)
			rid := readmodel.RollupID(u.AccountID, readmodel.Day(u.Time), u.Model, u.KeyID)
			if !rollupDone[rid] { // else its usage row and rollup are written
				usage = append(usage, u)
				r, ok := rollups[rid]
				if !ok {
					r = &ledgerdb.RollupDelta{ID: rid, AccountID: u.AccountID, Day: readmodel.Day(u.Time), Model: u.Model, KeyID: u.KeyID, ProjectID: u.ProjectID}
					rollups[rid] = r
					rollupOrder = append(rollupOrder, rid)
				}
				r.Add(u)
			}
		}
		s.m.applied.Add(ctx, 1, metric.WithAttributes(attribute.String("kind", e.Kind)))
	}

	t0 := time.Now()
	if err := s.db.InsertUsage(ctx, usage); err != nil {
		return err
	}
	if err := s.point(PointUsage); err != nil {
		return err
	}
	var deltas []ledgerdb.RollupDelta
	for _, id := range rollupOrder {
		deltas = append(deltas, *rollups[id])
	}
	t1 := time.Now()
	if err := s.db.ApplyRollups(ctx, rec.ID, deltas); err != nil {
		return err
	}
	if err := s.point(PointRollups); err != nil {
		return err
	}
	if err := s.writeViews(ctx, views); err != nil {
		return err
	}
	if err := s.point(PointViews); err != nil {
		return err
	}
	// Only accounts with an entry here changed; the others' documents
	// already hold their base state.
	touched := map[string]bool{}
	for _, be := range confirmed {
		touched[be.Entry.AccountID] = true
	}
	accounts := make([]book.Account, 0, len(touched))
	for _, id := range order {
		if touched[id] {
			a := states[id]
			pruneDays(a, now)
			if s.readModels {
				a.ReadModels = readmodel.ReadModelsVersion
			}
			accounts = append(accounts, *a)
		}
	}
	t2 := time.Now()
	if err := s.db.SaveAccounts(ctx, accounts, s.cfg.LowBalance, now); err != nil {
		return err
	}
	for _, id := range order {
		s.accounts[id] = states[id]
	}
	s.noteUsageLeases(accounts)
	if err := s.point(PointAccounts); err != nil {
		return err
	}
	t3 := time.Now()
	if err := s.putBalances(ctx, accounts, s.now().UTC()); err != nil {
		return err
	}
	if err := s.point(PointKV); err != nil {
		return err
	}
	for _, n := range notes {
		if _, err := s.bus.Publish(ctx, n); err != nil {
			return err
		}
	}
	if err := s.point(PointNotify); err != nil {
		return err
	}
	t4 := time.Now()
	err := s.db.DeleteBatch(ctx, rec.ID)
	s.log.Debug("ledger: batch finished", "entries", len(confirmed), "accounts", len(accounts), "rollups", len(deltas),
		"usage", t1.Sub(t0), "rollups_took", t2.Sub(t1), "accounts_took", t3.Sub(t2), "kv_and_notify", t4.Sub(t3), "delete", time.Since(t4))
	return err
}

// recover finishes every batch a previous run (or a failed batch) left
// behind (the entries of its record found in the journal under its batch
// id are the ones it inserted), then builds the read models once if a
// ledger that did not keep them ran before (views.go).
func (s *Service) recover(ctx context.Context) error {
	if err := s.readModelsKept(ctx); err != nil {
		return err
	}
	recs, err := s.db.PendingBatches(ctx, s.partitionKey())
	if err != nil {
		return err
	}
	for _, rec := range recs {
		confirmed, err := s.confirmed(ctx, rec)
		if err != nil {
			return err
		}
		// Rollups this batch had already added to carry its id.
		done := map[string]bool{}
		for _, be := range confirmed {
			if be.Usage == nil {
				continue
			}
			rid := readmodel.RollupID(be.Usage.AccountID, readmodel.Day(be.Usage.Time), be.Usage.Model, be.Usage.KeyID)
			if _, ok := done[rid]; ok {
				continue
			}
			b, err := s.db.RollupBatch(ctx, rid)
			if err != nil {
				return err
			}
			done[rid] = b == rec.ID
		}
		if err := s.finish(ctx, rec, confirmed, done); err != nil {
			return err
		}
		s.log.Info("ledger: finished a half-written batch", "batch", rec.ID, "entries", len(confirmed))
	}
	return s.backfillViews(ctx)
}

// confirmed tells which entries of a half-written batch are in the journal
// as its own. With the batch's outcome that is every entry not refused;
// without it (the stop came between the journal insert and the outcome),
// the entries are inserted again: those that go in now had not gone in
// before the stop (they are the batch's all the same), and of those
// refused, the ones carrying the batch's id are its own.
func (s *Service) confirmed(ctx context.Context, rec ledgerdb.BatchDoc) ([]ledgerdb.BatchEntry, error) {
	out, found, err := s.db.Outcome(ctx, rec.ID)
	if err != nil {
		return nil, err
	}
	var confirmed []ledgerdb.BatchEntry
	if found {
		refused := map[string]bool{}
		for _, id := range out.Refused {
			refused[id] = true
		}
		for _, be := range rec.Entries {
			if !refused[be.Entry.ID] {
				confirmed = append(confirmed, be)
			}
		}
		return confirmed, nil
	}
	docs := make([]ledgerdb.EntryDoc, len(rec.Entries))
	for i, be := range rec.Entries {
		docs[i] = be.Entry
	}
	dups, err := s.db.InsertEntries(ctx, docs)
	if err != nil {
		return nil, err
	}
	// A refused entry is the batch's own if the journal holds it under
	// the batch's id (an older batch's entry or a conflicting event has
	// another batch id).
	var refused []ledgerdb.EntryDoc
	for i, be := range rec.Entries {
		if dups[i] {
			refused = append(refused, be.Entry)
		}
	}
	held, err := s.db.Entries(ctx, entryIDs(refused))
	if err != nil {
		return nil, err
	}
	for i, be := range rec.Entries {
		if !dups[i] {
			confirmed = append(confirmed, be)
			continue
		}
		d, found := held[be.Entry.ID]
		if found && d.Batch == rec.ID && d.AccountID == be.Entry.AccountID && d.Seq == be.Entry.Seq {
			confirmed = append(confirmed, be)
		}
	}
	return confirmed, nil
}

func entryIDs(docs []ledgerdb.EntryDoc) []string {
	ids := make([]string, len(docs))
	for i, d := range docs {
		ids[i] = d.ID
	}
	return ids
}

// usageDoc is the usage row of a request with what the ledger charged.
func (s *Service) usageDoc(u *events.UsageRecordedV1, e book.Entry) ledgerdb.UsageDoc {
	t := u.Time.UTC()
	if t.IsZero() {
		t = s.now().UTC()
	}
	return ledgerdb.UsageDoc{
		ID: u.ID, AccountID: u.AccountID, ProjectID: u.ProjectID, KeyID: u.KeyID, Model: u.Model, Provider: u.Provider,
		Channel: u.Channel, Time: t, InputTokens: u.InputTokens, CachedInputTokens: u.CachedInputTokens,
		CacheWriteTokens: u.CacheWriteTokens, OutputTokens: u.OutputTokens, ReasoningTokens: u.ReasoningTokens,
		CostMicros: int64(u.CostMicros), ChargedMicros: -int64(e.Amount), Free: e.FreeDelta < 0,
		LatencyMS: u.LatencyMS, TTFBMS: u.TTFBMS, Streamed: u.Streamed, Status: u.Status, Estimated: u.Estimated,
		ExpiresAt: t.Add(s.cfg.UsageRetention),
	}
}

func accountDoc(a book.Account) ledgerdb.AccountDoc {
	d := ledgerdb.AccountDoc{ID: a.ID, BalanceMicros: int64(a.Balance), FreeRequestsLeft: a.Free, LowBalanceMicros: int64(a.LowThreshold),
		Opened: a.Opened, CreatedAt: a.CreatedAt, Seq: a.Seq}
	if len(a.KeySpend) > 0 {
		d.KeySpendMicros = map[string]int64{}
		for k, v := range a.KeySpend {
			d.KeySpendMicros[k] = int64(v)
		}
	}
	d.Leases = ledgerdb.LeasesToDoc(a.Leases)
	d.LeasedMicros, d.LeasedFree = int64(a.Leased), a.LeasedFree
	d.UsageDays, d.PaymentsSeq, d.ReadModels = readmodel.FormatUsageDays(a.UsageDays), a.PaymentsSeq, a.ReadModels
	return d
}

// deadLetter publishes a message the ledger will never apply to the
// dead-letter subject with the reason, and terminates it.
func (s *Service) deadLetter(ctx context.Context, m inMsg, reason string) error {
	attempts := 1
	if md, err := m.msg.Metadata(); err == nil {
		attempts = int(md.NumDelivered)
	}
	if err := s.bus.DeadLetter(ctx, m.consumer, m.msg, attempts, reason); err != nil {
		return fmt.Errorf("dead-letter %s: %w", m.msg.Subject(), err)
	}
	s.m.deadLetters.Add(ctx, 1, metric.WithAttributes(attribute.String("consumer", m.consumer)))
	s.log.Warn("ledger: dead-lettered a message", "consumer", m.consumer, "subject", m.msg.Subject(), "reason", reason)
	_ = m.msg.Term()
	return nil
}
