package ledger_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
)

// generation asks the ledger for a request's usage row as a gateway does.
func (h *harness) generation(account, id string) events.GenerationV1 {
	h.t.Helper()
	r := events.GenerationRequestV1{V: 1, ID: id, AccountID: account}
	subj, err := r.EventSubject()
	if err != nil {
		h.t.Fatal(err)
	}
	raw, _ := json.Marshal(r)
	msg, err := h.bus.Conn().Request(subj, raw, 20*time.Second)
	if err != nil {
		h.t.Fatalf("generation lookup %s: %v", id, err)
	}
	var out events.GenerationV1
	if err := json.Unmarshal(msg.Data, &out); err != nil {
		h.t.Fatal(err)
	}
	if out.Error != "" {
		h.t.Fatalf("generation lookup %s: %s", id, out.Error)
	}
	return out
}

func TestLedger_GenerationLookupAnswersOnlyTheAccountsOwnRequests(t *testing.T) {
	h := newHarness(t)
	const acc, other = "acc_gen", "acc_gen_other"
	h.start(testConfig(), nil)
	paid := usage("req_gen_paid", acc, 1234)
	paid.CacheWriteTokens, paid.ReasoningTokens, paid.Streamed = 7, 20, true
	free := usage("req_gen_free", acc, 999)
	// The account is opened and credited before its first request:
	// account.created, the credit and the usage are on three streams, which
	// the ledger may apply in any order (a usage applied before
	// account.created is charged, and the free requests never read 19).
	h.publish(opened(acc), opened(other), credit("cs_gen", acc, money.Dollar))
	h.waitBalance(acc, func(b events.BalanceV1) bool { return b.FreeRequestsLeft == 20 && b.BalanceMicros == money.Dollar })
	h.publish(free)
	h.waitBalance(acc, func(b events.BalanceV1) bool { return b.FreeRequestsLeft == 19 })
	// The account's free requests are used first: drain them so the paid
	// one is charged.
	for i := range 19 {
		h.publish(usage("req_gen_drain"+string(rune('a'+i)), acc, 1))
	}
	h.waitBalance(acc, func(b events.BalanceV1) bool { return b.FreeRequestsLeft == 0 })
	h.publish(paid)
	h.waitBalance(acc, func(b events.BalanceV1) bool { return b.BalanceMicros == money.Dollar-1234 })

	got := h.generation(acc, paid.ID)
	want := events.Generation{Time: t0, ProjectID: paid.ProjectID, KeyID: paid.KeyID, Model: paid.Model, Provider: paid.Provider,
		InputTokens: 100, CachedInputTokens: 10, CacheWriteTokens: 7, OutputTokens: 50, ReasoningTokens: 20,
		CostMicros: 1234, ChargedMicros: 1234, LatencyMS: 120, TTFBMS: 30, Streamed: true, Status: 200}
	if !got.Found || got.ID != paid.ID || got.AccountID != acc || got.Generation == nil || *got.Generation != want {
		t.Fatalf("paid request:\n got %+v %+v\nwant %+v", got, got.Generation, want)
	}
	got = h.generation(acc, free.ID)
	if !got.Found || got.Generation.CostMicros != 999 || got.Generation.ChargedMicros != 0 || !got.Generation.Free {
		t.Fatalf("free request: %+v %+v", got, got.Generation)
	}
	// The same id asked in another account's subject is not found.
	for _, c := range []struct{ name, account, id string }{
		{"another account", other, paid.ID},
		{"an account with no rows", "acc_none", paid.ID},
		{"an unknown id", acc, "req_unknown"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := h.generation(c.account, c.id); got.Found || got.Generation != nil {
				t.Fatalf("found %+v", got.Generation)
			}
		})
	}
}
