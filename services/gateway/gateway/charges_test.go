package gateway_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/services/gateway/gateway"
)

// Issue 10, point 5: charges that are not tokens are metered from the
// provider's own usage fields at catalog prices, or refused. The expected
// costs are worked out by hand from the published prices the catalog holds
// (micro-USD per million tokens; fees per use).

// serveGolden makes fake f answer every request with the recorded response
// testdata/charges/<file>, a JSON body or an SSE stream sent event by event.
func serveGolden(t *testing.T, f *fakeUpstream, file string) {
	t.Helper()
	raw := golden(t, filepath.Join("charges", file))
	f.setHandle(func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		if !strings.HasSuffix(file, ".sse") {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(raw)
			return true
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for _, ev := range bytes.SplitAfter(raw, []byte("\n\n")) {
			_, _ = w.Write(ev)
			w.(http.Flusher).Flush()
		}
		return true
	})
}

// billed sends body to path and returns the usage event of the request.
func (h *harness) billed(path, body string, hdr ...string) events.UsageRecordedV1 {
	h.t.Helper()
	resp, out := h.post(path, h.key, body, hdr...)
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("status %d: %s", resp.StatusCode, out)
	}
	return h.waitUsage(resp.Header.Get("X-Request-Id"))
}

func TestMessages_OneHourCacheWritesAreBilledAtTwiceTheInputPrice(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	// Sonnet 4.5: 1,200 input × $3 + 2,000 5-minute writes × $3.75 +
	// 4,000 1-hour writes × $6 + 300 output × $15
	// = 3,600 + 7,500 + 24,000 + 4,500 micro-USD.
	const want money.Micros = 39_600
	for _, file := range []string{"anthropic_cache1h_response.json", "anthropic_cache1h_stream.sse"} {
		serveGolden(t, h.fakes[catalog.Anthropic], file)
		stream := strings.HasSuffix(file, ".sse")
		body := `{"model":"claude-sonnet-4-5","max_tokens":1024,"stream":` + map[bool]string{true: "true", false: "false"}[stream] +
			`,"system":[{"type":"text","text":"A long document...","cache_control":{"type":"ephemeral","ttl":"1h"}}],"messages":[{"role":"user","content":"Summarize it."}]}`
		ev := h.billed("/v1/messages", body, "anthropic-version", "2023-06-01")
		if ev.CostMicros != want || ev.CacheWriteTokens != 2_000 || ev.CacheWrite1hTokens != 4_000 || ev.InputTokens != 1_200 || ev.OutputTokens != 300 {
			t.Errorf("%s: cost %d (want %d), event %+v", file, ev.CostMicros, want, ev)
		}
	}
}

func TestMessages_WebSearchesAreBilledPerUseAndWebFetchesByTheirTokens(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	// Sonnet 4.5: 6,039 input × $3 + 931 output × $15 = 18,117 + 13,965,
	// plus 2 searches × $0.01 = 20,000; web fetch costs only its tokens.
	// The stream's input count is message_delta's (after the searches).
	const want money.Micros = 52_082
	for _, file := range []string{"anthropic_web_search_response.json", "anthropic_web_search_stream.sse"} {
		serveGolden(t, h.fakes[catalog.Anthropic], file)
		stream := strings.HasSuffix(file, ".sse")
		body := `{"model":"claude-sonnet-4-5","max_tokens":1024,"stream":` + map[bool]string{true: "true", false: "false"}[stream] +
			`,"tools":[{"type":"web_search_20250305","name":"web_search","max_uses":5},{"type":"web_fetch_20250910","name":"web_fetch","max_uses":3}],` +
			`"messages":[{"role":"user","content":"When was Claude Shannon born?"}]}`
		ev := h.billed("/v1/messages", body, "anthropic-version", "2023-06-01", "anthropic-beta", "web-fetch-2025-09-10")
		if ev.CostMicros != want || ev.WebSearchRequests != 2 || ev.WebFetchRequests != 1 || ev.InputTokens != 6_039 {
			t.Errorf("%s: cost %d (want %d), event %+v", file, ev.CostMicros, want, ev)
		}
	}
}

