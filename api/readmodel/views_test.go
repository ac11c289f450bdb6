package readmodel_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/api/readmodel"
)

func TestReadModel_PackedRowsReadBackAsWritten(t *testing.T) {
	t.Parallel()
	gs := []readmodel.DayGroup{
		{Model: "gpt-5.2", KeyID: "key_1", ProjectID: "prj_1", Requests: 3, Errors: 1, FreeRequests: 1, InputTokens: 1 << 40,
			CachedInputTokens: 7, OutputTokens: 9, CostMicros: 123_456_789, ChargedMicros: -1},
		{Model: "odd\tmodel\nname\\x", KeyID: "", ProjectID: "p"},
	}
	got, err := readmodel.DecodeDayGroups(readmodel.EncodeDayGroups(gs))
	if err != nil || !reflect.DeepEqual(got, gs) {
		t.Fatalf("day groups read back as %+v (%v), want %+v", got, err, gs)
	}
	ps := []readmodel.Payment{
		{ID: "cs_evt_2", Seq: 9, Time: time.Date(2026, 11, 30, 10, 0, 0, 123000, time.UTC), CreditKind: "refund", Method: "card", AmountMicros: -5_000_000},
		{ID: "chain:0xabc", Seq: 3, Time: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), CreditKind: "purchase", Method: "crypto", AmountMicros: 10_000_000},
	}
	gotP, err := readmodel.DecodePayments(readmodel.EncodePayments(ps))
	if err != nil || !reflect.DeepEqual(gotP, ps) {
		t.Fatalf("payments read back as %+v (%v), want %+v", gotP, err, ps)
	}
	days := map[string]int64{"2026-12-01": 12, "2026-11-30": 3}
	s := readmodel.FormatUsageDays(days)
	if s != "2026-12-01=12,2026-11-30=3" {
		t.Fatalf("usage days formatted %q", s)
	}
	if back, err := readmodel.ParseUsageDays(s); err != nil || !reflect.DeepEqual(back, days) {
		t.Fatalf("usage days parsed as %v (%v)", back, err)
	}
	if plain, err := readmodel.DecodeDayGroups([]byte("m\tk\tp\t2\n")); err != nil || len(plain) != 1 || plain[0].Requests != 2 {
		t.Fatalf("plain lines read as %+v (%v)", plain, err)
	}
	if _, err := readmodel.DecodeDayGroups([]byte("m\tk\tp\tnot-a-number\n")); err == nil {
		t.Fatal("a bad number decoded without an error")
	}
}
