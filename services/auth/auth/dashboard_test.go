package auth_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/api/readmodel"
)

var dashboardPages = []string{"/", "/keys", "/usage", "/billing", "/settings"}

func TestDashboard_SignedOutVisitorsLandOnTheSignInPage(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	for _, p := range append(dashboardPages, "/usage.csv") {
		r := c.Must(http.MethodGet, p, nil, http.StatusSeeOther)
		if loc := r.Header.Get("Location"); loc != "/sign-in" {
			t.Errorf("GET %s: Location %q, want /sign-in", p, loc)
		}
	}
	c.Cookies["__Host-onekey_session"] = "not-a-session"
	if loc := c.Must(http.MethodGet, "/", nil, http.StatusSeeOther).Header.Get("Location"); loc != "/sign-in" {
		t.Errorf("unknown session: Location %q", loc)
	}
	body := string(c.Must(http.MethodGet, "/sign-in", nil, http.StatusOK).Body)
	for _, want := range []string{`data-testid="signin-email"`, `data-testid="signin-submit"`, `data-testid="check-mail"`, `href="/privacy"`} {
		if !strings.Contains(body, want) {
			t.Errorf("sign-in page lacks %s", want)
		}
	}
	if strings.Contains(body, "signin-google") {
		t.Error("Google button shown though Google is not configured")
	}
}

