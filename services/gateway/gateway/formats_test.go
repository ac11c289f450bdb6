package gateway_test

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/onekey-oss/onekey/api/catalog"
)

// TestFormats_EachClientAPIAndProviderPairMatchesItsGoldenFiles sends, for
// each pair of a client API and a provider, a recorded client request and
// checks what the provider receives (path, its own key, the body) and what
// the client gets back from the provider's recorded answer, plain and
// streamed, against golden files in testdata/pairs: <case>.request.json in,
// <case>.upstream.json and <case>.client out. UPDATE_GOLDEN=1 rewrites the
// outputs (review the diff).
func TestFormats_EachClientAPIAndProviderPairMatchesItsGoldenFiles(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, tc := range []struct {
		name     string
		api      string
		provider catalog.Provider
		path     string // the path the provider is asked on
		billed   bool
	}{
		{"chat_openai", "/v1/chat/completions", catalog.OpenAI, "/v1/chat/completions", true},
		{"chat_openai_stream", "/v1/chat/completions", catalog.OpenAI, "/v1/chat/completions", true},
		{"chat_openai_stream_usage", "/v1/chat/completions", catalog.OpenAI, "/v1/chat/completions", true},
		{"chat_anthropic", "/v1/chat/completions", catalog.Anthropic, "/v1/chat/completions", true},
		{"chat_gemini", "/v1/chat/completions", catalog.Google, "/v1beta/openai/chat/completions", true},
		{"chat_gemini_stream", "/v1/chat/completions", catalog.Google, "/v1beta/openai/chat/completions", true},
		{"chat_xai", "/v1/chat/completions", catalog.XAI, "/v1/chat/completions", true},
		{"chat_xai_stream", "/v1/chat/completions", catalog.XAI, "/v1/chat/completions", true},
		{"embeddings_openai", "/v1/embeddings", catalog.OpenAI, "/v1/embeddings", true},
		{"embeddings_gemini", "/v1/embeddings", catalog.Google, "/v1beta/openai/embeddings", true},
		{"messages_anthropic", "/v1/messages", catalog.Anthropic, "/v1/messages", true},
		{"messages_anthropic_stream", "/v1/messages", catalog.Anthropic, "/v1/messages", true},
		{"count_tokens_anthropic", "/v1/messages/count_tokens", catalog.Anthropic, "/v1/messages/count_tokens", false},
		{"responses_openai", "/v1/responses", catalog.OpenAI, "/v1/responses", true},
		{"responses_openai_stream", "/v1/responses", catalog.OpenAI, "/v1/responses", true},
		{"responses_xai", "/v1/responses", catalog.XAI, "/v1/responses", true},
		{"responses_xai_stream", "/v1/responses", catalog.XAI, "/v1/responses", true},
		{"responses_anthropic", "/v1/responses", catalog.Anthropic, "/v1/messages", true},
		{"responses_anthropic_stream", "/v1/responses", catalog.Anthropic, "/v1/messages", true},
		{"responses_gemini", "/v1/responses", catalog.Google, "/v1beta/openai/chat/completions", true},
		{"responses_gemini_stream", "/v1/responses", catalog.Google, "/v1beta/openai/chat/completions", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := golden(t, "pairs/"+tc.name+".request.json")
			fake := h.fakes[tc.provider]
			before := len(fake.requests())
			resp, got := h.post(tc.api, h.key, string(in))
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, got)
			}
			reqs := fake.requests()
			if len(reqs) != before+1 {
				t.Fatalf("provider got %d requests, want 1", len(reqs)-before)
			}
			sent := reqs[len(reqs)-1]
			if sent.Path != tc.path {
				t.Errorf("upstream path %s, want %s", sent.Path, tc.path)
			}
			if tc.provider == catalog.Anthropic && tc.api != "/v1/chat/completions" && tc.api != "/v1/responses" || tc.path == "/v1/messages" {
				if k := sent.Header.Get("X-Api-Key"); k != providerKeys[tc.provider] {
					t.Errorf("x-api-key %q, want the provider's key", k)
				}
				if v := sent.Header.Get("Anthropic-Version"); v == "" {
					t.Error("no anthropic-version sent")
				}
			} else if a := sent.Header.Get("Authorization"); a != "Bearer "+providerKeys[tc.provider] {
				t.Errorf("Authorization %q, want the provider's key", a)
			}
			out := ".client.json"
			if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
				out = ".client.sse"
			}
			checkGolden(t, "pairs/"+tc.name+".upstream.json", sent.Body)
			if tc.api == "/v1/responses" {
				got = stableResponseIDs(got)
			}
			checkGolden(t, "pairs/"+tc.name+out, got)
			if tc.billed {
				h.waitUsage(resp.Header.Get("X-Request-Id"))
			}
		})
	}
}

var (
	gatewayResponseID = regexp.MustCompile(`\bresp_[0-9a-z]{26}\b`)
	gatewayItemID     = regexp.MustCompile(`\b(msg|fc|rs)_[0-9a-z]{26}[0-9]+\b`)
	createdAt         = regexp.MustCompile(`"created_at":[0-9]+`)
)

// stableResponseIDs replaces what differs in every translated Responses
// answer: the ids the gateway makes and the creation time.
func stableResponseIDs(b []byte) []byte {
	b = gatewayResponseID.ReplaceAll(b, []byte("resp_ID"))
	b = gatewayItemID.ReplaceAll(b, []byte("${1}_ID"))
	return createdAt.ReplaceAll(b, []byte(`"created_at":0`))
}

// checkGolden compares got with the golden file, or writes it when
// UPDATE_GOLDEN is set.
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	file := filepath.Join("testdata", path)
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("golden file: %v (UPDATE_GOLDEN=1 writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n got %s\nwant %s", path, got, want)
	}
}
