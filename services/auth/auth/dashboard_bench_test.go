package auth_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/onekey-oss/onekey/api/readmodel"
)

// BenchmarkDashboardPages renders each page for an account with 90 days of
// usage: 10,000 usage rows (in "usage", "journal" and folded into the
// ledger's rollups as the ledger does), 20 keys in 2 projects, 30
// payments. It reports the server time per page (ns/op, in process, from
// the request to the last byte) and the bytes a browser receives gzipped:
// html-gz-B for the page, and once for the static files (css-gz-B, js-gz-B).
// The figures are in the README.
func BenchmarkDashboardPages(b *testing.B) {
	h := newHarness(b)
	c, m := h.signIn("bench@example.com")
	seedNinetyDays(b, h, c, m)
	// The session's account: kept after the requests below are made.
	handler := h.svc.Handler()
	get := func(path string) (*httptest.ResponseRecorder, int) {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Accept-Encoding", "gzip")
		for k, v := range c.cookies {
			req.AddCookie(&http.Cookie{Name: k, Value: v})
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		return rec, rec.Body.Len()
	}
	home, _ := get("/")
	if home.Code != http.StatusOK {
		b.Fatalf("GET /: %d", home.Code)
	}
	html := gunzip(b, home.Body.Bytes())
	for _, asset := range []string{"css", "js"} {
		u := regexp.MustCompile(`/static/[0-9a-f]+/app\.` + asset).Find(html)
		if u == nil {
			b.Fatalf("no app.%s link", asset)
		}
		_, n := get(string(u))
		b.Logf("app.%s: %d bytes gzipped", asset, n)
	}
	for _, path := range []string{"/", "/keys", "/usage?from=" + readmodel.Day(h.clock.Now().AddDate(0, 0, -89)) + "&to=" + readmodel.Day(h.clock.Now()), "/billing", "/settings", "/usage.csv"} {
		get(path) // the first view reads the account's ledger data (see cold below)
		b.Run(path, func(b *testing.B) {
			var n int
			for b.Loop() {
				rec, size := get(path)
				if rec.Code != http.StatusOK {
					b.Fatalf("GET %s: %d", path, rec.Code)
				}
				n = size
			}
			b.ReportMetric(float64(n), "gz-B")
		})
	}
	// Cold: the ledger has applied something since the last view, so the
	// page reads the account's rollups again (a scan on FerretDB).
	ctx := context.Background()
	for _, path := range []string{"/", "/billing"} {
		b.Run("cold"+path, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				if _, err := h.store.Collection(readmodel.CollAccounts).UpdateOne(ctx, bson.D{{Key: "_id", Value: m.AccountID}},
					bson.D{{Key: "$inc", Value: bson.D{{Key: "seq", Value: int64(1)}}}}); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if rec, _ := get(path); rec.Code != http.StatusOK {
					b.Fatalf("GET %s: %d", path, rec.Code)
				}
			}
		})
	}
}

func gunzip(t testing.TB, gz []byte) []byte {
	t.Helper()
	r, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// seedNinetyDays gives the account 20 keys (made through the API) and
// writes what the ledger would have written for 10,000 requests over 90
// days: usage rows, journal entries, rollups and the account document.
// Keys and models are picked with a skew (a few do most of the work), as
// in real use.
func seedNinetyDays(b *testing.B, h *harness, c *client, m me) {
	b.Helper()
	var prj2 struct {
		ID string `json:"id"`
	}
	c.must(http.MethodPost, "/api/projects", map[string]string{"name": "staging"}, http.StatusCreated).json(b, &prj2)
	type keyRef struct{ id, project string }
	var keys []keyRef
	for i := range 20 {
		p := m.DefaultProjectID
		if i%4 == 3 {
			p = prj2.ID
		}
		var k struct {
			ID string `json:"id"`
		}
		c.must(http.MethodPost, "/api/projects/"+p+"/keys", map[string]any{"name": fmt.Sprintf("key %d", i), "rpm": 600, "spend_cap_micros": 50_000_000}, http.StatusCreated).json(b, &k)
		keys = append(keys, keyRef{k.ID, p})
	}
	models := []string{"gpt-5-mini", "claude-sonnet-4-5", "gpt-5.2", "gemini-2.5-flash", "claude-haiku-4-5", "grok-4", "o4-mini", "gemini-2.5-pro"}
	rng := rand.New(rand.NewPCG(1, 2))
	now := h.clock.Now()
	rollups := map[string]*readmodel.Rollup{}
	var usage, journal []any
	spend := map[string]int64{}
	var charged int64
	const rows = 10_000
	for i := range rows {
		k := keys[min(int(rng.ExpFloat64()*4), len(keys)-1)]
		model := models[min(int(rng.ExpFloat64()*2), len(models)-1)]
		t := now.Add(-time.Duration(rng.Int64N(int64(90*24*time.Hour - time.Hour))))
		in, out := 200+rng.Int64N(4000), 50+rng.Int64N(1500)
		cost := in*3/10 + out*15/10
		free := i < 20
		ch := cost
		if free {
			ch = 0
		}
		id := fmt.Sprintf("req_%05d", i)
		usage = append(usage, map[string]any{"_id": id, "account_id": m.AccountID, "project_id": k.project, "key_id": k.id, "model": model, "provider": "openai",
			"time": t, "input_tokens": in, "output_tokens": out, "cost_micros": cost, "charged_micros": ch, "latency_ms": 900, "ttfb_ms": 300, "status": 200, "expires_at": t.Add(90 * 24 * time.Hour)})
		journal = append(journal, readmodel.JournalEntry{ID: id, AccountID: m.AccountID, Seq: int64(i + 100), Kind: "usage", AmountMicros: -ch, Time: t})
		rid := readmodel.RollupID(m.AccountID, readmodel.Day(t), model, k.id)
		r := rollups[rid]
		if r == nil {
			r = &readmodel.Rollup{ID: rid, AccountID: m.AccountID, Day: readmodel.Day(t), Model: model, KeyID: k.id, ProjectID: k.project}
			rollups[rid] = r
		}
		r.Requests++
		r.InputTokens += in
		r.OutputTokens += out
		r.CostMicros += cost
		r.ChargedMicros += ch
		if free {
			r.FreeRequests++
		}
		spend[k.id] += ch
		charged += ch
	}
	for i := range 30 {
		journal = append(journal, readmodel.JournalEntry{ID: fmt.Sprintf("cs_evt_%02d", i), AccountID: m.AccountID, Seq: int64(i + 1), Kind: "credit",
			AmountMicros: 20_000_000, CreditKind: "purchase", Method: "card", Time: now.AddDate(0, 0, -3*i)})
	}
	var rs []any
	for _, r := range rollups {
		rs = append(rs, *r)
	}
	ctx := context.Background()
	for coll, docs := range map[string][]any{readmodel.CollUsage: usage, readmodel.CollJournal: journal, readmodel.CollRollups: rs} {
		for len(docs) > 0 {
			n := min(len(docs), 1000)
			if _, err := h.store.Collection(coll).InsertMany(ctx, docs[:n]); err != nil {
				b.Fatal(err)
			}
			docs = docs[n:]
		}
	}
	if _, err := h.store.Collection(readmodel.CollAccounts).InsertOne(ctx, readmodel.Account{ID: m.AccountID, BalanceMicros: 600_000_000 - charged,
		LowBalanceMicros: 1_000_000, Opened: true, CreatedAt: now.AddDate(0, 0, -90), UpdatedAt: now, KeySpendMicros: spend}); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d usage rows, %d rollups, %d journal entries, %d keys", rows, len(rs), len(journal), len(keys))
}
