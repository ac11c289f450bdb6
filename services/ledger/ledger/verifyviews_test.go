package ledger_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/api/readmodel"
	"github.com/onekey-oss/onekey/services/ledger/ledger"
)

// Verify (and so reconcile) checks the dashboard's read models against
// the rollups and the journal: after real traffic it finds nothing, and
// each read model changed by hand is reported as exactly that difference,
// naming the account, the day or entry and both values.
func TestVerify_ReportsEachReadModelThatDiffersFromTheRollupsOrTheJournal(t *testing.T) {
	h := newHarness(t)
	const acc = "acc_views"
	ctx := context.Background()
	now := time.Now().UTC()
	today, yesterday := readmodel.Day(now), readmodel.Day(now.AddDate(0, 0, -1))
	evs := []events.Event{opened(acc), credit("cs_evt_1", acc, 10*money.Dollar), credit("cs_evt_2", acc, 5*money.Dollar),
		credit("cs_evt_3", acc, 7*money.Dollar)}
	for i := range 30 {
		u := usage(idn("req_", i), acc, money.Micros(1000*(i+1)))
		u.Time = now.AddDate(0, 0, -(i % 2))
		if i%3 == 0 {
			u.Model = "claude-sonnet-4.5"
		}
		if i%5 == 0 {
			u.KeyID = "key_other"
			u.ProjectID = "prj_2"
		}
		if i%7 == 0 {
			u.Status = 500
		}
		evs = append(evs, u)
	}
	r := h.start(testConfig(), nil)
	h.publish(evs...)
	waitFor(t, "all applied", func() bool { return h.journalCount(acc) == int64(len(evs)) && h.idle() })
	r.stop(t)

	if rep := verify(t, h); !rep.OK() {
		t.Fatalf("after real traffic Verify reports %v", rep.Problems)
	}

	day, gs, ok := h.usageDay(acc, today)
	if !ok || len(gs) == 0 {
		t.Fatalf("no usage_days document for %s", today)
	}
	pays := h.payments(acc)
	if len(pays) != 3 {
		t.Fatalf("payments = %+v, want the 3 purchases", pays)
	}

	cases := []struct {
		name    string
		coll    string
		id      string
		corrupt bson.D // the $set that corrupts the document
		want    []string
	}{
		{
			name: "a figure of a usage day",
			coll: readmodel.CollUsageDays, id: day.ID,
			corrupt: func() bson.D {
				bad := append([]readmodel.DayGroup(nil), gs...)
				bad[0].OutputTokens += 7
				return bson.D{{Key: "groups", Value: readmodel.EncodeDayGroups(bad)}}
			}(),
			want: []string{"account " + acc, "usage day " + today, "model " + gs[0].Model, "key " + gs[0].KeyID,
				fmt.Sprintf("output tokens %d in usage_days", gs[0].OutputTokens+7), fmt.Sprintf("rollups sum to %d", gs[0].OutputTokens)},
		},
		{
			name: "a payment dropped",
			coll: readmodel.CollPayments, id: acc,
			corrupt: bson.D{{Key: "entries", Value: readmodel.EncodePayments([]readmodel.Payment{pays[0], pays[2]})}},
			want:    []string{"account " + acc, "payment " + pays[1].ID + " missing", fmt.Sprintf("seq %d, %d micro-USD", pays[1].Seq, pays[1].AmountMicros)},
		},
		{
			name: "a payment's amount",
			coll: readmodel.CollPayments, id: acc,
			corrupt: func() bson.D {
				bad := append([]readmodel.Payment(nil), pays...)
				bad[2].AmountMicros++
				return bson.D{{Key: "entries", Value: readmodel.EncodePayments(bad)}}
			}(),
			want: []string{"account " + acc, "payment " + pays[2].ID, fmt.Sprintf("%d micro-USD", pays[2].AmountMicros+1),
				fmt.Sprintf("the journal has seq %d, %d micro-USD", pays[2].Seq, pays[2].AmountMicros)},
		},
		{
			name: "the seq of a day's document",
			coll: readmodel.CollUsageDays, id: day.ID,
			corrupt: bson.D{{Key: "seq", Value: day.Seq - 1}},
			want: []string{"account " + acc, fmt.Sprintf("names day %s with seq %d", today, day.Seq),
				fmt.Sprintf("document has seq %d", day.Seq-1)},
		},
		{
			name: "the seq of a day in the account's map",
			coll: readmodel.CollAccounts, id: acc,
			corrupt: func() bson.D {
				a, _ := h.account(acc)
				days, err := readmodel.ParseUsageDays(a.UsageDays)
				if err != nil || days[yesterday] == 0 {
					t.Fatalf("account usage_days %q (%v): want yesterday named", a.UsageDays, err)
				}
				days[yesterday] += 100
				return bson.D{{Key: "usage_days", Value: readmodel.FormatUsageDays(days)}}
			}(),
			want: []string{"account " + acc, "names day " + yesterday, "with seq"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			coll := h.st.Collection(c.coll)
			var orig bson.Raw
			if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: c.id}}).Decode(&orig); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if _, err := coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: c.id}}, orig); err != nil {
					t.Fatal(err)
				}
			})
			if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: c.id}}, bson.D{{Key: "$set", Value: c.corrupt}}); err != nil {
				t.Fatal(err)
			}
			rep := verify(t, h)
			if len(rep.Problems) != 1 {
				t.Fatalf("Verify reports %d problems, want exactly one: %q", len(rep.Problems), rep.Problems)
			}
			t.Logf("reported: %s", rep.Problems[0])
			for _, w := range c.want {
				if !strings.Contains(rep.Problems[0], w) {
					t.Errorf("problem %q does not say %q", rep.Problems[0], w)
				}
			}
		})
	}
	if rep := verify(t, h); !rep.OK() {
		t.Fatalf("with every document restored Verify reports %v", rep.Problems)
	}
}

func verify(t *testing.T, h *harness) ledger.Report {
	t.Helper()
	rep, err := ledger.Verify(context.Background(), h.st)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}
