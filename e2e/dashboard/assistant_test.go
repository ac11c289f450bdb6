package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/e2e/browser"
	"github.com/onekey-oss/onekey/services/auth/anthropicfake"
	"github.com/onekey-oss/onekey/services/auth/auth"
)

// assistantConfig turns the assistant on against the fake at url ("": off).
func assistantConfig(url string) auth.AssistantConfig {
	if url == "" {
		return auth.AssistantConfig{}
	}
	return auth.AssistantConfig{APIKey: anthropicfake.APIKey, BaseURL: url}
}

// credit gives an account money as an operator's adjustment would.
func (s *stack) credit(account string, amount money.Micros) {
	s.t.Helper()
	if _, err := s.bus.Publish(context.Background(), events.CreditAdjustedV1{
		V: 1, ID: "e2e-credit:" + account, Time: time.Now().UTC(), AccountID: account, AmountMicros: amount, Reason: "e2e", Actor: "e2e",
	}); err != nil {
		s.t.Fatal(err)
	}
}

// chatModel sends one OpenAI-format chat completion for model with key.
func (s *stack) chatModel(key, model string) {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.GatewayURL+"/v1/chat/completions",
		strings.NewReader(`{"model":"`+model+`","messages":[{"role":"user","content":"Say hello"}]}`))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("gateway %s: %d %s", model, resp.StatusCode, body)
	}
}

// newKey makes a key in the default project through the API, as the page
// would, and returns it.
func newKey(t *testing.T, p *browser.Page) string {
	t.Helper()
	raw := browser.Eval[string](p, `fetch("/api/me").then(r => r.json()).then(me =>
		fetch("/api/projects/" + me.default_project_id + "/keys", {method: "POST", headers: {"Content-Type": "application/json",
			"X-CSRF-Token": document.querySelector('meta[name="csrf-token"]').content}, body: JSON.stringify({name: "assistant-e2e"})}))
		.then(r => r.text())`)
	var k struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal([]byte(raw), &k); err != nil || k.Key == "" {
		t.Fatalf("create key: %s (%v)", raw, err)
	}
	return k.Key
}

func costOf(t *testing.T, model string) money.Micros {
	t.Helper()
	cat, err := catalog.Default()
	if err != nil {
		t.Fatal(err)
	}
	m, ok := cat.Lookup(model)
	if !ok {
		t.Fatalf("%s not in the catalog", model)
	}
	return m.Cost(catalog.Usage{InputTokens: upstreamPromptTokens, OutputTokens: upstreamOutputTokens}, 0)
}

// askAssistant opens the panel on the page shown, asks q, and returns the
// answer once it is complete.
func askAssistant(t *testing.T, p *browser.Page, name, q string) string {
	t.Helper()
	p.Click(tid("assistant-open"))
	p.WaitVisible(tid("assistant-input"))
	p.WaitText(tid("assistant-privacy"), "kept nowhere else")
	// Typed as a person would (Page.Fill clears an input's text node, which
	// an empty textarea does not have).
	ctx, cancel := context.WithTimeout(p.Context(), browser.Timeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, browser.Type(tid("assistant-input"), q)); err != nil {
		t.Fatalf("type the question: %v", err)
	}
	p.Click(tid("assistant-send"))
	if err := waitJS(p, `(() => { const a = document.querySelectorAll('[data-testid=assistant-assistant], [data-testid=assistant-refusal]');
		return a.length > 0 && !a[a.length-1].hasAttribute("aria-busy"); })()`); err != nil {
		t.Fatalf("no complete answer: %v", err)
	}
	p.Check(name)
	return browser.Eval[string](p, `(() => { const a = document.querySelectorAll('[data-testid=assistant-assistant], [data-testid=assistant-refusal]'); return a[a.length-1].innerText; })()`)
}

func waitJS(p *browser.Page, expr string) error {
	deadline := time.Now().Add(browser.Timeout)
	for time.Now().Before(deadline) {
		if browser.Eval[bool](p, expr) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s: not true within %s", expr, browser.Timeout)
}

func TestDashboard_AssistantAnswersBalanceAndTopModelWithEachUsersOwnFigures(t *testing.T) {
	t.Parallel()
	fake := anthropicfake.Start(t, anthropicfake.BalanceAndUsage)
	s := newStack(t, stackOptions{AssistantURL: fake.URL})
	const question = "what is my balance and which model did I spend most on?"

	type user struct {
		email, model string
		credit       money.Micros
		page         *browser.Page
	}
	users := []*user{{email: "ada@example.com", model: "gpt-5-mini", credit: 10 * money.Dollar}, {email: "bob@example.com", model: "gpt-4.1-mini", credit: 3 * money.Dollar}}
	for _, u := range users {
		u.page = visitor(t).NewPage()
		signIn(t, s, u.page, u.email)
		s.credit(me(t, u.page), u.credit)
		key := newKey(t, u.page)
		// The first request must be a free one: account.created and the
		// credit are two events the ledger applies in either order.
		s.waitGateway(key, u.credit, 20)
		s.chatModel(key, u.model)
	}
	for i, u := range users {
		p := u.page
		// The first request is a free one: charged $0.00, its list price counted.
		p.Visit("overview-"+u.model, s.AuthURL+"/")
		p.WaitText(tid("balance"), usd(u.credit))
		p.WaitText(tid("free-requests"), "19")
		p.Visit("usage-"+u.model, s.AuthURL+"/usage")
		p.WaitText(tid("usage-model-row"), u.model)

		before := len(fake.Requests())
		answer := askAssistant(t, p, "assistant-answer-"+u.model, question)
		cost := usd(costOf(t, u.model))
		for _, want := range []string{usd(u.credit), "19 free requests", u.model, cost, "$0.00 charged"} {
			if !strings.Contains(answer, want) {
				t.Errorf("%s: the answer %q lacks %q", u.email, answer, want)
			}
		}
		other := users[1-i]
		if strings.Contains(answer, usd(other.credit)) || strings.Contains(answer, other.model) {
			t.Errorf("%s: the answer %q holds %s's figures", u.email, answer, other.email)
		}
		if !p.Has(`[data-testid=assistant-assistant] a[href="/billing"]`) {
			t.Errorf("%s: the answer's link to Billing is not a link", u.email)
		}
		reqs := fake.Requests()[before:]
		if len(reqs) != 2 {
			t.Fatalf("%s: the fake got %d requests, want 2", u.email, len(reqs))
		}
		var seen []string
		for _, r := range reqs[1].ToolResults() {
			seen = append(seen, r.Name)
			if strings.Contains(r.Content, other.model) || strings.Contains(r.Content, usd(other.credit)) {
				t.Errorf("%s: tool %s returned %s's data: %s", u.email, r.Name, other.email, r.Content)
			}
		}
		if strings.Join(seen, ",") != "get_balance,get_usage" {
			t.Errorf("%s: the fake saw tool results %v, want get_balance and get_usage", u.email, seen)
		}
	}
	// The panel is on every signed-in page and passes the checks there.
	p := users[0].page
	for _, path := range []string{"/keys", "/billing", "/settings"} {
		p.Visit("panel-on"+strings.ReplaceAll(path, "/", "-"), s.AuthURL+path)
		if !p.Has(tid("assistant-open")) {
			t.Errorf("%s has no assistant button", path)
		}
	}
	p.Click(tid("assistant-open"))
	p.WaitVisible(tid("assistant-input"))
	p.Check("panel-open-on-settings")
}
