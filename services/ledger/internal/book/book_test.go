package book_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/services/ledger/internal/book"
)

func raw(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecode_RefusesEventsThatCanNeverBeApplied(t *testing.T) {
	t.Parallel()
	now := time.Now()
	cases := map[string]struct {
		subject string
		data    []byte
	}{
		"not json":          {"usage.recorded.acc_1", []byte(`{"v":1,`)},
		"no id":             {"usage.recorded.acc_1", raw(t, events.UsageRecordedV1{V: 1, AccountID: "acc_1"})},
		"no version":        {"usage.recorded.acc_1", raw(t, events.UsageRecordedV1{ID: "r", AccountID: "acc_1"})},
		"other account":     {"usage.recorded.acc_2", raw(t, events.UsageRecordedV1{V: 1, ID: "r", AccountID: "acc_1"})},
		"negative cost":     {"usage.recorded.acc_1", raw(t, events.UsageRecordedV1{V: 1, ID: "r", AccountID: "acc_1", CostMicros: -1})},
		"negative tokens":   {"usage.recorded.acc_1", raw(t, events.UsageRecordedV1{V: 1, ID: "r", AccountID: "acc_1", OutputTokens: -3})},
		"positive refund":   {"credit.purchased.acc_1", raw(t, events.CreditPurchasedV1{V: 1, ID: "e", AccountID: "acc_1", Kind: events.CreditRefund, AmountMicros: 5})},
		"negative purchase": {"credit.purchased.acc_1", raw(t, events.CreditPurchasedV1{V: 1, ID: "e", AccountID: "acc_1", Kind: events.CreditPurchase, AmountMicros: -5})},
		"unknown kind":      {"credit.purchased.acc_1", raw(t, events.CreditPurchasedV1{V: 1, ID: "e", AccountID: "acc_1", Kind: "gift", AmountMicros: 5})},
		"zero adjustment":   {"credit.adjusted.acc_1", raw(t, events.CreditAdjustedV1{V: 1, ID: "a", AccountID: "acc_1", Time: now})},
		"negative transfer": {"tx.confirmed.acc_1", raw(t, events.TxConfirmedV1{V: 1, ID: "x", AccountID: "acc_1", AmountMicros: -1})},
		"unknown subject":   {"balance.low.acc_1", raw(t, events.BalanceLowV1{V: 1, ID: "l", AccountID: "acc_1"})},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := book.Decode(c.subject, c.data); !errors.Is(err, book.ErrInvalid) {
				t.Fatalf("Decode = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestDecode_SameEventResentWithANewTimestampKeepsItsFingerprint(t *testing.T) {
	t.Parallel()
	a := events.CreditAdjustedV1{V: 1, ID: "devstack-demo-credit:acc_1", Time: time.Now(), AccountID: "acc_1", AmountMicros: money.USD(5), Reason: "demo", Actor: "devstack"}
	b := a
	b.Time = a.Time.Add(time.Hour)
	ea, err := book.Decode("credit.adjusted.acc_1", raw(t, a))
	if err != nil {
		t.Fatal(err)
	}
	eb, _ := book.Decode("credit.adjusted.acc_1", raw(t, b))
	if ea.Fingerprint != eb.Fingerprint {
		t.Fatal("a re-sent event with a new time looks like other content")
	}
	b.AmountMicros++
	ec, _ := book.Decode("credit.adjusted.acc_1", raw(t, b))
	if ec.Fingerprint == ea.Fingerprint {
		t.Fatal("another amount under the same id has the same fingerprint")
	}
}

func TestApply_FreeRequestsFirstThenDebitsThenCredits(t *testing.T) {
	t.Parallel()
	a := book.Account{ID: "acc_1", LowThreshold: money.Dollar}
	open, _ := a.Apply(book.Event{ID: "o", Kind: book.KindOpen}, 2)
	again, _ := a.Apply(book.Event{ID: "o2", Kind: book.KindOpen}, 2)
	if open.FreeDelta != 2 || again.FreeDelta != 0 || a.Free != 2 || !a.Opened {
		t.Fatalf("opening: %+v %+v %+v", open, again, a)
	}
	u := &events.UsageRecordedV1{KeyID: "key_1"}
	for i := range 3 {
		a.Apply(book.Event{ID: string(rune('a' + i)), Kind: book.KindUsage, Amount: 100, Usage: u}, 2)
	}
	zero, _ := a.Apply(book.Event{ID: "z", Kind: book.KindUsage, Amount: 0, Usage: u}, 2)
	if a.Free != 0 || a.Balance != -100 || a.KeySpend["key_1"] != 100 || zero.Amount != 0 || zero.FreeDelta != 0 {
		t.Fatalf("after 3 requests and a free-of-charge one: %+v", a)
	}
	_, eff := a.Apply(book.Event{ID: "c", Kind: book.KindCredit, Amount: 2 * money.Dollar}, 2)
	if eff.CrossedLow || a.Balance != 2*money.Dollar-100 {
		t.Fatalf("after credit: %+v", a)
	}
	_, eff = a.Apply(book.Event{ID: "big", Kind: book.KindUsage, Amount: money.Dollar, Usage: u}, 2)
	if !eff.CrossedLow {
		t.Fatal("crossing below the threshold was not reported")
	}
	if a.Seq != 8 {
		t.Fatalf("seq %d after 8 entries", a.Seq)
	}
}
