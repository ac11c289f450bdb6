package events_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
)

func TestEvents_RoundTripThroughJSONUnchanged(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 13, 0, 0, 123456789, time.UTC)
	exp := now.Add(time.Hour)
	cases := []any{
		events.UsageRecordedV1{V: 1, ID: "req_1", Time: now, AccountID: "acc_1", ProjectID: "prj_1", KeyID: "key_1", Model: "gpt-5.2", Provider: "openai", Channel: "openai-0", InputTokens: 10, CachedInputTokens: 5, CacheWriteTokens: 2, OutputTokens: 7, ReasoningTokens: 3, CostMicros: 123, LatencyMS: 40, TTFBMS: 9, Streamed: true, Status: 200, Estimated: true,
			Free: true, Replica: "gw_1", CacheWrite1hTokens: 4, WebSearchRequests: 2, WebFetchRequests: 1, SearchSources: 6, ServiceTier: "priority", LongContext: true},
		events.CreditPurchasedV1{V: 1, ID: "evt_1", Time: now, AccountID: "acc_1", Kind: events.CreditRefund, AmountMicros: -5 * money.Dollar, Source: "stripe", PaymentID: "cs_1"},
		events.CreditAdjustedV1{V: 1, ID: "adj_1", Time: now, AccountID: "acc_1", AmountMicros: money.USD(5), Reason: "demo", Actor: "devstack"},
		events.TxConfirmedV1{V: 1, ID: events.TxID("base", "0xabc", 3), Time: now, AccountID: "acc_1", ClaimID: "clm_1", Chain: "base", TxHash: "0xabc", LogIndex: 3, Token: "USDC", From: "0x1", To: "0x2", AmountMicros: 1_500_000, BlockNumber: 99, BlockHash: "0xdef", ChainID: 8453},
		events.TxRejectedV1{V: 1, ID: "rej_1", Time: now, AccountID: "acc_1", ClaimID: "clm_1", Chain: "ethereum", TxHash: "0xabc", Reason: "reverted"},
		events.AccountCreatedV1{V: 1, ID: "account.created:acc_1", Time: now, AccountID: "acc_1", NoFreeRequests: true},
		events.AccountDeletedV1{V: 1, ID: "account.deleted:acc_1", Time: now, AccountID: "acc_1"},
		events.AccountSettingsV1{V: 1, ID: "settings_1", Time: now, AccountID: "acc_1", LowBalanceMicros: 2 * money.Dollar},
		events.CreditAppliedV1{V: 1, ID: "applied:evt_1", Time: now, AccountID: "acc_1", SourceEventID: "evt_1", Method: "card", Kind: events.CreditPurchase, AmountMicros: 10, BalanceMicros: 20},
		events.BalanceLowV1{V: 1, ID: "low_1", Time: now, AccountID: "acc_1", BalanceMicros: 1, ThresholdMicros: 2},
		events.PaymentFailedV1{V: 1, ID: "evt_2", Time: now, AccountID: "acc_1", PaymentID: "cs_2", AmountMicros: 3, Reason: "declined"},
		events.NoticeRequestedV1{V: 1, ID: events.NoticeEventID("ntc_1", "acc_1"), Time: now, NoticeID: "ntc_1", AccountID: "acc_1"},
		events.MailRequestedV1{V: 1, ID: "mail_1", Time: now, To: "a@example.com", Template: events.MailMagicLink, Data: map[string]string{"expires_in": "15 minutes"},
			Sealed: &events.SealedV1{V: 1, KeyID: "0123456789ab", Nonce: []byte("nonce"), Ciphertext: []byte("ct")}},
		events.DeadLetterV1{V: 1, ID: "dl_1", Time: now, Consumer: "ledger-usage", Subject: "usage.recorded.acc_1", MsgID: "req_1", Attempts: 5, Reason: "bad", Payload: []byte(`{"v":1}`)},
		events.APIKeyV1{V: 1, KeyID: "key_1", ProjectID: "prj_1", AccountID: "acc_1", Status: events.KeyActive, RPM: 60, SpendCapMicros: 7, ExpiresAt: &exp, UpdatedAt: now},
		events.BalanceV1{V: 1, AccountID: "acc_1", BalanceMicros: -3, FreeRequestsLeft: 20, KeySpendMicros: map[string]money.Micros{"key_1": 9}, Seq: 4, UpdatedAt: now,
			LeasedMicros: 7, LeasedFree: 2, Leases: map[string]events.Lease{"gw_1": {GrantedMicros: 10, UsedMicros: 3, GrantedFree: 4, UsedFree: 2}}},
	}
	for _, in := range cases {
		typ := reflect.TypeOf(in)
		t.Run(typ.Name(), func(t *testing.T) {
			t.Parallel()
			b, err := json.Marshal(in)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), `"v":1`) {
				t.Errorf("%s has no version field on the wire: %s", typ.Name(), b)
			}
			out := reflect.New(typ)
			if err := json.Unmarshal(b, out.Interface()); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(in, out.Elem().Interface()) {
				t.Errorf("round trip changed the value:\n in: %#v\nout: %#v", in, out.Elem().Interface())
			}
			// Every field must be set in the fixture, so a field that
			// silently fails to round-trip cannot hide behind its zero value.
			v := reflect.ValueOf(in)
			for i := range v.NumField() {
				if v.Field(i).IsZero() && typ.Field(i).Name != "AccountID" {
					t.Errorf("fixture leaves %s.%s zero", typ.Name(), typ.Field(i).Name)
				}
			}
		})
	}
}

