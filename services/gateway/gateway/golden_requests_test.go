package gateway_test

import (
	"bytes"
	"testing"

	"github.com/onekey-oss/onekey/api/catalog"
)

// TestChat_RecordedGeminiAndXAIRequestsReachTheProviderByteForByte sends
// recorded requests in each provider's own dialect (Gemini's reasoning_effort
// and extra_body thinking config, xAI's search_parameters), plain and
// streamed with usage asked for, and checks that the provider receives the
// client's bytes unchanged on its own path with its own key, and that the
// client receives the provider's bytes unchanged but for the request's
// charge in the usage.
func TestChat_RecordedGeminiAndXAIRequestsReachTheProviderByteForByte(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, tc := range []struct {
		provider catalog.Provider
		dir      string
		request  string
		path     string
		response string
	}{
		{catalog.Google, "gemini", "chat_request.json", "/v1beta/openai/chat/completions", "chat_response.json"},
		{catalog.Google, "gemini", "chat_stream_request.json", "/v1beta/openai/chat/completions", "chat_stream.sse"},
		{catalog.XAI, "xai", "chat_request.json", "/v1/chat/completions", "chat_response.json"},
		{catalog.XAI, "xai", "chat_stream_request.json", "/v1/chat/completions", "chat_stream.sse"},
	} {
		body := golden(t, tc.dir+"/"+tc.request)
		before := len(h.fakes[tc.provider].requests())
		resp, got := h.post("/v1/chat/completions", h.key, string(body))
		if resp.StatusCode != 200 {
			t.Fatalf("%s/%s: status %d: %s", tc.dir, tc.request, resp.StatusCode, got)
		}
		reqs := h.fakes[tc.provider].requests()
		if len(reqs) != before+1 {
			t.Fatalf("%s/%s: provider got %d requests, want 1", tc.dir, tc.request, len(reqs)-before)
		}
		sent := reqs[len(reqs)-1]
		if sent.Path != tc.path {
			t.Errorf("%s/%s: path %s, want %s", tc.dir, tc.request, sent.Path, tc.path)
		}
		if auth := sent.Header.Get("Authorization"); auth != "Bearer "+providerKeys[tc.provider] {
			t.Errorf("%s/%s: Authorization %q, want the provider's key", tc.dir, tc.request, auth)
		}
		if !bytes.Equal(sent.Body, body) {
			t.Errorf("%s/%s: provider body differs from the client's:\n got %s\nwant %s", tc.dir, tc.request, sent.Body, body)
		}
		// Byte for byte but for the charge the gateway adds to the usage.
		want := golden(t, tc.dir+"/"+tc.response)
		if plain, n := withoutCost(got); n != 1 || !bytes.Equal(plain, want) {
			t.Errorf("%s/%s: client got a different body than the provider sent (but for %d charges):\n got %s\nwant %s", tc.dir, tc.request, n, got, want)
		}
		h.waitUsage(resp.Header.Get("X-Request-Id"))
	}
}
