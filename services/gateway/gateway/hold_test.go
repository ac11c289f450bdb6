package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/services/gateway/gateway"
)

// holdCatalog adds models whose tokens cost one micro-USD each (input and
// output), so a hold in micro-USD reads as tokens: test-dear (OpenAI, 100k
// output), test-dear-claude (Anthropic, 64k output) and test-long
// (Anthropic, a long-context tier above 200k tokens at 2 µ$ in, 3 µ$ out).
func holdCatalog(t *testing.T) harnessOpt {
	path := filepath.Join(t.TempDir(), "catalog.json")
	doc := `{"models":[
	  {"id":"test-dear","name":"Test Dear","provider":"openai","kind":"chat","upstream_id":"test-dear-up",
	   "context_length":400000,"max_output_tokens":100000,"created":1,"source":"test","pricing":{"input":1000000,"output":1000000}},
	  {"id":"test-dear-claude","name":"Test Dear Claude","provider":"anthropic","kind":"chat","upstream_id":"test-dear-claude-up",
	   "context_length":200000,"max_output_tokens":64000,"created":1,"source":"test","pricing":{"input":1000000,"output":1000000}},
	  {"id":"test-long","name":"Test Long","provider":"anthropic","kind":"chat","upstream_id":"test-long-up",
	   "context_length":200000,"max_output_tokens":64000,"created":1,"source":"test","pricing":{"input":1000000,"output":1000000,
	   "long_context":{"above_tokens":200000,"input":2000000,"output":3000000}}}]}`
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return withConfig(func(c *gateway.Config) { c.CatalogFile = path })
}

// withBalance gives the harness's account bal micro-USD and free requests.
func (h *harness) withBalance(bal money.Micros, free int64) {
	h.t.Helper()
	h.setBalance(h.accountID, bal, free)
	waitFor(h.t, time.Minute, "the new balance", func() bool {
		c := h.credits(h.key)
		return c.BalanceMicros == int64(bal) && c.FreeRequestsLeft == free
	})
}

// answerUsage makes the fake answer every chat request with this usage.
func answerUsage(f *fakeUpstream, in, out int64) {
	f.setHandle(func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/v1/messages") {
			fmt.Fprintf(w, `{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":%d,"output_tokens":%d}}`, in, out)
			return true
		}
		fmt.Fprintf(w, `{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`, in, out, in+out)
		return true
	})
}

func chatBody(model, extra, prompt string) string {
	p, _ := json.Marshal(prompt)
	return fmt.Sprintf(`{"model":%q,%s"messages":[{"role":"user","content":%s}]}`, model, extra, p)
}

func TestHold_NChoicesMultiplyTheHold(t *testing.T) {
	t.Parallel()
	h := newHarness(t, holdCatalog(t))
	answerUsage(h.fakes[catalog.OpenAI], 10, 10)
	// 10,000 output tokens per choice: one choice fits in 20,000 µ$, three
	// (30,000 µ$ of output) do not.
	h.withBalance(20_000, 0)
	if resp, b := h.post("/v1/chat/completions", h.key, chatBody("test-dear", `"max_completion_tokens":10000,"n":1,`, "hi")); resp.StatusCode != 200 {
		t.Fatalf("n=1: status %d: %s", resp.StatusCode, b)
	}
	resp, b := h.post("/v1/chat/completions", h.key, chatBody("test-dear", `"max_completion_tokens":10000,"n":3,`, "hi"))
	if resp.StatusCode != http.StatusPaymentRequired {
		t.Errorf("n=3 on a balance that covers one choice: status %d, want 402: %s", resp.StatusCode, b)
	}
}

func TestHold_LargestOfTheLimitKeysCounts(t *testing.T) {
	t.Parallel()
	h := newHarness(t, holdCatalog(t))
	answerUsage(h.fakes[catalog.OpenAI], 10, 10)
	h.withBalance(20_000, 0)
	// A provider may read either key: the larger one is held.
	resp, b := h.post("/v1/chat/completions", h.key, chatBody("test-dear", `"max_tokens":30000,"max_completion_tokens":1000,`, "hi"))
	if resp.StatusCode != http.StatusPaymentRequired {
		t.Errorf("max_tokens 30000 and max_completion_tokens 1000 on 20,000 µ$: status %d, want 402: %s", resp.StatusCode, b)
	}
}

