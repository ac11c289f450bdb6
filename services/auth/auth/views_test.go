package auth_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/onekey-oss/onekey/api/readmodel"
)

type usageOut struct {
	From    string `json:"from"`
	To      string `json:"to"`
	GroupBy string `json:"group_by"`
	Rows    []struct {
		Group        string `json:"group"`
		Requests     int64  `json:"requests"`
		InputTokens  int64  `json:"input_tokens"`
		OutputTokens int64  `json:"output_tokens"`
		CostMicros   int64  `json:"cost_micros"`
	} `json:"rows"`
	Total struct {
		Requests   int64 `json:"requests"`
		CostMicros int64 `json:"cost_micros"`
	} `json:"total"`
}

func TestViews_BalanceAndUsageComeFromTheLedgerReadModel(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c, m := h.signIn("quinn@example.com")
	_, other := h.signIn("ros@example.com")
	ctx := context.Background()

	var b struct {
		BalanceMicros    int64  `json:"balance_micros"`
		Balance          string `json:"balance"`
		FreeRequestsLeft int64  `json:"free_requests_left"`
		Opened           bool   `json:"opened"`
	}
	c.Must(http.MethodGet, "/api/balance", nil, http.StatusOK).JSON(t, &b)
	if b.Opened || b.BalanceMicros != 0 {
		t.Fatalf("before the ledger opened the account: %+v", b)
	}
	if _, err := h.store.Collection(readmodel.CollAccounts).InsertOne(ctx, readmodel.Account{ID: m.AccountID, BalanceMicros: 12_345_678, FreeRequestsLeft: 17, Opened: true, CreatedAt: h.clock.Now(), UpdatedAt: h.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	c.Must(http.MethodGet, "/api/balance", nil, http.StatusOK).JSON(t, &b)
	if b.BalanceMicros != 12_345_678 || b.Balance != "$12.34" || b.FreeRequestsLeft != 17 || !b.Opened {
		t.Fatalf("balance = %+v", b)
	}

	var k keyOut
	c.Must(http.MethodPost, "/api/projects/"+m.DefaultProjectID+"/keys", map[string]any{"name": "k"}, http.StatusCreated).JSON(t, &k)
	roll := func(acc, prj, day, model, key string, req, in, out, cost int64) any {
		return readmodel.Rollup{ID: readmodel.RollupID(acc, day, model, key), AccountID: acc, ProjectID: prj, Day: day, Model: model, KeyID: key, Requests: req, InputTokens: in, OutputTokens: out, CostMicros: cost}
	}
	docs := []any{
		roll(m.AccountID, m.DefaultProjectID, "2026-11-20", "gpt-5.2", k.ID, 2, 100, 50, 300),
		roll(m.AccountID, m.DefaultProjectID, "2026-11-20", "claude-sonnet-4-5", k.ID, 1, 10, 5, 70),
		roll(m.AccountID, m.DefaultProjectID, "2026-11-24", "gpt-5.2", k.ID, 4, 400, 200, 1200),
		roll(m.AccountID, "prj_gone", "2026-11-24", "gpt-5.2", "key_old", 1, 1, 1, 9),
		roll(m.AccountID, m.DefaultProjectID, "2026-09-01", "gpt-5.2", k.ID, 100, 1, 1, 99999), // outside the range
		roll(other.AccountID, other.DefaultProjectID, "2026-11-24", "gpt-5.2", "key_x", 50, 5, 5, 5000),
	}
	if _, err := h.store.Collection(readmodel.CollRollups).InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}

	var u usageOut
	c.Must(http.MethodGet, "/api/usage?from=2026-11-01&to=2026-11-25&group_by=day", nil, http.StatusOK).JSON(t, &u)
	if len(u.Rows) != 2 || u.Rows[0].Group != "2026-11-20" || u.Rows[0].Requests != 3 || u.Rows[0].CostMicros != 370 ||
		u.Rows[1].Group != "2026-11-24" || u.Rows[1].Requests != 5 || u.Rows[1].CostMicros != 1209 || u.Total.Requests != 8 || u.Total.CostMicros != 1579 {
		t.Fatalf("by day: %+v", u)
	}
	c.Must(http.MethodGet, "/api/usage?from=2026-11-01&to=2026-11-25&group_by=model", nil, http.StatusOK).JSON(t, &u)
	if len(u.Rows) != 2 || u.Rows[0].Group != "claude-sonnet-4-5" || u.Rows[0].Requests != 1 || u.Rows[1].Group != "gpt-5.2" || u.Rows[1].Requests != 7 || u.Rows[1].InputTokens != 501 {
		t.Fatalf("by model: %+v", u)
	}
	c.Must(http.MethodGet, "/api/usage?from=2026-11-01&to=2026-11-25&group_by=key&project_id="+m.DefaultProjectID, nil, http.StatusOK).JSON(t, &u)
	if len(u.Rows) != 1 || u.Rows[0].Group != k.ID || u.Rows[0].Requests != 7 || u.Rows[0].OutputTokens != 255 {
		t.Fatalf("by key in the project: %+v", u)
	}
	// Default range: the last 30 days up to today (the test clock's 2026-11-25).
	c.Must(http.MethodGet, "/api/usage", nil, http.StatusOK).JSON(t, &u)
	if u.From != "2026-10-27" || u.To != "2026-11-25" || u.Total.Requests != 8 {
		t.Fatalf("default range: %+v", u)
	}
	for _, bad := range []string{"?group_by=week", "?from=yesterday", "?from=2026-11-25&to=2026-11-01", "?from=2020-01-01&to=2026-01-01"} {
		c.Must(http.MethodGet, "/api/usage"+bad, nil, http.StatusBadRequest)
	}

	var list struct {
		Keys []keyOut `json:"keys"`
	}
	c.Must(http.MethodGet, "/api/projects/"+m.DefaultProjectID+"/keys", nil, http.StatusOK).JSON(t, &list)
	if len(list.Keys) != 1 || list.Keys[0].LastUsed != "2026-11-24" {
		t.Fatalf("last used: %+v", list.Keys)
	}
}