func TestMessages_WebSearchesOfAStreamThatEndsWithoutItsUsageAreStillBilled(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	// The recorded stream, cut after the second search's result: no
	// message_delta, so only message_start's usage and the blocks seen.
	raw := golden(t, filepath.Join("charges", "anthropic_web_search_stream.sse"))
	cut := bytes.Index(raw, []byte(`"index":5`))
	cut = bytes.LastIndex(raw[:cut], []byte("event: "))
	h.fakes[catalog.Anthropic].setHandle(func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write(raw[:cut])
		return true
	})
	// 2,679 input × $3 + 3 output (the content deltas seen) × $15
	// = 8,037 + 45, plus 2 searches × $0.01.
	ev := h.billed("/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":1024,"stream":true,`+
		`"tools":[{"type":"web_search_20250305","name":"web_search"}],"messages":[{"role":"user","content":"When was Claude Shannon born?"}]}`,
		"anthropic-version", "2023-06-01")
	if ev.CostMicros != 28_082 || ev.WebSearchRequests != 2 {
		t.Errorf("cost %d searches %d, want 28082 and 2 (event %+v)", ev.CostMicros, ev.WebSearchRequests, ev)
	}
}

func TestMessages_LongContextRatesApplyToTheWholeRequestFromTheReportedPrompt(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	// Prompt 150,000 + 20,000 cached + 40,000 1-hour writes = 210,000 >
	// 200,000: every token at Sonnet 4.5's long-context rates:
	// 150,000 × $6 + 20,000 × $0.60 + 40,000 × $12 + 1,000 × $22.50
	// = 900,000 + 12,000 + 480,000 + 22,500 micro-USD.
	const want money.Micros = 1_414_500
	for _, file := range []string{"anthropic_long_context_response.json", "anthropic_long_context_stream.sse"} {
		serveGolden(t, h.fakes[catalog.Anthropic], file)
		stream := strings.HasSuffix(file, ".sse")
		body := `{"model":"claude-sonnet-4-5","max_tokens":4096,"stream":` + map[bool]string{true: "true", false: "false"}[stream] +
			`,"messages":[{"role":"user","content":"Where is the termination clause?"}]}`
		ev := h.billed("/v1/messages", body, "anthropic-version", "2023-06-01", "anthropic-beta", "context-1m-2025-08-07")
		if ev.CostMicros != want || !ev.LongContext || ev.CacheWrite1hTokens != 40_000 {
			t.Errorf("%s: cost %d (want %d), long context %v, event %+v", file, ev.CostMicros, want, ev.LongContext, ev)
		}
	}
}

func TestChat_ServiceTierIsBilledAtTheTierTheProviderReports(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	// Every answer: 1,200 prompt tokens of which 1,024 cached, 300 output.
	tests := []struct {
		file, model, tier string
		want              money.Micros
		billedTier        string
	}{
		// GPT-5.2 priority: 176 × $3.50 + 1,024 × $0.35 + 300 × $28
		// = 616 + 358.4 + 8,400 = 9,374.4 → 9,375.
		{"openai_priority_response.json", "gpt-5.2", "priority", 9_375, "priority"},
		{"openai_priority_stream.sse", "gpt-5.2", "priority", 9_375, "priority"},
		// GPT-5 flex: 176 × $0.625 + 1,024 × $0.0625 + 300 × $5
		// = 110 + 64 + 1,500.
		{"openai_flex_response.json", "gpt-5", "flex", 1_674, "flex"},
		{"openai_flex_stream.sse", "gpt-5", "flex", 1_674, "flex"},
		// Priority asked, the provider served (and bills) the default
		// tier: 176 × $1.75 + 1,024 × $0.175 + 300 × $14 = 4,687.2 → 4,688.
		{"openai_priority_downgraded_response.json", "gpt-5.2", "priority", 4_688, "default"},
	}
	for _, tt := range tests {
		serveGolden(t, h.fakes[catalog.OpenAI], tt.file)
		body := `{"model":"` + tt.model + `","service_tier":"` + tt.tier + `","messages":[{"role":"user","content":"Hello"}]`
		if strings.HasSuffix(tt.file, ".sse") {
			body += `,"stream":true,"stream_options":{"include_usage":true}`
		}
		ev := h.billed("/v1/chat/completions", body+"}")
		if ev.CostMicros != tt.want || ev.ServiceTier != tt.billedTier {
			t.Errorf("%s: cost %d tier %q, want %d at %q", tt.file, ev.CostMicros, ev.ServiceTier, tt.want, tt.billedTier)
		}
	}
	reqs := h.fakes[catalog.OpenAI].requests()
	if len(reqs) != len(tests) || !bytes.Contains(reqs[0].Body, []byte(`"service_tier":"priority"`)) {
		t.Errorf("upstream got %d requests, the first %s", len(reqs), reqs[0].Body)
	}
}

func TestChat_XAISearchSourcesInTheUsageAreBilledPerSource(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	serveGolden(t, h.fakes[catalog.XAI], "xai_sources_response.json")
	// Grok 4: 288 input, 512 cached and 380 output tokens (the total less
	// the prompt, reasoning included) at the catalog's prices, plus 7
	// sources at $25 per 1,000.
	ev := h.billed("/v1/chat/completions", `{"model":"grok-4","messages":[{"role":"user","content":"What is trending?"}]}`)
	m := mustModel(t, "grok-4")
	want := expectCost(m, 288, 512, 0, 380) + 7*m.Pricing.PerUse.SearchSource
	if m.Pricing.PerUse.SearchSource != 25_000 || ev.CostMicros != want || ev.SearchSources != 7 {
		t.Errorf("cost %d sources %d, want %d and 7 (source fee %d)", ev.CostMicros, ev.SearchSources, want, m.Pricing.PerUse.SearchSource)
	}
}

func TestGateway_ChargesThatCannotBeMeteredAreRefusedNamingTheParameterAndNotForwarded(t *testing.T) {
	t.Parallel()
	// A catalog where Claude Haiku 4.5 has no web search price.
	path := filepath.Join(t.TempDir(), "catalog.json")
	if err := os.WriteFile(path, []byte(`{"models":[{"id":"claude-haiku-4-5","pricing":{"per_use":{}}}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, withConfig(func(c *gateway.Config) { c.CatalogFile = path }))
	msgs := `"messages":[{"role":"user","content":"Hi"}]`
	tests := []struct {
		name, path, body, param string
	}{
		{"a tier the model has no price for", "/v1/chat/completions", `{"model":"gpt-5-nano","service_tier":"priority",` + msgs + `}`, "service_tier"},
		{"an unknown tier", "/v1/chat/completions", `{"model":"gpt-5.2","service_tier":"scale",` + msgs + `}`, "service_tier"},
		{"a tier behind an escaped key", "/v1/chat/completions", `{"model":"gpt-5-nano","service_t\u0069er":"priority",` + msgs + `}`, "service_tier"},
		{"a tier on another provider", "/v1/chat/completions", `{"model":"gemini-2.5-flash","service_tier":"flex",` + msgs + `}`, "service_tier"},
		{"xAI Live Search", "/v1/chat/completions", `{"model":"grok-4","search_parameters":{"mode":"on","sources":[{"type":"web"}]},` + msgs + `}`, "search_parameters"},
		{"OpenAI web search options", "/v1/chat/completions", `{"model":"gpt-5.2","web_search_options":{},` + msgs + `}`, "web_search_options"},
		{"an xAI agent tool on chat", "/v1/chat/completions", `{"model":"grok-4","tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}},{"type":"x_search"}],` + msgs + `}`, "tools"},
		{"an OpenAI hosted tool on chat", "/v1/chat/completions", `{"model":"gpt-5.2","tools":[{"type":"web_search_preview"}],` + msgs + `}`, "tools"},
		{"Anthropic code execution", "/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":100,"tools":[{"type":"code_execution_20250825","name":"code_execution"}],` + msgs + `}`, "tools"},
		{"Anthropic fast mode", "/v1/messages", `{"model":"claude-opus-4-6","max_tokens":100,"speed":"fast",` + msgs + `}`, "speed"},
		{"Anthropic US-only inference", "/v1/messages", `{"model":"claude-opus-4-6","max_tokens":100,"inference_geo":"us",` + msgs + `}`, "inference_geo"},
		{"web search on a model without its price", "/v1/messages", `{"model":"claude-haiku-4-5","max_tokens":100,"tools":[{"type":"web_search_20250305","name":"web_search"}],` + msgs + `}`, "tools"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := h.post(tt.path, h.key, tt.body, "anthropic-version", "2023-06-01")
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", resp.StatusCode, body)
			}
			var e struct {
				Type  string `json:"type"`
				Error struct {
					Type    string  `json:"type"`
					Param   *string `json:"param"`
					Message string  `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("%v: %s", err, body)
			}
			if !strings.Contains(e.Error.Message, "`"+tt.param+"`") || e.Error.Type != "invalid_request_error" {
				t.Errorf("error does not name %s: %s", tt.param, body)
			}
			if tt.path == "/v1/messages" {
				if e.Type != "error" {
					t.Errorf("not Anthropic's error shape: %s", body)
				}
			} else if e.Error.Param == nil || *e.Error.Param != tt.param {
				t.Errorf("param = %v, want %s: %s", e.Error.Param, tt.param, body)
			}
		})
	}
	for p, f := range h.fakes {
		if n := len(f.requests()); n != 0 {
			t.Errorf("%d requests reached %s", n, p)
		}
	}
	if evs := h.usageEvents(); len(evs) != 0 {
		t.Errorf("%d usage events for refused requests", len(evs))
	}
}
