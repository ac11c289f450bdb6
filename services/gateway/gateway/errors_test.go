package gateway_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/services/gateway/gateway"
)

func TestErrors_EveryClassSurfacesAsTheOpenAISDKTypedErrorWithRequestID(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String() + "/v1"
	ln.Close()
	h := newHarness(t, withConfig(func(c *gateway.Config) {
		c.MaxBodyBytes = 32 << 10
		// xAI is unreachable: every attempt fails to connect.
		for i := range c.Channels {
			if c.Channels[i].Provider == catalog.XAI {
				c.Channels[i].BaseURL = dead
			}
		}
	}))
	var hits atomic.Int64
	h.fakes[catalog.Google].setHandle(failWith(http.StatusInternalServerError, &hits))
	poor, _, poorAcc, _ := h.newKey(events.APIKeyV1{})
	h.setBalance(poorAcc, 0, 0)
	limited, _, limitedAcc, _ := h.newKey(events.APIKeyV1{RPM: 1})
	h.setBalance(limitedAcc, 1_000_000, 0)
	msg := func(s string) []openai.ChatCompletionMessageParamUnion {
		return []openai.ChatCompletionMessageParamUnion{openai.UserMessage(s)}
	}
	// Let the rate-limited key use its one request, once its balance is
	// known (a refused request also counts against the limit).
	waitFor(t, time.Minute, "limited key's balance", func() bool { return h.credits(limited).BalanceMicros == 1_000_000 })
	waitFor(t, time.Minute, "limited key", func() bool {
		_, err := h.openai(limited).Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "gpt-5-nano", Messages: msg("hi")})
		return err == nil
	})
	waitFor(t, time.Minute, "poor key", func() bool {
		_, err := h.openai(poor).Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "gpt-5-nano", Messages: msg("hi")})
		var e *openai.Error
		return errors.As(err, &e) && e.StatusCode == 402
	})
	cases := []struct {
		name   string
		key    string
		params openai.ChatCompletionNewParams
		status int
		code   string
	}{
		{"bad request", h.key, openai.ChatCompletionNewParams{Model: "text-embedding-3-small", Messages: msg("hi")}, 400, ""},
		{"unknown key", "sk-onekey-00000000000000000000000000000000AAAAAA", openai.ChatCompletionNewParams{Model: "gpt-5-nano", Messages: msg("hi")}, 401, "invalid_api_key"},
		{"insufficient credit", poor, openai.ChatCompletionNewParams{Model: "gpt-5-nano", Messages: msg("hi")}, 402, "insufficient_credit"},
		{"unknown model", h.key, openai.ChatCompletionNewParams{Model: "gpt-4.5-turbo-x", Messages: msg("hi")}, 404, "model_not_found"},
		{"too large", h.key, openai.ChatCompletionNewParams{Model: "gpt-5-nano", Messages: msg(strings.Repeat("z", 40<<10))}, 413, "request_too_large"},
		{"rate limited", limited, openai.ChatCompletionNewParams{Model: "gpt-5-nano", Messages: msg("hi")}, 429, "rate_limit_exceeded"},
		{"provider 500", h.key, openai.ChatCompletionNewParams{Model: "gemini-2.5-flash", Messages: msg("hi")}, 500, ""},
		{"provider unreachable", h.key, openai.ChatCompletionNewParams{Model: "grok-4.3", Messages: msg("hi")}, 502, "upstream_unavailable"},
	}
	for _, tc := range cases {
		var raw *http.Response
		_, err := h.openai(tc.key).Chat.Completions.New(context.Background(), tc.params, option.WithResponseInto(&raw))
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) {
			t.Errorf("%s: err = %v, want *openai.Error", tc.name, err)
			continue
		}
		if apiErr.StatusCode != tc.status || (tc.code != "" && apiErr.Code != tc.code) || apiErr.Message == "" || apiErr.Type == "" {
			t.Errorf("%s: %d type %q code %q message %q; want %d %q", tc.name, apiErr.StatusCode, apiErr.Type, apiErr.Code, apiErr.Message, tc.status, tc.code)
		}
		if apiErr.Response == nil || !strings.HasPrefix(apiErr.Response.Header.Get("X-Request-Id"), "req_") {
			t.Errorf("%s: no x-request-id on the error", tc.name)
		}
	}
	// Other methods answer in the same shape.
	req, _ := http.NewRequest(http.MethodGet, h.url+"/v1/chat/completions", nil)
	mresp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	mresp.Body.Close()
	if mresp.StatusCode != http.StatusMethodNotAllowed || mresp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("GET on chat completions: %d %s", mresp.StatusCode, mresp.Header.Get("Content-Type"))
	}
	// Unknown paths answer in the same shape.
	resp, body := h.post("/v1/completions-nope", h.key, "{}")
	if resp.StatusCode != 404 || !strings.Contains(string(body), `"error"`) || resp.Header.Get("X-Request-Id") == "" {
		t.Errorf("unknown path: %d %s", resp.StatusCode, body)
	}
}
