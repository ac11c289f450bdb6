package dashboard_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/e2e/browser"
)

var tid = browser.TestID

// signIn takes a new visitor from the dashboard's address through the
// sign-in form and the magic link in the mail outbox to the overview.
func signIn(t *testing.T, s *stack, p *browser.Page, email string) {
	t.Helper()
	p.Visit("sign-in", s.AuthURL+"/")
	if !strings.HasSuffix(p.URL(), "/sign-in") {
		t.Fatalf("a signed-out visitor to / is at %s, want the sign-in page", p.URL())
	}
	p.Fill(tid("signin-email"), email)
	p.Click(tid("signin-submit"))
	p.WaitVisible(tid("check-mail"))
	p.WaitText(tid("check-mail"), email)
	p.Check("check-your-mail")
	p.Visit("magic-link", s.magicLink(email))
	p.ClickToLoad("overview", tid("magic-link-confirm"))
	p.WaitText(tid("signed-in-as"), email)
}

// me is GET /api/me, fetched by the page (same origin, its session).
func me(t *testing.T, p *browser.Page) (accountID string) {
	t.Helper()
	raw := browser.Eval[string](p, `fetch("/api/me", {credentials: "same-origin"}).then(r => r.text())`)
	var m struct {
		AccountID string `json:"account_id"`
	}
	if err := json.Unmarshal([]byte(raw), &m); err != nil || m.AccountID == "" {
		t.Fatalf("/api/me = %s (%v)", raw, err)
	}
	return m.AccountID
}

// createProjectAndKey creates a project and a key in it on /keys, copies
// the key with the page's Copy button, and returns what the clipboard got.
func createProjectAndKey(t *testing.T, s *stack, p *browser.Page, project, key string) string {
	t.Helper()
	p.Visit("keys", s.AuthURL+"/keys")
	p.Click(`button[data-open-dialog="new-project"]`)
	p.Fill(tid("project-name-input"), project)
	p.ClickToLoad("project-created", tid("project-create"))
	sec := fmt.Sprintf(`section[data-testid="project"][aria-labelledby="h-%s"]`, projectID(t, p, project))
	p.Click(sec + " " + tid("create-key-open"))
	p.Fill(sec+" "+tid("key-name-input"), key)
	p.Click(sec + " " + tid("key-create"))
	p.WaitVisible(tid("new-key-secret"))
	p.WaitText(tid("key-shown-once"), "you will not see it again")
	shown := p.Text(tid("new-key-secret"))
	copied := strings.TrimSpace(p.Copy(tid("copy-key")))
	p.WaitText(tid("copy-key"), "Copied")
	p.Check("key-shown-once")
	if copied != shown || copied == "" {
		t.Fatalf("the clipboard has %q, the page shows %q", copied, shown)
	}
	return copied
}

// projectID finds the id of the project named name on /keys.
func projectID(t *testing.T, p *browser.Page, name string) string {
	t.Helper()
	id := browser.Eval[string](p, fmt.Sprintf(`(() => { for (const s of document.querySelectorAll('section[data-testid="project"]')) {
		if (s.querySelector("h2").textContent.trim() === %q) return s.getAttribute("data-project-id"); } return ""; })()`, name))
	if id == "" {
		t.Fatalf("no project %q on %s", name, p.URL())
	}
	return id
}

func TestDashboard_NewVisitorSignsInWithMagicLinkAndSees20FreeRequests(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	p := visitor(t).NewPage()
	signIn(t, s, p, "ada@example.com")
	p.WaitText(tid("balance"), "$0.00")
	p.WaitText(tid("free-requests"), "20")
	p.Check("overview-20-free-requests")
	for _, page := range []struct{ name, path, h1 string }{
		{"keys", "/keys", "Projects and keys"}, {"usage", "/usage", "Usage"}, {"billing", "/billing", "Billing"},
		{"settings", "/settings", "Settings"}, {"privacy", "/privacy", ""}, {"under-the-hood", "/under-the-hood", ""},
	} {
		// Every page, for its screenshot and its checks (console, origins, axe).
		p.Visit(page.name, s.AuthURL+page.path)
		if page.h1 != "" {
			if got := p.Text("h1"); got != page.h1 {
				t.Errorf("%s: h1 = %q, want %q", page.path, got, page.h1)
			}
		}
		if page.path == "/settings" {
			if got := p.Text(tid("settings-email")); got != "ada@example.com" {
				t.Errorf("settings show the address %q", got)
			}
		}
	}
}

func TestDashboard_KeyCreatedAndCopiedInTheBrowserCallsTheGatewayAndTheRequestShowsInOverviewAndUsage(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	p := visitor(t).NewPage()
	signIn(t, s, p, "grace@example.com")
	key := createProjectAndKey(t, s, p, "Compiler", "laptop")
	s.waitGateway(key, 0, 20)

	if code, body := s.chat(key); code != http.StatusOK {
		t.Fatalf("gateway with the copied key: %d %s", code, body)
	}
	cost := usd(upstreamCost(t))
	tokens := fmt.Sprintf("%d", upstreamPromptTokens+upstreamOutputTokens)

	// The overview shows it, live if it loaded before the ledger applied it
	// (the first request is one of the 20 free ones).
	p.Visit("overview", s.AuthURL+"/")
	p.WaitText(tid("free-requests"), "19")
	p.Visit("overview-after-request", s.AuthURL+"/")
	p.WaitText(tid("top-models"), upstreamModel)
	p.WaitText(tid("top-models"), "1 requests")
	p.WaitText("#h-30d + p", tokens[:1]+","+tokens[1:]+" tokens")

	p.Visit("usage", s.AuthURL+"/usage")
	p.WaitText(tid("usage-total-requests"), "1")
	row := p.Text(tid("usage-model-row"))
	for _, want := range []string{upstreamModel, "1,801", cost} {
		if !strings.Contains(row, want) {
			t.Errorf("usage by model row %q lacks %q", row, want)
		}
	}
	if keyRow := p.Text(tid("usage-key-row")); !strings.Contains(keyRow, "laptop") || !strings.Contains(keyRow, cost) {
		t.Errorf("usage by key row %q lacks the key's name or the cost %s", keyRow, cost)
	}
}

// usd formats micro-USD as the dashboard documents it: exactly, with at
// least two decimals and more only when the amount has them ("$5.00",
// "$0.001443", "$1,234.50").
func usd(m money.Micros) string {
	v := int64(m)
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	frac := strings.TrimRight(fmt.Sprintf("%06d", v%1_000_000), "0")
	for len(frac) < 2 {
		frac += "0"
	}
	whole := fmt.Sprint(v / 1_000_000)
	for i := len(whole) - 3; i > 0; i -= 3 {
		whole = whole[:i] + "," + whole[i:]
	}
	return sign + "$" + whole + "." + frac
}
