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
	"slices"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/onekey-oss/onekey/api/readmodel"
)

// BenchmarkDashboardPages renders each page for an account with 90 days of
// usage: 10,000 requests (usage rows, journal entries, rollups and the
// read models, written as the ledger writes them), 20 keys in 2 projects,
// 30 payments. It reports the server time per page (ns/op, in process,
// from the request to the last byte) and the bytes a browser receives
// gzipped: gz-B for the page, and once for the static files (logged);
// cpu-ms/op is the CPU the process spent per view, which depends far less
// than the wall time on what else the machine runs.
// "warm" views repeat a view; "cold" ones follow a change by the ledger
// (a request of today: the account and today's usage_days document get a
// new seq); "first" ones are the first view of a freshly started auth.
// The figures are in the README.
func BenchmarkDashboardPages(b *testing.B) {
	h := newHarness(b)
	c, m := h.signIn("bench@example.com")
	seed := newUsageSeed(b, h, c, m, 20, 10_000, 30)
	seed.writeLedger(b, h)
	seed.writeReadModels(b, h)
	b.Logf("seeded %d usage rows, %d rollups, %d usage days, %d journal entries", len(seed.usage), len(seed.rollups), len(seed.days), len(seed.journal))
	get := func(handler http.Handler, path string) (*httptest.ResponseRecorder, int) {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Accept-Encoding", "gzip")
		for k, v := range c.Cookies {
			req.AddCookie(&http.Cookie{Name: k, Value: v})
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		return rec, rec.Body.Len()
	}
	// cpu measures the process's CPU time (this package's code and the
	// embedded FerretDB's, all in this process) spent in the timed views:
	// unlike the wall time it hardly depends on what else the machine runs.
	var cpuSpent time.Duration
	timed := func(handler http.Handler, path string) *httptest.ResponseRecorder {
		t0 := cpuTime(b)
		rec, _ := get(handler, path)
		cpuSpent += cpuTime(b) - t0
		return rec
	}
	cpuPerOp := func(b *testing.B) {
		b.ReportMetric(float64(cpuSpent.Microseconds())/1000/float64(b.N), "cpu-ms/op")
		cpuSpent = 0
	}
	handler := h.svc.Handler()
	home, _ := get(handler, "/")
	if home.Code != http.StatusOK {
		b.Fatalf("GET /: %d", home.Code)
	}
	html := gunzip(b, home.Body.Bytes())
	for _, asset := range []string{"css", "js"} {
		u := regexp.MustCompile(`/static/[0-9a-f]+/app\.` + asset).Find(html)
		if u == nil {
			b.Fatalf("no app.%s link", asset)
		}
		_, n := get(handler, string(u))
		b.Logf("app.%s: %d bytes gzipped", asset, n)
	}
	usage90 := "/usage?from=" + readmodel.Day(h.clock.Now().AddDate(0, 0, -89)) + "&to=" + readmodel.Day(h.clock.Now())
	for _, path := range []string{"/", "/keys", usage90, "/billing", "/settings", "/usage.csv"} {
		get(handler, path)
		b.Run("warm"+path, func(b *testing.B) {
			var n int
			for b.Loop() {
				rec := timed(handler, path)
				if rec.Code != http.StatusOK {
					b.Fatalf("GET %s: %d", path, rec.Code)
				}
				n = rec.Body.Len()
			}
			b.ReportMetric(float64(n), "gz-B")
			cpuPerOp(b)
		})
	}
	for _, path := range []string{"/", "/keys", usage90, "/billing"} {
		b.Run("cold"+path, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				seed.touchToday(b, h)
				b.StartTimer()
				if rec := timed(handler, path); rec.Code != http.StatusOK {
					b.Fatalf("GET %s: %d", path, rec.Code)
				}
			}
			cpuPerOp(b)
		})
	}
	for _, path := range []string{"/", usage90, "/billing"} {
		b.Run("first"+path, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				fresh := h.restarted()
				b.StartTimer()
				if rec := timed(fresh, path); rec.Code != http.StatusOK {
					b.Fatalf("GET %s: %d", path, rec.Code)
				}
			}
			cpuPerOp(b)
		})
	}
}

