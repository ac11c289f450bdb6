package ledger_test

import (
	"context"
	"errors"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/api/readmodel"
	"github.com/onekey-oss/onekey/services/ledger/ledger"
)

// usageDay reads an account's usage_days document of day (found false if
// there is none).
func (h *harness) usageDay(acc, day string) (readmodel.UsageDay, []readmodel.DayGroup, bool) {
	h.t.Helper()
	var d readmodel.UsageDay
	err := h.st.Collection(readmodel.CollUsageDays).FindOne(context.Background(), bson.D{{Key: "_id", Value: readmodel.UsageDayID(acc, day)}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return d, nil, false
	}
	if err != nil {
		h.t.Fatal(err)
	}
	gs, err := readmodel.DecodeDayGroups(d.Groups)
	if err != nil {
		h.t.Fatal(err)
	}
	return d, gs, true
}

func (h *harness) payments(acc string) []readmodel.Payment {
	h.t.Helper()
	var d readmodel.Payments
	err := h.st.Collection(readmodel.CollPayments).FindOne(context.Background(), bson.D{{Key: "_id", Value: acc}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil
	}
	if err != nil {
		h.t.Fatal(err)
	}
	ps, err := readmodel.DecodePayments(d.Entries)
	if err != nil {
		h.t.Fatal(err)
	}
	return ps
}

// The read models fold an entry in once, whether the ledger crashes after
// writing them (the batch is finished again at the next start) or the
// event is delivered again (the journal refuses it).
func TestLedger_RedeliveredUsageChangesItsDayDocumentOnce(t *testing.T) {
	for _, point := range []string{ledger.PointViews, ledger.PointDone} {
		t.Run(point, func(t *testing.T) {
			h := newHarness(t)
			const acc = "acc_days"
			now := time.Now().UTC()
			day := readmodel.Day(now)
			u := usage("req_1", acc, 250_000)
			u.Time = now
			u.Status = 500
			var crashed atomic.Bool
			first := h.start(testConfig(), func(p string) error {
				if p == point && crashed.CompareAndSwap(false, true) {
					return errCrash
				}
				return nil
			})
			h.publish(credit("cs_evt_1", acc, 10*money.Dollar), u)
			waitFor(t, "crash at "+point, func() bool { return crashed.Load() })
			first.stop(t)
			h.start(testConfig(), nil)
			h.publishRaw(subject(u), u) // and once more, past JetStream's de-duplication
			waitFor(t, "redelivery seen as duplicate", func() bool { return h.counter("ledger_events_duplicate") >= 1 })
			h.waitBalance(acc, func(b events.BalanceV1) bool { return b.BalanceMicros == 10*money.Dollar-250_000 })
			waitFor(t, "idle", h.idle)

			d, gs, ok := h.usageDay(acc, day)
			if !ok {
				t.Fatalf("no usage_days document for %s", day)
			}
			want := []readmodel.DayGroup{{Model: u.Model, KeyID: u.KeyID, ProjectID: u.ProjectID, Requests: 1, Errors: 1,
				InputTokens: 100, CachedInputTokens: 10, OutputTokens: 50, CostMicros: 250_000, ChargedMicros: 250_000}}
			if !reflect.DeepEqual(gs, want) {
				t.Fatalf("day document groups = %+v, want %+v (the usage counted once)", gs, want)
			}
			a, _ := h.account(acc)
			days, err := readmodel.ParseUsageDays(a.UsageDays)
			if err != nil {
				t.Fatal(err)
			}
			if a.ReadModels != readmodel.ReadModelsVersion || days[day] != d.Seq || d.Seq == 0 {
				t.Fatalf("account read_models %d usage_days %q, day document seq %d: the account must name the day with its seq", a.ReadModels, a.UsageDays, d.Seq)
			}
			ps := h.payments(acc)
			if len(ps) != 1 || ps[0].ID != "cs_evt_1" || ps[0].AmountMicros != int64(10*money.Dollar) || ps[0].Method != "card" || ps[0].CreditKind != "purchase" {
				t.Fatalf("payments = %+v, want the one purchase", ps)
			}
			if a.PaymentsSeq != ps[0].Seq {
				t.Fatalf("account payments_seq %d, payment seq %d", a.PaymentsSeq, ps[0].Seq)
			}
		})
	}
}

// An account whose ledger data was written by a ledger that kept no read
// models gets them, equal to what its rollups and journal say, when an
// upgraded ledger starts; later usage adds to them.
func TestLedger_ReadModelsAreBuiltFromTheRollupsOfAnOlderLedger(t *testing.T) {
	h := newHarness(t)
	const acc = "acc_old"
	now := time.Now().UTC()
	var evs []events.Event
	evs = append(evs, opened(acc), credit("cs_evt_1", acc, 10*money.Dollar), credit("cs_evt_2", acc, 5*money.Dollar))
	for i, ago := range []int{0, 0, 1, 30, 89} {
		u := usage(idn("req_", i), acc, money.Micros(1000*(i+1)))
		u.Time = now.AddDate(0, 0, -ago)
		if i == 1 {
			u.Model = "claude-sonnet-4.5"
		}
		evs = append(evs, u)
	}
	r := h.start(testConfig(), nil)
	h.publish(evs...)
	waitFor(t, "all applied", func() bool { return h.journalCount(acc) == int64(len(evs)) && h.idle() })
	r.stop(t)

	type snapshot struct {
		days     map[string][]readmodel.DayGroup
		payments []readmodel.Payment
	}
	take := func() snapshot {
		s := snapshot{days: map[string][]readmodel.DayGroup{}, payments: h.payments(acc)}
		for _, ago := range []int{0, 1, 30, 89} {
			day := readmodel.Day(now.AddDate(0, 0, -ago))
			_, gs, ok := h.usageDay(acc, day)
			if !ok {
				t.Fatalf("no usage_days document for %s", day)
			}
			s.days[day] = gs
		}
		return s
	}
	want := take()

	// What an older ledger leaves: no read models.
	ctx := context.Background()
	for _, c := range []string{readmodel.CollUsageDays, readmodel.CollPayments, "ledger_meta"} {
		if _, err := h.st.Collection(c).DeleteMany(ctx, bson.D{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.st.Collection(readmodel.CollAccounts).UpdateOne(ctx, bson.D{{Key: "_id", Value: acc}},
		bson.D{{Key: "$unset", Value: bson.D{{Key: "read_models", Value: ""}, {Key: "usage_days", Value: ""}, {Key: "payments_seq", Value: ""}}}}); err != nil {
		t.Fatal(err)
	}

	h.start(testConfig(), nil)
	waitFor(t, "read models built", func() bool { a, _ := h.account(acc); return a.ReadModels == readmodel.ReadModelsVersion })
	if got := take(); !reflect.DeepEqual(got, want) {
		t.Fatalf("built from the rollups and the journal:\n%+v\nwritten as usage came:\n%+v", got, want)
	}
	a, _ := h.account(acc)
	days, _ := readmodel.ParseUsageDays(a.UsageDays)
	if len(days) != 4 || a.PaymentsSeq == 0 {
		t.Fatalf("account usage_days %q payments_seq %d: want the 4 days and the payments named", a.UsageDays, a.PaymentsSeq)
	}

	u := usage("req_late", acc, 7000)
	u.Time = now
	h.publish(u)
	today := readmodel.Day(now)
	waitFor(t, "usage folded in", func() bool {
		a, _ := h.account(acc)
		d, _ := readmodel.ParseUsageDays(a.UsageDays)
		return d[today] > days[today]
	})
	_, gs, _ := h.usageDay(acc, today)
	var n int64
	for _, g := range gs {
		n += g.Requests
	}
	if n != 3 {
		t.Fatalf("today has %d requests, want 3", n)
	}
}