func TestEvents_EverySubjectIsCapturedByExactlyOneStream(t *testing.T) {
	t.Parallel()
	evs := []events.Event{
		events.UsageRecordedV1{AccountID: "a"}, events.CreditPurchasedV1{AccountID: "a"},
		events.CreditAdjustedV1{AccountID: "a"}, events.TxConfirmedV1{AccountID: "a"},
		events.TxRejectedV1{AccountID: "a"}, events.AccountCreatedV1{AccountID: "a"},
		events.AccountDeletedV1{AccountID: "a"}, events.CreditAppliedV1{AccountID: "a"},
		events.BalanceLowV1{AccountID: "a"}, events.PaymentFailedV1{AccountID: "a"},
		events.MailRequestedV1{}, events.NoticeRequestedV1{AccountID: "a"}, events.DeadLetterV1{Subject: "usage.recorded.a"},
	}
	for _, ev := range evs {
		subj, err := ev.EventSubject()
		if err != nil {
			t.Fatalf("%T: %v", ev, err)
		}
		n := 0
		for _, s := range events.Streams() {
			for _, f := range events.StreamSubjects(s) {
				if strings.HasPrefix(subj, strings.TrimSuffix(f, ">")) {
					n++
				}
			}
		}
		if n != 1 {
			t.Errorf("%s is captured by %d streams, want 1", subj, n)
		}
	}
	for _, c := range events.Consumers() {
		if events.ConsumerStream(c) == "" {
			t.Errorf("consumer %s has no stream", c)
		}
	}
}

func TestEvents_SubjectRefusesAccountIDsThatAreNotOneToken(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "a.b", "a b", "*", ">", "a\n"} {
		if _, err := events.Subject(events.FamilyUsageRecorded, bad); err == nil {
			t.Errorf("Subject accepted account %q", bad)
		}
	}
	if s, err := events.Subject(events.FamilyUsageRecorded, "acc_01J"); err != nil || s != "usage.recorded.acc_01J" {
		t.Errorf("got %q, %v", s, err)
	}
	if got := events.AccountOf("usage.recorded.acc_9"); got != "acc_9" {
		t.Errorf("AccountOf = %q", got)
	}
	if got := events.TxID("base", "0xab", 12); got != "base:0xab:12" {
		t.Errorf("TxID = %q", got)
	}
	if got := events.ChainTxID(8453, "0xAB", 12); got != "eip155:8453:0xab:12" {
		t.Errorf("ChainTxID = %q", got)
	}
}
