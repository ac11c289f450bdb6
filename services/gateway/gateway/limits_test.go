package gateway_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/api/events"
)

// count_tokens is free to the caller but spends the operator's provider
// quota: each key gets GATEWAY_COUNT_TOKENS_RPM of them per minute.
func TestCountTokens_IsRateLimitedPerKey(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withEnv(map[string]string{"GATEWAY_COUNT_TOKENS_RPM": "2"}))
	params := anthropic.MessageCountTokensParams{
		Model:    "claude-haiku-4-5",
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Hello"))},
	}
	for i := range 2 {
		if _, err := h.anthropic(h.key).Messages.CountTokens(context.Background(), params); err != nil {
			t.Fatalf("count_tokens %d: %v", i+1, err)
		}
	}
	_, err := h.anthropic(h.key).Messages.CountTokens(context.Background(), params)
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusTooManyRequests || apiErr.Type() != "rate_limit_error" {
		t.Fatalf("third count_tokens in a minute: %v, want a 429 rate_limit_error", err)
	}
	if ra := apiErr.Response.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After = %q", ra)
	}
	if n := len(h.fakes[catalog.Anthropic].requests()); n != 2 {
		t.Errorf("upstream got %d count_tokens, want 2", n)
	}
	// Another key has its own allowance.
	other, _, _, _ := h.newKey(events.APIKeyV1{AccountID: h.accountID})
	waitFor(t, time.Minute, "the other key", func() bool {
		resp, body := h.post("/v1/messages/count_tokens", other, `{"model":"claude-haiku-4-5","messages":[{"role":"user","content":"hi"}]}`)
		return resp.StatusCode == http.StatusOK && strings.Contains(string(body), "input_tokens")
	})
}
