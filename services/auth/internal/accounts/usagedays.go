package accounts

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/onekey-oss/onekey/api/readmodel"
)

// Reading an account's usage and payments from the ledger's read models
// (api/readmodel/views.go): the account document names the usage_days
// documents of its last days with the seq of each, so a day already read
// with that seq is taken from memory and the others are read by _id. An
// account the ledger has not yet given read models (an older ledger, or
// before its start-up backfill) is read from the rollups and the journal,
// as is any day older than the read models keep.

// RollupsOf returns the account's rollups of the UTC days from..to
// inclusive, sorted by day; a is its ledger document (LedgerAccount). The
// caller must not change them (they are shared with the cache).
func (s *Store) RollupsOf(ctx context.Context, a readmodel.Account, from, to time.Time) ([]readmodel.Rollup, error) {
	if a.ReadModels < readmodel.ReadModelsVersion {
		return s.scanRollups(ctx, a.ID, from, to)
	}
	kept := day(s.now()).AddDate(0, 0, -(readmodel.UsageDaysKept - 1))
	var older []readmodel.Rollup
	if from.Before(kept) {
		end := kept.AddDate(0, 0, -1)
		if to.Before(end) {
			end = to
		}
		var err error
		if older, err = s.scanRollups(ctx, a.ID, from, end); err != nil {
			return nil, err
		}
		from = kept
	}
	if to.Before(from) {
		return older, nil
	}
	days, err := readmodel.ParseUsageDays(a.UsageDays)
	if err != nil {
		return nil, fmt.Errorf("account %s: %w", a.ID, err)
	}
	lo, hi := readmodel.Day(from), readmodel.Day(to)
	var want []string
	for d := range days {
		if d >= lo && d <= hi {
			want = append(want, d)
		}
	}
	slices.Sort(want)
	byDay := make(map[string][]readmodel.Rollup, len(want))
	var missing []dayRef
	n := len(older)
	for _, d := range want {
		id := readmodel.UsageDayID(a.ID, d)
		if rs, ok := s.days.get(id, days[d]); ok {
			byDay[d] = rs
			n += len(rs)
			continue
		}
		missing = append(missing, dayRef{id: id, day: d, seq: days[d]})
	}
	read, err := s.readDays(ctx, missing)
	if err != nil {
		return nil, err
	}
	for d, rs := range read {
		byDay[d] = rs
		n += len(rs)
	}
	out := make([]readmodel.Rollup, 0, n)
	out = append(out, older...)
	for _, d := range want {
		out = append(out, byDay[d]...)
	}
	return out, nil
}

type dayRef struct {
	id, day string
	seq     int64
}

// fewDays is the most days read one by one; more are read in one query
// ($in on _id: on MongoDB one index lookup, on FerretDB one pass over the
// collection instead of one per day).
const fewDays = 4

// readDays reads usage_days documents by _id, by day, and caches them
// under the seq the account named them with (a document read may be newer
// than that: the next view then reads it again).
func (s *Store) readDays(ctx context.Context, refs []dayRef) (map[string][]readmodel.Rollup, error) {
	out := make(map[string][]readmodel.Rollup, len(refs))
	if len(refs) <= fewDays {
		for _, r := range refs {
			rs, err := s.readDay(ctx, r)
			if err != nil {
				return nil, err
			}
			out[r.day] = rs
		}
		return out, nil
	}
	byID := make(map[string]dayRef, len(refs))
	ids := make([]string, 0, len(refs))
	for _, r := range refs {
		byID[r.id] = r
		ids = append(ids, r.id)
	}
	cur, err := s.st.Collection(readmodel.CollUsageDays).Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}})
	if err != nil {
		return nil, fmt.Errorf("read %d usage days: %w", len(ids), err)
	}
	var docs []readmodel.UsageDay
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("read %d usage days: %w", len(ids), err)
	}
	var dec readmodel.Decoder
	for _, d := range docs {
		ref, ok := byID[d.ID]
		if !ok {
			continue
		}
		rs, err := dayRollups(&dec, d)
		if err != nil {
			return nil, err
		}
		s.days.put(d.ID, ref.seq, rs)
		delete(byID, d.ID)
		out[ref.day] = rs
	}
	for id, ref := range byID { // expired
		s.days.put(id, ref.seq, nil)
	}
	return out, nil
}

