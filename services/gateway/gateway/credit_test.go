package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/services/gateway/gateway"
)

// nickelCatalog adds a model whose worst case, with max_tokens 1000, is a
// little over $0.05.
func nickelCatalog(t *testing.T) harnessOpt {
	path := filepath.Join(t.TempDir(), "catalog.json")
	doc := `{"models":[{"id":"test-nickel","name":"Test Nickel","provider":"openai","upstream_id":"test-nickel-upstream",
	  "context_length":100000,"max_output_tokens":1000,"created":1,"source":"test","pricing":{"input":1,"output":50000000}}]}`
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return withConfig(func(c *gateway.Config) { c.CatalogFile = path })
}

func TestCredit_OneDollarAnd200ConcurrentNickelRequestsNeverOverspend(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nickelCatalog(t))
	_, _, acc, _ := "", "", h.accountID, ""
	h.setBalance(acc, money.Dollar, 0)
	waitFor(t, time.Minute, "balance $1", func() bool { return h.credits(h.key).BalanceMicros == int64(money.Dollar) })

	release := make(chan struct{})
	var upstream atomic.Int64
	h.fakes[catalog.OpenAI].setHandle(func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		upstream.Add(1)
		<-release
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"c","object":"chat.completion","created":1,"model":"test-nickel-upstream","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"length"}],"usage":{"prompt_tokens":25,"completion_tokens":1000,"total_tokens":1025}}`)
		return true
	})
	const n = 200
	var refused, admitted atomic.Int64
	var wg sync.WaitGroup
	ids := make(chan string, n)
	for range n {
		wg.Go(func() {
			resp, body := h.post("/v1/chat/completions", h.key, `{"model":"test-nickel","max_tokens":1000,"messages":[{"role":"user","content":"hi"}]}`)
			switch resp.StatusCode {
			case http.StatusPaymentRequired:
				refused.Add(1)
			case http.StatusOK:
				admitted.Add(1)
				ids <- resp.Header.Get("X-Request-Id")
			default:
				t.Errorf("status %d: %s", resp.StatusCode, body)
			}
		})
	}
	waitFor(t, time.Minute, "every request admitted or refused", func() bool { return refused.Load()+upstream.Load() == n })
	close(release)
	wg.Wait()
	close(ids)
	if a := admitted.Load(); a > 20 || a < 1 {
		t.Fatalf("admitted %d of %d, want 1..20", a, n)
	}
	var spent money.Micros
	for id := range ids {
		spent += h.waitUsage(id).CostMicros
	}
	if money.Dollar-spent < 0 {
		t.Errorf("admitted requests cost %s: the $1.00 balance would end at %s", spent, money.Dollar-spent)
	}
	t.Logf("admitted %d, spent %s", admitted.Load(), spent)
	// Until the ledger's next balance arrives, what was spent stays spent.
	resp, _ := h.post("/v1/chat/completions", h.key, `{"model":"test-nickel","max_tokens":1000,"messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != http.StatusPaymentRequired {
		t.Errorf("request after the burst: status %d, want 402", resp.StatusCode)
	}
}

func TestCredit_FreeRequestsAdmitWithoutBalanceThen402(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	key, _, acc, _ := h.newKey(events.APIKeyV1{})
	h.setBalance(acc, 0, 2)
	waitFor(t, time.Minute, "free requests", func() bool { return h.credits(key).FreeRequestsLeft == 2 })
	client := h.openai(key)
	params := openai.ChatCompletionNewParams{Model: "gpt-5-nano", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}
	var raw *http.Response
	for i := range 2 {
		if _, err := client.Chat.Completions.New(context.Background(), params, option.WithResponseInto(&raw)); err != nil {
			t.Fatalf("free request %d: %v", i+1, err)
		}
		// The usage event carries the gateway's decision and its replica,
		// which the ledger applies.
		if ev := h.waitUsage(raw.Header.Get("X-Request-Id")); !ev.Free || !strings.HasPrefix(ev.Replica, "gw_") || ev.CostMicros <= 0 {
			t.Fatalf("usage event of free request %d: free %v, replica %q, cost %v; want free from a gw_ replica", i+1, ev.Free, ev.Replica, ev.CostMicros)
		}
	}
	_, err := client.Chat.Completions.New(context.Background(), params)
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusPaymentRequired || apiErr.Code != "insufficient_credit" {
		t.Fatalf("third request: %v, want a 402", err)
	}
	if c := h.credits(key); c.FreeRequestsLeft != 0 {
		t.Errorf("/v1/credits free_requests_left = %d after using both", c.FreeRequestsLeft)
	}
	// The ledger's next balance (both used, $1 added) admits again.
	h.setBalance(acc, money.Dollar, 0)
	waitFor(t, time.Minute, "new balance", func() bool { return h.credits(key).BalanceMicros == int64(money.Dollar) })
	if _, err := client.Chat.Completions.New(context.Background(), params); err != nil {
		t.Fatalf("after top-up: %v", err)
	}
}

func TestCredit_CreditsEndpointShowsBalanceAndFreeRequests(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	key, _, acc, _ := h.newKey(events.APIKeyV1{})
	h.setBalance(acc, 1_234_567, 20)
	waitFor(t, time.Minute, "balance", func() bool {
		c := h.credits(key)
		return c.BalanceMicros == 1_234_567 && c.FreeRequestsLeft == 20
	})
	req, _ := http.NewRequest(http.MethodGet, h.url+"/v1/credits", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("credits without a key: %d", resp.StatusCode)
	}
}

func TestLimits_PerKeyRPMAnswers429WithRetryAfter(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	key, _, acc, _ := h.newKey(events.APIKeyV1{RPM: 2})
	h.setBalance(acc, money.Dollar, 0)
	waitFor(t, time.Minute, "balance", func() bool { return h.credits(key).BalanceMicros == int64(money.Dollar) })
	body := `{"model":"gpt-5-nano","messages":[{"role":"user","content":"hi"}]}`
	for i := range 2 {
		if resp, b := h.post("/v1/chat/completions", key, body); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i+1, resp.StatusCode, b)
		}
	}
	resp, b := h.post("/v1/chat/completions", key, body)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(b), "rate_limit_exceeded") {
		t.Fatalf("third request: %d retry-after %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
	// Another key of the same account is not limited by this one's RPM.
	other, _, _, _ := h.newKey(events.APIKeyV1{AccountID: acc})
	waitFor(t, time.Minute, "other key", func() bool { return h.credits(other).BalanceMicros == int64(money.Dollar) })
	if resp, b := h.post("/v1/chat/completions", other, body); resp.StatusCode != 200 {
		t.Errorf("other key: %d %s", resp.StatusCode, b)
	}
}

func TestLimits_KeySpendCapAnswers429WithRetryAfter(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	key, keyID, acc, _ := h.newKey(events.APIKeyV1{SpendCapMicros: 50_000})
	h.setBalance(acc, money.Dollar, 0, map[string]money.Micros{"other": 10})
	waitFor(t, time.Minute, "balance", func() bool { return h.credits(key).BalanceMicros == int64(money.Dollar) })
	small := `{"model":"gpt-5-nano","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`
	if resp, b := h.post("/v1/chat/completions", key, small); resp.StatusCode != 200 {
		t.Fatalf("small request under the cap: %d %s", resp.StatusCode, b)
	}
	// The ledger reports the key has spent nearly all of its cap.
	h.setBalance(acc, money.Dollar, 0, map[string]money.Micros{keyID: 49_990})
	waitFor(t, time.Minute, "spend", func() bool {
		resp, _ := h.post("/v1/chat/completions", key, small)
		return resp.StatusCode == http.StatusTooManyRequests
	})
	resp, b := h.post("/v1/chat/completions", key, small)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(b), "spend_cap_reached") {
		t.Fatalf("over the cap: %d %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
}
