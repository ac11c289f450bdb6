package events_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/api/events"
)

func TestCryptoRequestsAndReplies_RoundTripThroughJSONUnchanged(t *testing.T) {
	t.Parallel()
	exp := time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC)
	cases := []any{
		events.CryptoInfoRequestV1{V: 1},
		events.CryptoInfoReplyV1{V: 1, Chains: []events.CryptoChainV1{{Chain: "base", DepositAddress: "0xab", Tokens: []string{"USDC"}}}, Code: "c", Error: "e"},
		events.WalletNonceRequestV1{V: 1, AccountID: "acc_1", Address: "0xab"},
		events.WalletNonceReplyV1{V: 1, Message: "sign me", Nonce: "n1", ExpiresAt: exp, Code: "c", Error: "e"},
		events.WalletLinkRequestV1{V: 1, AccountID: "acc_1", Address: "0xab", Nonce: "n1", Signature: "0x01"},
		events.WalletLinkReplyV1{V: 1, Address: "0xab", Code: "c", Error: "e"},
		events.CryptoClaimRequestV1{V: 1, AccountID: "acc_1", Chain: "base", TxHash: "0xtx"},
		events.CryptoClaimReplyV1{V: 1, ClaimID: "clm", Status: events.ClaimPending, Reason: "r", Code: "c", Error: "e"},
		events.CryptoStatusRequestV1{V: 1, AccountID: "acc_1"},
		events.CryptoStatusReplyV1{V: 1, Wallets: []string{"0xab"}, Claims: []events.CryptoClaimV1{{ClaimID: "c", Chain: "base", TxHash: "0x1", Status: events.ClaimRejected, Reason: "r", CreatedAt: exp, UpdatedAt: exp}}, Code: "c", Error: "e"},
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
				t.Errorf("no version field: %s", b)
			}
			out := reflect.New(typ)
			if err := json.Unmarshal(b, out.Interface()); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(in, out.Elem().Interface()) {
				t.Errorf("round trip changed the value:\n in: %#v\nout: %#v", in, out.Elem().Interface())
			}
			v := reflect.ValueOf(in)
			for i := range v.NumField() {
				if v.Field(i).IsZero() {
					t.Errorf("fixture leaves %s.%s zero", typ.Name(), typ.Field(i).Name)
				}
			}
		})
	}
}
