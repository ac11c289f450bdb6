package gateway_test

import (
	"bytes"
	"os"
	"path/filepath"
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
			if tc.provider == catalog.Anthropic && tc.api != "/v1/chat/completions" {
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
			checkGolden(t, "pairs/"+tc.name+out, got)
			if tc.billed {
				h.waitUsage(resp.Header.Get("X-Request-Id"))
			}
		})
	}
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