func TestHold_NoLimitAndASmallBalanceSendsTheLimitTheBalanceCovers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, path, model, key string
		provider               catalog.Provider
		balance                money.Micros
		free                   int64
		covered                int64 // what the hold may spend
	}{
		{"openai", "/v1/chat/completions", "test-dear", "max_completion_tokens", catalog.OpenAI, 20_000, 0, 20_000},
		{"anthropic messages", "/v1/messages", "test-dear-claude", "max_tokens", catalog.Anthropic, 20_000, 0, 20_000},
		// A free request covers at most the free cap ($0.05).
		{"free request", "/v1/chat/completions", "test-dear", "max_completion_tokens", catalog.OpenAI, 0, 1, int64(gateway.DefaultConfig().FreeRequestMaxMicros)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, holdCatalog(t))
			answerUsage(h.fakes[tc.provider], 10, 10)
			h.withBalance(tc.balance, tc.free)
			body := chatBody(tc.model, "", "hi")
			resp, b := h.post(tc.path, h.key, body)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			reqs := h.fakes[tc.provider].requests()
			if len(reqs) != 1 {
				t.Fatalf("%d upstream requests", len(reqs))
			}
			var sent map[string]json.RawMessage
			if err := json.Unmarshal(reqs[0].Body, &sent); err != nil {
				t.Fatalf("upstream body %s: %v", reqs[0].Body, err)
			}
			n, err := strconv.ParseInt(string(sent[tc.key]), 10, 64)
			if err != nil {
				t.Fatalf("upstream got no %s: %s", tc.key, reqs[0].Body)
			}
			if hdr := resp.Header.Get("X-Onekey-Max-Output-Tokens"); hdr != strconv.FormatInt(n, 10) {
				t.Errorf("header X-Onekey-Max-Output-Tokens = %q, upstream got %s %d", hdr, tc.key, n)
			}
			// At one µ$ a token, the output limit plus the prompt's bound
			// (its bytes and more) fit in what the hold covers.
			if n < 1024 || n+int64(len(body)) > tc.covered {
				t.Errorf("output limit %d with a %d-byte prompt, hold %d", n, len(body), tc.covered)
			}
		})
	}
}

func TestHold_CJKPromptIsHeldAtNoLessThanItsTokens(t *testing.T) {
	t.Parallel()
	h := newHarness(t, holdCatalog(t))
	// 20,000 CJK characters are 60,000 bytes; tokenizers count about one
	// token per character, some up to three.
	prompt := strings.Repeat("中文提示词", 4_000)
	tokens := int64(len([]rune(prompt)))
	answerUsage(h.fakes[catalog.OpenAI], tokens, 10)
	// A balance one micro-USD short of the real cost must be refused:
	// admitting it would let the provider bill more than the account has.
	h.withBalance(money.Micros(tokens+10-1), 0)
	resp, b := h.post("/v1/chat/completions", h.key, chatBody("test-dear", `"max_completion_tokens":10,`, prompt))
	if resp.StatusCode != http.StatusPaymentRequired {
		t.Errorf("status %d, want 402: the hold must cover the prompt's %d tokens: %s", resp.StatusCode, tokens, b)
	}
}

func TestHold_InputThatMayExceedTheLongContextThresholdIsHeldAtTheTierPrice(t *testing.T) {
	t.Parallel()
	h := newHarness(t, holdCatalog(t))
	// 300,000 bytes of prompt may be more than 200,000 tokens: the whole
	// request may then be billed at the tier's 2 µ$ in, 3 µ$ out.
	prompt := strings.Repeat("0123456789 ", 300_000/11)
	answerUsage(h.fakes[catalog.Anthropic], 210_000, 10)
	body := fmt.Sprintf(`{"model":"test-long","max_tokens":10,"messages":[{"role":"user","content":%q}]}`, prompt)
	// Enough for every prompt token at the base price, not at the tier's.
	h.withBalance(money.Micros(2*len(body)), 0)
	resp, b := h.post("/v1/messages", h.key, body)
	if resp.StatusCode != http.StatusPaymentRequired {
		t.Fatalf("status %d, want 402 (held at the base price?): %.300s", resp.StatusCode, b)
	}
	// With enough for the tier, it is admitted and billed at the tier.
	h.withBalance(money.Micros(3*len(body)+10_000), 0)
	resp, b = h.post("/v1/messages", h.key, body)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %.300s", resp.StatusCode, b)
	}
	if ev := h.waitUsage(resp.Header.Get("X-Request-Id")); ev.CostMicros != 2*210_000+3*10 {
		t.Errorf("cost %d, want the tier's %d", ev.CostMicros, 2*210_000+3*10)
	}
}

// A free request may cost at most the free cap: one whose client fixed an
// output limit that could cost more is paid, and with no balance it is
// refused with a 402 that says why; nothing reaches the provider and no free
// request is used.
func TestHold_RequestAboveTheFreeCapIsNotFree(t *testing.T) {
	t.Parallel()
	h := newHarness(t, holdCatalog(t))
	h.withBalance(0, 20)
	fake := h.fakes[catalog.OpenAI]
	before := len(fake.requests())
	// 100,000 output tokens at 1 µ$ each may cost $0.10, twice the cap.
	resp, body := h.post("/v1/chat/completions", h.key, `{"model":"test-dear","max_completion_tokens":100000,"messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != http.StatusPaymentRequired || !strings.Contains(string(body), "Free requests cover requests that may cost up to $0.05") {
		t.Fatalf("%d %s, want a 402 naming the free cap", resp.StatusCode, body)
	}
	if n := len(fake.requests()) - before; n != 0 {
		t.Errorf("the provider got %d requests", n)
	}
	if c := h.credits(h.key); c.FreeRequestsLeft != 20 {
		t.Errorf("free requests left = %d, want 20", c.FreeRequestsLeft)
	}
	// Within the cap the same account's request is free.
	answerUsage(fake, 10, 10)
	resp, body = h.post("/v1/chat/completions", h.key, `{"model":"test-dear","max_completion_tokens":1000,"messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a request within the cap: %d %s", resp.StatusCode, body)
	}
	if ev := h.waitUsage(resp.Header.Get("X-Request-Id")); !ev.Free {
		t.Errorf("a request within the cap was not free: %+v", ev)
	}
}
