package auth_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/onekey-oss/onekey/api/readmodel"
)

// The pages and the API show an account's usage and payments alike whether
// they read the ledger's rollups and journal (an account the ledger has
// not yet given read models: an older ledger, or before its start-up
// backfill) or its read models; after the read models are written the
// rollups and credits are deleted, so the second view can only come from
// them. Each view is a freshly started auth's first.
func TestDashboard_PagesShowTheSameFiguresFromTheReadModelsAsFromTheRollups(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c, m := h.signIn("iris@example.com")
	seed := newUsageSeed(t, h, c, m, 6, 600, 5)
	seed.writeLedger(t, h)

	now := h.clock.Now()
	from, to := readmodel.Day(now.AddDate(0, 0, -89)), readmodel.Day(now)
	paths := []string{"/", "/keys", "/usage?from=" + from + "&to=" + to, "/usage", "/billing", "/usage.csv?from=" + from + "&to=" + to, "/api/payments"}
	for _, g := range []string{"day", "model", "key", "project"} {
		paths = append(paths, "/api/usage?from="+from+"&to="+to+"&group_by="+g)
	}
	views := func() map[string]string {
		handler := h.restarted()
		out := map[string]string{}
		for _, p := range paths {
			req := httptest.NewRequest(http.MethodGet, p, nil)
			for k, v := range c.Cookies {
				req.AddCookie(&http.Cookie{Name: k, Value: v})
			}
			rec := httptest.NewRecorder()
			handler.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				t.Fatalf("GET %s: %d %s", p, rec.Code, rec.Body)
			}
			out[p] = rec.Body.String()
		}
		return out
	}
	fromRollups := views()
	var u usageOut
	if err := json.Unmarshal([]byte(fromRollups["/api/usage?from="+from+"&to="+to+"&group_by=day"]), &u); err != nil {
		t.Fatal(err)
	}
	var pays struct {
		Payments []struct {
			ID string `json:"id"`
		} `json:"payments"`
	}
	if err := json.Unmarshal([]byte(fromRollups["/api/payments"]), &pays); err != nil {
		t.Fatal(err)
	}
	var want int64
	for _, r := range seed.rollups {
		if r := r.(readmodel.Rollup); r.Day >= from {
			want += r.Requests
		}
	}
	if u.Total.Requests != want || want < 590 || len(pays.Payments) != 5 {
		t.Fatalf("from the rollups and the journal: %d requests, %d payments; want %d and 5", u.Total.Requests, len(pays.Payments), want)
	}

	seed.writeReadModels(t, h)
	ctx := context.Background()
	if _, err := h.store.Collection(readmodel.CollRollups).DeleteMany(ctx, bson.D{{Key: "account_id", Value: m.AccountID}}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.Collection(readmodel.CollJournal).DeleteMany(ctx, bson.D{{Key: "account_id", Value: m.AccountID}}); err != nil {
		t.Fatal(err)
	}
	fromReadModels := views()
	for _, p := range paths {
		if fromReadModels[p] != fromRollups[p] {
			t.Errorf("GET %s differs:\nfrom the read models:\n%s\nfrom the rollups:\n%s", p, fromReadModels[p], fromRollups[p])
		}
	}
}