// inlineCode finds what a CSP without 'unsafe-inline' would block: script
// elements without src, style elements and attributes, event handlers.
var inlineCode = regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>\s*[^<\s]|<script>|<style|\sstyle=|\son[a-z]+=|javascript:`)

func TestDashboard_EveryPageHasAStrictCSPAndNoInlineScriptOrStyle(t *testing.T) {
	h := newHarness(t)
	c, _ := h.signIn("csp@example.com")
	pages := append(append([]string{}, dashboardPages...), "/privacy", "/under-the-hood", "/sign-in", "/api/auth/magic-link/verify?token=x")
	for _, p := range pages {
		r := c.Do(http.MethodGet, p, nil)
		if p == "/sign-in" {
			if r.Status != http.StatusSeeOther {
				t.Errorf("signed-in GET /sign-in: %d, want 303 to /", r.Status)
			}
			continue
		}
		if r.Status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", p, r.Status, r.Body)
		}
		csp := r.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", p, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe") || strings.Contains(csp, "http") || strings.Contains(csp, "*") {
			t.Errorf("%s: CSP %q allows inline code or another origin", p, csp)
		}
		if r.Header.Get("X-Frame-Options") != "DENY" || r.Header.Get("Referrer-Policy") != "same-origin" {
			t.Errorf("%s: framing/referrer headers %v", p, r.Header)
		}
		if m := inlineCode.FindString(string(r.Body)); m != "" {
			t.Errorf("%s: inline code %q", p, m)
		}
		if strings.Contains(string(r.Body), "http://") && p != "/" && p != "/under-the-hood" {
			t.Errorf("%s: links to a plain-http origin", p)
		}
	}
}

// seedDashboard writes what the ledger would have written for an account:
// its document and usage rollups (two models, two keys, one free request).
func seedDashboard(t *testing.T, h *harness, acc, prj, key string, today time.Time) {
	t.Helper()
	ctx := context.Background()
	now := today
	if _, err := h.store.Collection(readmodel.CollAccounts).InsertOne(ctx, readmodel.Account{
		ID: acc, BalanceMicros: 5_000_000, FreeRequestsLeft: 19, LowBalanceMicros: 6_000_000, Opened: true, CreatedAt: now, UpdatedAt: now,
		KeySpendMicros: map[string]int64{key: 1_234_567},
	}); err != nil {
		t.Fatal(err)
	}
	d0, d1 := readmodel.Day(today), readmodel.Day(today.AddDate(0, 0, -1))
	rs := []any{
		readmodel.Rollup{ID: readmodel.RollupID(acc, d0, "gpt-5.2", key), AccountID: acc, ProjectID: prj, Day: d0, Model: "gpt-5.2", KeyID: key,
			Requests: 3, InputTokens: 300, OutputTokens: 150, CostMicros: 4_500, ChargedMicros: 3_000, FreeRequests: 1},
		readmodel.Rollup{ID: readmodel.RollupID(acc, d1, "claude-sonnet-4-5", key), AccountID: acc, ProjectID: prj, Day: d1, Model: "claude-sonnet-4-5", KeyID: key,
			Requests: 2, InputTokens: 1000, OutputTokens: 500, CostMicros: 1_000_001, ChargedMicros: 1_000_001},
	}
	if _, err := h.store.Collection(readmodel.CollRollups).InsertMany(ctx, rs); err != nil {
		t.Fatal(err)
	}
}

func testID(body, id string) string {
	m := regexp.MustCompile(`data-testid="` + regexp.QuoteMeta(id) + `"[^>]*>([^<]*)<`).FindStringSubmatch(body)
	if m == nil {
		return "<missing>"
	}
	return m[1]
}

func TestDashboard_OverviewShowsTheLedgersBalanceAndWhatWasCharged(t *testing.T) {
	h := newHarness(t)
	c, m := h.signIn("overview@example.com")
	seedDashboard(t, h, m.AccountID, m.DefaultProjectID, "key_x", h.clock.Now())
	body := string(c.Must(http.MethodGet, "/", nil, http.StatusOK).Body)
	checks := map[string]string{
		"balance": "$5.00", "free-requests": "19",
		"spend-today": "$0.003", // charged, not the $0.0045 list price: one of the 3 requests was free
		"spend-month": "$1.003001",
		"base-url":    "http://127.0.0.1:8080/v1",
	}
	for id, want := range checks {
		if got := testID(body, id); got != want {
			t.Errorf("%s = %q, want %q", id, got, want)
		}
	}
	// The page also carries every banner in a <template> for app.js; the
	// one shown is in the live slot before it.
	i, j := strings.Index(body, "data-live-banner"), strings.Index(body, "<template data-banners>")
	if i < 0 || j < i || !strings.Contains(body[i:j], `data-testid="low-balance-banner"`) {
		t.Error("no low-balance banner at $5.00 under a $6.00 threshold")
	}
	if !strings.Contains(body, "3 requests, 1 free") {
		t.Error("today's free request is not counted as free")
	}
	if i, j := strings.Index(body, "claude-sonnet-4-5"), strings.Index(body, "gpt-5.2"); i < 0 || j < 0 || i > j {
		t.Error("top models are not ordered by spend")
	}
}

func TestDashboard_KeysPageListsTheKeysMadeThroughTheAPI(t *testing.T) {
	h := newHarness(t)
	c, m := h.signIn("keys-page@example.com")
	var k struct {
		ID     string `json:"id"`
		Prefix string `json:"prefix"`
		Key    string `json:"key"`
	}
	c.Must(http.MethodPost, "/api/projects/"+m.DefaultProjectID+"/keys", map[string]any{"name": "prod", "rpm": 60, "spend_cap_micros": 25_000_000}, http.StatusCreated).JSON(t, &k)
	body := string(c.Must(http.MethodGet, "/keys", nil, http.StatusOK).Body)
	for _, want := range []string{`data-key-id="` + k.ID + `"`, k.Prefix + "…", "$25.00", `data-testid="key-shown-once"`, `data-testid="copy-key"`, "you will not see it again"} {
		if !strings.Contains(body, want) {
			t.Errorf("keys page lacks %q", want)
		}
	}
	if strings.Contains(body, k.Key) {
		t.Fatal("the keys page shows a full key after its creation")
	}
}

func TestDashboard_UsageCSVHoldsExactlyTheRangeShown(t *testing.T) {
	h := newHarness(t)
	c, m := h.signIn("usage-page@example.com")
	today := h.clock.Now()
	seedDashboard(t, h, m.AccountID, m.DefaultProjectID, "key_x", today)
	d0 := readmodel.Day(today)
	page := string(c.Must(http.MethodGet, "/usage?from="+d0+"&to="+d0, nil, http.StatusOK).Body)
	if n := strings.Count(page, `data-testid="usage-day-row"`); n != 1 {
		t.Errorf("one-day range shows %d day rows", n)
	}
	if got := testID(page, "usage-total-charged"); got != "$0.003" {
		t.Errorf("charged = %q", got)
	}
	r := c.Must(http.MethodGet, "/usage.csv?from="+d0+"&to="+d0, nil, http.StatusOK)
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv") || !strings.Contains(r.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("CSV headers %v", r.Header)
	}
	rows, err := csv.NewReader(strings.NewReader(string(r.Body))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"breakdown", "id", "name", "requests", "free_requests", "errors", "input_tokens", "cached_input_tokens", "output_tokens", "cost_usd", "charged_usd"},
		{"day", d0, "", "3", "1", "0", "300", "0", "150", "0.004500", "0.003000"},
		{"model", "gpt-5.2", "", "3", "1", "0", "300", "0", "150", "0.004500", "0.003000"},
		{"project", m.DefaultProjectID, "Default project", "3", "1", "0", "300", "0", "150", "0.004500", "0.003000"},
		{"key", "key_x", "key_x (deleted)", "3", "1", "0", "300", "0", "150", "0.004500", "0.003000"},
	}
	if len(rows) != len(want) {
		t.Fatalf("CSV = %q", rows)
	}
	for i := range want {
		if strings.Join(rows[i], ",") != strings.Join(want[i], ",") {
			t.Errorf("CSV row %d = %q, want %q", i, rows[i], want[i])
		}
	}
	// 120 days asked: 90 shown.
	page = string(c.Must(http.MethodGet, "/usage?from="+readmodel.Day(today.AddDate(0, 0, -119))+"&to="+d0, nil, http.StatusOK).Body)
	if n := strings.Count(page, `data-testid="usage-day-row"`); n != 90 {
		t.Errorf("a 120-day range shows %d day rows, want 90", n)
	}
}

func TestAPI_UsageGroupsByProject(t *testing.T) {
	h := newHarness(t)
	c, m := h.signIn("by-project@example.com")
	seedDashboard(t, h, m.AccountID, m.DefaultProjectID, "key_x", h.clock.Now())
	var u struct {
		Rows []struct {
			Group      string       `json:"group"`
			Requests   int64        `json:"requests"`
			CostMicros money.Micros `json:"cost_micros"`
		} `json:"rows"`
	}
	c.Must(http.MethodGet, "/api/usage?group_by=project", nil, http.StatusOK).JSON(t, &u)
	if len(u.Rows) != 1 || u.Rows[0].Group != m.DefaultProjectID || u.Rows[0].Requests != 5 {
		t.Fatalf("by project = %+v", u.Rows)
	}
}

func TestAPI_SignOutEverywhereEndsEverySessionOfTheAccount(t *testing.T) {
	h := newHarness(t)
	a, _ := h.signIn("everywhere@example.com")
	b, _ := h.signIn("everywhere@example.com")
	other, _ := h.signIn("someone-else@example.com")
	a.Must(http.MethodPost, "/api/auth/sign-out-everywhere", nil, http.StatusOK)
	a.Must(http.MethodGet, "/api/me", nil, http.StatusUnauthorized)
	b.Must(http.MethodGet, "/api/me", nil, http.StatusUnauthorized)
	other.Must(http.MethodGet, "/api/me", nil, http.StatusOK)
	// Without the CSRF token it is refused.
	c, _ := h.signIn("everywhere2@example.com")
	c.CSRF = ""
	c.Must(http.MethodPost, "/api/auth/sign-out-everywhere", nil, http.StatusForbidden)
	c.Must(http.MethodGet, "/api/me", nil, http.StatusOK)
}

func TestAPI_PaymentHistoryListsTheAccountsCreditsNewestFirst(t *testing.T) {
	h := newHarness(t)
	c, m := h.signIn("payments@example.com")
	other, om := h.signIn("payments-other@example.com")
	now := h.clock.Now()
	docs := []any{
		readmodel.JournalEntry{ID: "cs_evt_1", AccountID: m.AccountID, Seq: 1, Kind: "credit", AmountMicros: 20_000_000, CreditKind: "purchase", Method: "card", Time: now},
		readmodel.JournalEntry{ID: "req_1", AccountID: m.AccountID, Seq: 2, Kind: "usage", AmountMicros: -500, Time: now},
		readmodel.JournalEntry{ID: "base:0xabc:3", AccountID: m.AccountID, Seq: 3, Kind: "credit", AmountMicros: 7_500_000, CreditKind: "purchase", Method: "crypto", Time: now},
		readmodel.JournalEntry{ID: "cs_evt_2", AccountID: m.AccountID, Seq: 4, Kind: "credit", AmountMicros: -5_000_000, CreditKind: "refund", Method: "card", Time: now},
		readmodel.JournalEntry{ID: "cs_evt_9", AccountID: om.AccountID, Seq: 1, Kind: "credit", AmountMicros: 1_000_000, CreditKind: "purchase", Method: "card", Time: now},
	}
	if _, err := h.store.Collection(readmodel.CollJournal).InsertMany(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Payments []struct {
			ID           string `json:"id"`
			Kind         string `json:"kind"`
			Method       string `json:"method"`
			AmountMicros int64  `json:"amount_micros"`
		} `json:"payments"`
	}
	c.Must(http.MethodGet, "/api/payments", nil, http.StatusOK).JSON(t, &got)
	ids := []string{}
	for _, p := range got.Payments {
		ids = append(ids, p.ID+":"+p.Kind+":"+p.Method)
	}
	if strings.Join(ids, ",") != "cs_evt_2:refund:card,base:0xabc:3:purchase:crypto,cs_evt_1:purchase:card" {
		t.Fatalf("payments = %v", ids)
	}
	page := string(c.Must(http.MethodGet, "/billing", nil, http.StatusOK).Body)
	if n := strings.Count(page, `data-testid="payment-row"`); n != 3 || !strings.Contains(page, "-$5.00") || !strings.Contains(page, "On-chain transfer") {
		t.Errorf("billing page shows %d payment rows", n)
	}
	other.Must(http.MethodGet, "/api/payments", nil, http.StatusOK).JSON(t, &got)
	if len(got.Payments) != 1 {
		t.Errorf("another account sees %d payments", len(got.Payments))
	}
}

func TestAPI_LowBalanceThresholdIsPublishedForTheLedgerToApply(t *testing.T) {
	h := newHarness(t)
	c, m := h.signIn("threshold@example.com")
	got := make(chan events.AccountSettingsV1, 4)
	sub, err := h.bus.Conn().Subscribe(events.FamilyAccountSettings+".>", func(msg *nats.Msg) {
		var ev events.AccountSettingsV1
		_ = json.Unmarshal(msg.Data, &ev)
		if msg.Subject != events.FamilyAccountSettings+"."+ev.AccountID {
			t.Errorf("subject %s for account %s", msg.Subject, ev.AccountID)
		}
		got <- ev
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	c.Must(http.MethodPatch, "/api/account/settings", map[string]any{"low_balance_micros": -1}, http.StatusBadRequest)
	c.Must(http.MethodPatch, "/api/account/settings", map[string]any{"low_balance_micros": 12_500_000}, http.StatusAccepted)
	select {
	case ev := <-got:
		if ev.AccountID != m.AccountID || ev.LowBalanceMicros != 12_500_000 || ev.ID == "" {
			t.Fatalf("event %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no account.settings published")
	}
	// GET answers what the ledger applies.
	if _, err := h.store.Collection(readmodel.CollAccounts).InsertOne(context.Background(), bson.D{{Key: "_id", Value: m.AccountID}, {Key: "low_balance_micros", Value: int64(12_500_000)}}); err != nil {
		t.Fatal(err)
	}
	var s struct {
		LowBalanceMicros int64 `json:"low_balance_micros"`
	}
	c.Must(http.MethodGet, "/api/account/settings", nil, http.StatusOK).JSON(t, &s)
	if s.LowBalanceMicros != 12_500_000 {
		t.Fatalf("settings = %+v", s)
	}
	if v := testID(string(c.Must(http.MethodGet, "/", nil, http.StatusOK).Body), "low-balance-input"); v != "<missing>" {
		t.Logf("input: %s", v)
	}
	if !strings.Contains(string(c.Must(http.MethodGet, "/", nil, http.StatusOK).Body), `value="12.50" data-testid="low-balance-input"`) {
		t.Error("overview does not show the threshold the ledger applies")
	}
}

// TestDashboard_PagesShowWhatTheLedgerAppliedSinceTheLastView: pages keep
// an account's rollups between views while the ledger's seq of the
// account is unchanged; once the ledger applies more, the next view shows
// it.
func TestDashboard_PagesShowWhatTheLedgerAppliedSinceTheLastView(t *testing.T) {
	h := newHarness(t)
	c, m := h.signIn("fresh@example.com")
	today := h.clock.Now()
	seedDashboard(t, h, m.AccountID, m.DefaultProjectID, "key_x", today)
	ctx := context.Background()
	if got := testID(string(c.Must(http.MethodGet, "/", nil, http.StatusOK).Body), "spend-today"); got != "$0.003" {
		t.Fatalf("spend today = %q", got)
	}
	// The ledger applies a request: rollup first, then the account.
	d0 := readmodel.Day(today)
	if _, err := h.store.Collection(readmodel.CollRollups).UpdateOne(ctx, bson.D{{Key: "_id", Value: readmodel.RollupID(m.AccountID, d0, "gpt-5.2", "key_x")}},
		bson.D{{Key: "$inc", Value: bson.D{{Key: "requests", Value: 1}, {Key: "cost_micros", Value: 7_000}, {Key: "charged_micros", Value: 7_000}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.Collection(readmodel.CollAccounts).UpdateOne(ctx, bson.D{{Key: "_id", Value: m.AccountID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "seq", Value: int64(7)}, {Key: "balance_micros", Value: int64(4_993_000)}}}}); err != nil {
		t.Fatal(err)
	}
	body := string(c.Must(http.MethodGet, "/", nil, http.StatusOK).Body)
	if got := testID(body, "spend-today"); got != "$0.01" {
		t.Errorf("spend today after a request = %q, want $0.01", got)
	}
	if got := testID(body, "balance"); got != "$4.993" {
		t.Errorf("balance = %q", got)
	}
}