func dayRollups(dec *readmodel.Decoder, d readmodel.UsageDay) ([]readmodel.Rollup, error) {
	gs, err := dec.DayGroups(d.Groups)
	if err != nil {
		return nil, fmt.Errorf("usage day %s: %w", d.ID, err)
	}
	rs := make([]readmodel.Rollup, len(gs))
	for i, g := range gs {
		rs[i] = g.Rollup(d.AccountID, d.Day)
	}
	return rs, nil
}

func (s *Store) readDay(ctx context.Context, ref dayRef) ([]readmodel.Rollup, error) {
	var d readmodel.UsageDay
	err := s.st.Collection(readmodel.CollUsageDays).FindOne(ctx, bson.D{{Key: "_id", Value: ref.id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		// Expired (the account's list is pruned when it next changes).
		s.days.put(ref.id, ref.seq, nil)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read usage day %s: %w", ref.id, err)
	}
	rs, err := dayRollups(new(readmodel.Decoder), d)
	if err != nil {
		return nil, err
	}
	s.days.put(ref.id, ref.seq, rs)
	return rs, nil
}

// scanRollups reads the rollups collection (a scan on FerretDB; on MongoDB
// the (account_id, day) index serves it).
func (s *Store) scanRollups(ctx context.Context, accountID string, from, to time.Time) ([]readmodel.Rollup, error) {
	filter := bson.D{
		{Key: "account_id", Value: accountID},
		{Key: "day", Value: bson.D{{Key: "$gte", Value: readmodel.Day(from)}, {Key: "$lte", Value: readmodel.Day(to)}}},
	}
	cur, err := s.st.Collection(readmodel.CollRollups).Find(ctx, filter, options.Find().SetProjection(bson.D{{Key: "batch", Value: 0}}))
	if err != nil {
		return nil, fmt.Errorf("read rollups: %w", err)
	}
	var out []readmodel.Rollup
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("read rollups: %w", err)
	}
	slices.SortStableFunc(out, func(a, b readmodel.Rollup) int { return strings.Compare(a.Day, b.Day) })
	return out, nil
}

// PaymentsOf lists the money that reached the account, newest first (at
// most MaxPayments); a is its ledger document.
func (s *Store) PaymentsOf(ctx context.Context, a readmodel.Account) ([]Payment, error) {
	if a.ReadModels < readmodel.ReadModelsVersion {
		return s.scanPayments(ctx, a.ID)
	}
	out := []Payment{}
	if a.PaymentsSeq == 0 {
		return out, nil
	}
	var d readmodel.Payments
	err := s.st.Collection(readmodel.CollPayments).FindOne(ctx, bson.D{{Key: "_id", Value: a.ID}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read payments: %w", err)
	}
	ps, err := readmodel.DecodePayments(d.Entries)
	if err != nil {
		return nil, fmt.Errorf("read payments: %w", err)
	}
	for _, p := range ps[:min(len(ps), MaxPayments)] {
		out = append(out, payment(p.ID, p.Time, p.CreditKind, p.Method, p.AmountMicros))
	}
	return out, nil
}

func day(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// dayCache keeps usage_days documents read, as rollups, under the seq the
// account named them with. Safe for concurrent use; the least recently
// used days are dropped past maxRows rollups in all.
type dayCache struct {
	mu      sync.Mutex
	maxRows int
	rows    int
	order   *list.List // of *cachedDay, front = most recent
	byID    map[string]*list.Element
}

type cachedDay struct {
	id      string
	seq     int64
	rollups []readmodel.Rollup
}

// cachedDayRows bounds the day cache: about 200 bytes a rollup.
const cachedDayRows = 200_000

func newDayCache(maxRows int) *dayCache {
	return &dayCache{maxRows: maxRows, order: list.New(), byID: map[string]*list.Element{}}
}

func (c *dayCache) get(id string, seq int64) ([]readmodel.Rollup, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byID[id]
	if !ok || e.Value.(*cachedDay).seq != seq {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*cachedDay).rollups, true
}

func (c *dayCache) put(id string, seq int64, rs []readmodel.Rollup) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byID[id]; ok {
		d := e.Value.(*cachedDay)
		if seq < d.seq {
			return // a slower reader of an older view
		}
		c.rows += len(rs) - len(d.rollups)
		d.seq, d.rollups = seq, rs
		c.order.MoveToFront(e)
	} else {
		c.byID[id] = c.order.PushFront(&cachedDay{id: id, seq: seq, rollups: rs})
		c.rows += len(rs)
	}
	for c.rows > c.maxRows && c.order.Len() > 1 {
		last := c.order.Back()
		d := last.Value.(*cachedDay)
		c.order.Remove(last)
		delete(c.byID, d.id)
		c.rows -= len(d.rollups)
	}
}
