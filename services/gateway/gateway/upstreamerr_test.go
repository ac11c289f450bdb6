package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/onekey-oss/onekey/api/catalog"
)

// answerWith makes a fake upstream answer every request with status and
// body, and the provider's account headers.
func answerWith(status int, contentType, body string) func(http.ResponseWriter, *http.Request, []byte) bool {
	return func(w http.ResponseWriter, _ *http.Request, _ []byte) bool {
		h := w.Header()
		h.Set("Content-Type", contentType)
		h.Set("Retry-After", "2")
		h.Set("Openai-Organization", "acme-operator-org")
		h.Set("Openai-Project", "proj_Op3rat0rProj3ct")
		h.Set("Anthropic-Organization-Id", "4f1b7f9e-2f6a-4c1e-9c1e-0d1f2e3a4b5c")
		h.Set("X-Ratelimit-Limit-Tokens", "30000")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
		return true
	}
}

// The operator's provider account never reaches a client through an error:
// an upstream error is answered with its status, type and code, and its
// message without organization, project, user or request ids, keys or
// e-mail addresses, and the official SDKs still parse it.
func TestErrors_ProviderErrorsReachClientsWithoutTheOperatorsAccount(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	secrets := []string{"org-abc123", "proj_Xy12Ab34Cd56", "ops@operator.example", "sk-proj-", "****abcd", "acme-operator-org",
		"4f1b7f9e-2f6a-4c1e-9c1e-0d1f2e3a4b5c", "req_011CSHoEeqs5C35K2UUqR7Fy", "user-Qz9", "Acme Labs"}
	noSecrets := func(t *testing.T, resp *http.Response, body string) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(body, s) {
				t.Errorf("the client got %q: %s", s, body)
			}
		}
		for _, k := range []string{"Openai-Organization", "Openai-Project", "Anthropic-Organization-Id", "X-Ratelimit-Limit-Tokens"} {
			if v := resp.Header.Get(k); v != "" {
				t.Errorf("the client got header %s: %s", k, v)
			}
		}
		if resp.Header.Get("Retry-After") != "2" || !strings.HasPrefix(resp.Header.Get("X-Request-Id"), "req_") {
			t.Errorf("headers = %v", resp.Header)
		}
	}

	t.Run("OpenAI 429 through the OpenAI SDK", func(t *testing.T) {
		h.fakes[catalog.OpenAI].setHandle(answerWith(429, "application/json", `{"error":{"message":"Rate limit reached for gpt-5-mini in organization org-abc123 on tokens per min (TPM): Limit 30000, Used 30000, Requested 20. Please try again in 2s. Contact ops@operator.example; project proj_Xy12Ab34Cd56.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}`))
		var raw *http.Response
		_, err := h.openai(h.key).Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
			Model: "gpt-5-mini", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
		}, option.WithResponseInto(&raw))
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) {
			t.Fatalf("err = %v, want *openai.Error", err)
		}
		if apiErr.StatusCode != 429 || apiErr.Type != "tokens" || apiErr.Code != "rate_limit_exceeded" ||
			!strings.Contains(apiErr.Message, "Rate limit reached for gpt-5-mini on tokens per min (TPM)") {
			t.Errorf("error = %d %q %q %q", apiErr.StatusCode, apiErr.Type, apiErr.Code, apiErr.Message)
		}
		noSecrets(t, apiErr.Response, apiErr.RawJSON())
	})

	t.Run("OpenAI 401 with the operator's masked key", func(t *testing.T) {
		h.fakes[catalog.OpenAI].setHandle(answerWith(401, "application/json", `{"error":{"message":"Incorrect API key provided: sk-proj-********************abcd. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`))
		resp, body := h.post("/v1/chat/completions", h.key, plainChat)
		var e struct {
			Error struct{ Message, Type, Code string }
		}
		if err := json.Unmarshal(body, &e); err != nil || resp.StatusCode != 401 || e.Error.Code != "invalid_api_key" || e.Error.Type != "invalid_request_error" {
			t.Errorf("%d %s", resp.StatusCode, body)
		}
		noSecrets(t, resp, string(body))
	})

	t.Run("OpenAI 403 naming the organization and a user", func(t *testing.T) {
		h.fakes[catalog.OpenAI].setHandle(answerWith(403, "application/json", `{"error":{"message":"User user-Qz9fK2mLp0 of organization 'Acme Labs' does not have access to model gpt-5-mini.","type":"invalid_request_error","param":"model","code":"model_not_found"}}`))
		resp, body := h.post("/v1/chat/completions", h.key, plainChat)
		if resp.StatusCode != 403 || !strings.Contains(string(body), "model_not_found") || !strings.Contains(string(body), "does not have access to model gpt-5-mini") {
			t.Errorf("%d %s", resp.StatusCode, body)
		}
		noSecrets(t, resp, string(body))
	})

	t.Run("Anthropic 429 through the Anthropic SDK", func(t *testing.T) {
		h.fakes[catalog.Anthropic].setHandle(answerWith(429, "application/json", `{"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed the rate limit for your organization (4f1b7f9e-2f6a-4c1e-9c1e-0d1f2e3a4b5c) of 50 requests per minute."},"request_id":"req_011CSHoEeqs5C35K2UUqR7Fy"}`))
		var raw *http.Response
		_, err := h.anthropic(h.key).Messages.New(context.Background(), anthropic.MessageNewParams{
			Model: "claude-haiku-4-5", MaxTokens: 10,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Hello"))},
		}, aoption.WithResponseInto(&raw))
		var apiErr *anthropic.Error
		if !errors.As(err, &apiErr) {
			t.Fatalf("err = %v, want *anthropic.Error", err)
		}
		if apiErr.StatusCode != 429 || apiErr.Type() != "rate_limit_error" || !strings.Contains(apiErr.RawJSON(), "50 requests per minute") {
			t.Errorf("error = %d %q %s", apiErr.StatusCode, apiErr.Type(), apiErr.RawJSON())
		}
		noSecrets(t, apiErr.Response, apiErr.RawJSON())
	})

	t.Run("a provider's HTML error page", func(t *testing.T) {
		h.fakes[catalog.Anthropic].setHandle(answerWith(413, "text/html", `<html><body>413 Request Entity Too Large (account ops@operator.example)</body></html>`))
		resp, body := h.post("/v1/messages", h.key, `{"model":"claude-haiku-4-5","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`)
		var e struct {
			Type  string
			Error struct{ Type, Message string }
		}
		if err := json.Unmarshal(body, &e); err != nil || resp.StatusCode != 413 || e.Type != "error" || e.Error.Type != "request_too_large" || e.Error.Message == "" {
			t.Errorf("%d %s", resp.StatusCode, body)
		}
		noSecrets(t, resp, string(body))
	})
}