// cpuTime is the CPU time (user and system) the process has used.
func cpuTime(t testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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

// usageSeed is what the ledger would have written for an account's
// requests and payments: usage rows, journal entries and rollups (what
// every ledger wrote), and the read models (usage_days, the payments
// document and the account's fields naming them) the ledger keeps now.
type usageSeed struct {
	account readmodel.Account
	usage   []any
	journal []any
	rollups []any
	days    []any
	pays    readmodel.Payments
	dayMap  map[string]int64
}

// newUsageSeed gives the account keys keys (made through the API, in two
// projects) and makes rows requests over the 90 days before now and
// payments credits. Keys and models are picked with a skew (a few do most
// of the work), as in real use.
func newUsageSeed(t testing.TB, h *harness, c *client, m me, keys, rows, payments int) *usageSeed {
	t.Helper()
	var prj2 struct {
		ID string `json:"id"`
	}
	c.Must(http.MethodPost, "/api/projects", map[string]string{"name": "staging"}, http.StatusCreated).JSON(t, &prj2)
	type keyRef struct{ id, project string }
	var ks []keyRef
	for i := range keys {
		p := m.DefaultProjectID
		if i%4 == 3 {
			p = prj2.ID
		}
		var k struct {
			ID string `json:"id"`
		}
		c.Must(http.MethodPost, "/api/projects/"+p+"/keys", map[string]any{"name": fmt.Sprintf("key %d", i), "rpm": 600, "spend_cap_micros": 50_000_000}, http.StatusCreated).JSON(t, &k)
		ks = append(ks, keyRef{k.ID, p})
	}
	models := []string{"gpt-5-mini", "claude-sonnet-4-5", "gpt-5.2", "gemini-2.5-flash", "claude-haiku-4-5", "grok-4", "o4-mini", "gemini-2.5-pro"}
	rng := rand.New(rand.NewPCG(1, 2))
	now := h.clock.Now()
	type req struct {
		t       time.Time
		k       keyRef
		model   string
		in, out int64
	}
	reqs := make([]req, rows)
	for i := range reqs {
		reqs[i] = req{t: now.Add(-time.Duration(rng.Int64N(int64(90*24*time.Hour - time.Hour)))),
			k: ks[min(int(rng.ExpFloat64()*4), len(ks)-1)], model: models[min(int(rng.ExpFloat64()*2), len(models)-1)],
			in: 200 + rng.Int64N(4000), out: 50 + rng.Int64N(1500)}
	}
	// The ledger numbers an account's entries in the order it applies
	// them: the payments first here, then the requests as they came.
	slices.SortFunc(reqs, func(a, b req) int { return a.t.Compare(b.t) })
	s := &usageSeed{dayMap: map[string]int64{}}
	var pays []readmodel.Payment
	for i := range payments {
		seq := int64(payments - i)
		p := readmodel.Payment{ID: fmt.Sprintf("cs_evt_%02d", i), Seq: seq, Time: now.AddDate(0, 0, -3*i).UTC(),
			CreditKind: "purchase", Method: "card", AmountMicros: 20_000_000}
		pays = append(pays, p) // newest first
		s.journal = append(s.journal, readmodel.JournalEntry{ID: p.ID, AccountID: m.AccountID, Seq: seq, Kind: "credit",
			AmountMicros: p.AmountMicros, CreditKind: p.CreditKind, Method: p.Method, Time: p.Time})
	}
	rollups := map[string]*readmodel.Rollup{}
	var rollupOrder []string
	type dayDoc struct {
		seq    int64
		groups []readmodel.DayGroup
		idx    map[string]int
	}
	days := map[string]*dayDoc{}
	spend := map[string]int64{}
	var charged, seq int64 = 0, int64(payments)
	for i, r := range reqs {
		seq++
		cost := r.in*3/10 + r.out*15/10
		free := i < 20
		ch := cost
		if free {
			ch = 0
		}
		id := fmt.Sprintf("req_%05d", i)
		d := readmodel.Day(r.t)
		s.usage = append(s.usage, map[string]any{"_id": id, "account_id": m.AccountID, "project_id": r.k.project, "key_id": r.k.id, "model": r.model, "provider": "openai",
			"time": r.t, "input_tokens": r.in, "output_tokens": r.out, "cost_micros": cost, "charged_micros": ch, "latency_ms": 900, "ttfb_ms": 300, "status": 200, "expires_at": r.t.Add(90 * 24 * time.Hour)})
		s.journal = append(s.journal, readmodel.JournalEntry{ID: id, AccountID: m.AccountID, Seq: seq, Kind: "usage", AmountMicros: -ch, Time: r.t})
		g := readmodel.DayGroup{Model: r.model, KeyID: r.k.id, ProjectID: r.k.project, Requests: 1, InputTokens: r.in, OutputTokens: r.out, CostMicros: cost, ChargedMicros: ch}
		if free {
			g.FreeRequests = 1
		}
		rid := readmodel.RollupID(m.AccountID, d, r.model, r.k.id)
		ro := rollups[rid]
		if ro == nil {
			ro = &readmodel.Rollup{ID: rid, AccountID: m.AccountID, Day: d, Model: r.model, KeyID: r.k.id, ProjectID: r.k.project}
			rollups[rid] = ro
			rollupOrder = append(rollupOrder, rid)
		}
		gr := g.Rollup(m.AccountID, d)
		ro.Requests += gr.Requests
		ro.InputTokens += gr.InputTokens
		ro.OutputTokens += gr.OutputTokens
		ro.CostMicros += gr.CostMicros
		ro.ChargedMicros += gr.ChargedMicros
		ro.FreeRequests += gr.FreeRequests
		dd := days[d]
		if dd == nil {
			dd = &dayDoc{idx: map[string]int{}}
			days[d] = dd
		}
		if j, ok := dd.idx[rid]; ok {
			dd.groups[j].Add(g)
		} else {
			dd.idx[rid] = len(dd.groups)
			dd.groups = append(dd.groups, g)
		}
		dd.seq = seq
		s.dayMap[d] = seq
		spend[r.k.id] += ch
		charged += ch
	}
	for _, id := range rollupOrder {
		s.rollups = append(s.rollups, *rollups[id])
	}
	for d, dd := range days {
		start, _ := time.Parse(time.DateOnly, d)
		s.days = append(s.days, readmodel.UsageDay{ID: readmodel.UsageDayID(m.AccountID, d), AccountID: m.AccountID, Day: d, Seq: dd.seq,
			Groups: readmodel.EncodeDayGroups(dd.groups), ExpiresAt: start.AddDate(0, 0, readmodel.UsageDaysKept)})
	}
	if len(pays) > 0 {
		s.pays = readmodel.Payments{ID: m.AccountID, Seq: pays[0].Seq, Entries: readmodel.EncodePayments(pays)}
	}
	s.account = readmodel.Account{ID: m.AccountID, BalanceMicros: int64(payments)*20_000_000 - charged, Seq: seq,
		LowBalanceMicros: 1_000_000, Opened: true, CreatedAt: now.AddDate(0, 0, -90), UpdatedAt: now, KeySpendMicros: spend}
	return s
}

func insertAll(t testing.TB, h *harness, coll string, docs []any) {
	t.Helper()
	for len(docs) > 0 {
		n := min(len(docs), 1000)
		if _, err := h.store.Collection(coll).InsertMany(context.Background(), docs[:n]); err != nil {
			t.Fatal(err)
		}
		docs = docs[n:]
	}
}

// writeLedger writes what every ledger wrote: usage rows, the journal,
// rollups and the account document (without read models).
func (s *usageSeed) writeLedger(t testing.TB, h *harness) {
	t.Helper()
	insertAll(t, h, readmodel.CollUsage, s.usage)
	insertAll(t, h, readmodel.CollJournal, s.journal)
	insertAll(t, h, readmodel.CollRollups, s.rollups)
	if _, err := h.store.Collection(readmodel.CollAccounts).ReplaceOne(context.Background(), bson.D{{Key: "_id", Value: s.account.ID}}, s.account,
		options.Replace().SetUpsert(true)); err != nil {
		t.Fatal(err)
	}
}

// writeReadModels writes the read models as the ledger keeps them and
// names them in the account document.
func (s *usageSeed) writeReadModels(t testing.TB, h *harness) {
	t.Helper()
	insertAll(t, h, readmodel.CollUsageDays, s.days)
	if s.pays.ID != "" {
		insertAll(t, h, readmodel.CollPayments, []any{s.pays})
	}
	a := s.account
	a.ReadModels, a.UsageDays, a.PaymentsSeq = readmodel.ReadModelsVersion, readmodel.FormatUsageDays(s.dayMap), s.pays.Seq
	if _, err := h.store.Collection(readmodel.CollAccounts).ReplaceOne(context.Background(), bson.D{{Key: "_id", Value: a.ID}}, a); err != nil {
		t.Fatal(err)
	}
	s.account = a
}

// touchToday does to the documents what the ledger does when it applies a
// request of today: the day's document and the account get a new seq.
func (s *usageSeed) touchToday(t testing.TB, h *harness) {
	t.Helper()
	ctx := context.Background()
	s.account.Seq++
	today := readmodel.Day(h.clock.Now())
	s.dayMap[today] = s.account.Seq
	if _, err := h.store.Collection(readmodel.CollUsageDays).UpdateOne(ctx, bson.D{{Key: "_id", Value: readmodel.UsageDayID(s.account.ID, today)}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "seq", Value: s.account.Seq}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.Collection(readmodel.CollAccounts).UpdateOne(ctx, bson.D{{Key: "_id", Value: s.account.ID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "seq", Value: s.account.Seq}, {Key: "usage_days", Value: readmodel.FormatUsageDays(s.dayMap)}}}}); err != nil {
		t.Fatal(err)
	}
}
