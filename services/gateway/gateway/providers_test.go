package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/onekey-oss/onekey/api/catalog"
)

func (h *harness) anthropic(key string, opts ...aoption.RequestOption) *anthropic.Client {
	base := []aoption.RequestOption{aoption.WithBaseURL(h.url), aoption.WithMaxRetries(0), aoption.WithRequestTimeout(30 * time.Second)}
	if key != "" {
		base = append(base, aoption.WithAPIKey(key))
	}
	c := anthropic.NewClient(append(base, opts...)...)
	return &c
}

func TestMessages_AnthropicSDKPlainIsForwardedNativelyAndBilledWithCacheTokens(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	client := h.anthropic(h.key)
	var raw *http.Response
	msg, err := client.Messages.New(context.Background(), anthropic.MessageNewParams{
		Model: "claude-sonnet-4-5", MaxTokens: 1024,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Hello"))},
	}, aoption.WithResponseInto(&raw))
	if err != nil {
		t.Fatal(err)
	}
	if msg.Content[0].Text != "Hello! How can I help?" || msg.Usage.CacheReadInputTokens != 4096 {
		t.Errorf("message = %+v", msg)
	}
	reqs := h.fakes[catalog.Anthropic].requests()
	if len(reqs) != 1 || reqs[0].Path != "/v1/messages" || reqs[0].Header.Get("X-Api-Key") != providerKeys[catalog.Anthropic] ||
		reqs[0].Header.Get("Anthropic-Version") == "" || reqs[0].Header.Get("Authorization") != "" {
		t.Fatalf("upstream request = %+v", reqs)
	}
	var sent map[string]json.RawMessage
	_ = json.Unmarshal(reqs[0].Body, &sent)
	if string(sent["model"]) != `"claude-sonnet-4-5-20250929"` {
		t.Errorf("model sent upstream = %s, want the provider's dated id", sent["model"])
	}
	ev := h.waitUsage(raw.Header.Get("X-Request-Id"))
	m := mustModel(t, "claude-sonnet-4-5")
	if ev.InputTokens != 2095 || ev.CachedInputTokens != 4096 || ev.CacheWriteTokens != 512 || ev.OutputTokens != 503 || ev.Provider != "anthropic" {
		t.Errorf("event = %+v", ev)
	}
	if want := expectCost(m, 2095, 4096, 512, 503); ev.CostMicros != want {
		t.Errorf("cost %d, want %d", ev.CostMicros, want)
	}
}

func TestMessages_AnthropicSDKStreamReadsMessageStartAndDeltaUsage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	// Claude Code style: the key as a bearer token, a dated model id.
	client := h.anthropic("", aoption.WithAuthToken(h.key))
	var raw *http.Response
	stream := client.Messages.NewStreaming(context.Background(), anthropic.MessageNewParams{
		Model: "claude-sonnet-4-5-20250929", MaxTokens: 1024,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Hello"))},
	}, aoption.WithResponseInto(&raw))
	var msg anthropic.Message
	for stream.Next() {
		if err := msg.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if len(msg.Content) != 1 || msg.Content[0].Text != "Hello!" || msg.Usage.OutputTokens != 503 {
		t.Errorf("accumulated = %+v", msg)
	}
	ev := h.waitUsage(raw.Header.Get("X-Request-Id"))
	if !ev.Streamed || ev.InputTokens != 2095 || ev.CachedInputTokens != 4096 || ev.CacheWriteTokens != 512 || ev.OutputTokens != 503 || ev.Estimated {
		t.Errorf("event = %+v", ev)
	}
	want := expectCost(mustModel(t, "claude-sonnet-4-5"), 2095, 4096, 512, 503)
	if ev.CostMicros != want {
		t.Errorf("cost %d, want %d", ev.CostMicros, want)
	}
	// The SSE bytes reach the client as the provider sent them.
	if got := h.fakes[catalog.Anthropic].requests()[0].Body; !bytes.Contains(got, []byte(`"stream":true`)) || bytes.Contains(got, []byte("stream_options")) {
		t.Errorf("native stream body changed beyond the model: %s", got)
	}
}

func TestMessages_CountTokensIsForwardedAndNotBilled(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	client := h.anthropic(h.key)
	n, err := client.Messages.CountTokens(context.Background(), anthropic.MessageCountTokensParams{
		Model:    "claude-haiku-4-5",
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Hello"))},
	})
	if err != nil {
		t.Fatal(err)
	}
	if n.InputTokens != 2095 {
		t.Errorf("input tokens = %d", n.InputTokens)
	}
	reqs := h.fakes[catalog.Anthropic].requests()
	if len(reqs) != 1 || reqs[0].Path != "/v1/messages/count_tokens" {
		t.Fatalf("upstream = %+v", reqs)
	}
	time.Sleep(200 * time.Millisecond) // a usage event would have been published by now
	if evs := h.usageEvents(); len(evs) != 0 {
		t.Errorf("count_tokens produced %d usage events", len(evs))
	}
}

func TestMessages_ErrorsAreInAnthropicShapeAndTyped(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	params := anthropic.MessageNewParams{Model: "claude-opus-9-9", MaxTokens: 10,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Hello"))}}
	var apiErr *anthropic.Error
	good, bad := h.anthropic(h.key), h.anthropic("sk-onekey-nope")
	_, err := good.Messages.New(context.Background(), params)
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Type() != "not_found_error" || !strings.Contains(apiErr.Message, "claude-opus-9-9") {
		t.Fatalf("unknown model: %v", err)
	}
	if apiErr.RequestID == "" && apiErr.Response.Header.Get("X-Request-Id") == "" {
		t.Errorf("no request id on the error")
	}
	_, err = bad.Messages.New(context.Background(), params)
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 || apiErr.Type() != "authentication_error" {
		t.Fatalf("bad key: %v", err)
	}
	params.Model = "gpt-5.2"
	_, err = good.Messages.New(context.Background(), params)
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Type() != "invalid_request_error" {
		t.Fatalf("non-Anthropic model on /v1/messages: %v", err)
	}
}

func TestChat_AnthropicModelGoesThroughItsOpenAICompatibleEndpoint(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	oc := h.openai(h.key)
	var raw *http.Response
	resp, err := oc.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "anthropic/claude-sonnet-4.5", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	}, option.WithResponseInto(&raw))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Message.Content != "Hello! How can I help?" {
		t.Errorf("content %q", resp.Choices[0].Message.Content)
	}
	reqs := h.fakes[catalog.Anthropic].requests()
	if len(reqs) != 1 || reqs[0].Path != "/v1/chat/completions" || reqs[0].Header.Get("Authorization") != "Bearer "+providerKeys[catalog.Anthropic] {
		t.Fatalf("upstream = %+v", reqs)
	}
	ev := h.waitUsage(raw.Header.Get("X-Request-Id"))
	if ev.InputTokens != 2095 || ev.OutputTokens != 503 || ev.CostMicros != expectCost(mustModel(t, "claude-sonnet-4-5"), 2095, 0, 0, 503) {
		t.Errorf("event = %+v", ev)
	}
}

func TestChat_GeminiStreamUsageInsideLastChoiceChunkIsCutOutAndThinkingBilled(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	oc := h.openai(h.key)
	var raw *http.Response
	stream := oc.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model: "gemini-2.5-flash", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	}, option.WithResponseInto(&raw))
	var text strings.Builder
	var finish string
	for stream.Next() {
		c := stream.Current()
		if strings.Contains(c.RawJSON(), `"usage"`) {
			t.Errorf("client got usage it did not ask for: %s", c.RawJSON())
		}
		if len(c.Choices) > 0 {
			text.WriteString(c.Choices[0].Delta.Content)
			if c.Choices[0].FinishReason != "" {
				finish = c.Choices[0].FinishReason
			}
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if text.String() != "Hello there!" || finish != "stop" {
		t.Errorf("text %q finish %q: the last chunk's content was lost with its usage", text.String(), finish)
	}
	reqs := h.fakes[catalog.Google].requests()
	if reqs[0].Path != "/v1beta/openai/chat/completions" || reqs[0].Header.Get("Authorization") != "Bearer "+providerKeys[catalog.Google] {
		t.Errorf("upstream = %s %s", reqs[0].Path, reqs[0].Header.Get("Authorization"))
	}
	ev := h.waitUsage(raw.Header.Get("X-Request-Id"))
	// total 1130 = prompt 900 + completion 40 + 190 thinking tokens.
	if ev.InputTokens != 900 || ev.OutputTokens != 230 || ev.CostMicros != expectCost(mustModel(t, "gemini-2.5-flash"), 900, 0, 0, 230) {
		t.Errorf("event = %+v", ev)
	}
}

func TestChat_GeminiPlainWithCachedTokens(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	oc := h.openai(h.key)
	var raw *http.Response
	if _, err := oc.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "google/gemini-2.5-flash", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	}, option.WithResponseInto(&raw)); err != nil {
		t.Fatal(err)
	}
	ev := h.waitUsage(raw.Header.Get("X-Request-Id"))
	if ev.InputTokens != 644 || ev.CachedInputTokens != 256 || ev.OutputTokens != 230 ||
		ev.CostMicros != expectCost(mustModel(t, "gemini-2.5-flash"), 644, 256, 0, 230) {
		t.Errorf("event = %+v", ev)
	}
}

func TestChat_XAIReasoningTokensOutsideCompletionTokensAreBilled(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	oc := h.openai(h.key)
	for _, streamed := range []bool{false, true} {
		var raw *http.Response
		params := openai.ChatCompletionNewParams{Model: "grok-4", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}
		if streamed {
			s := oc.Chat.Completions.NewStreaming(context.Background(), params, option.WithResponseInto(&raw))
			for s.Next() {
			}
			if err := s.Err(); err != nil {
				t.Fatal(err)
			}
		} else if _, err := oc.Chat.Completions.New(context.Background(), params, option.WithResponseInto(&raw)); err != nil {
			t.Fatal(err)
		}
		ev := h.waitUsage(raw.Header.Get("X-Request-Id"))
		// completion 60 + reasoning 320 = total 1180 - prompt 800.
		if ev.InputTokens != 288 || ev.CachedInputTokens != 512 || ev.OutputTokens != 380 || ev.ReasoningTokens != 320 ||
			ev.CostMicros != expectCost(mustModel(t, "grok-4"), 288, 512, 0, 380) || ev.Streamed != streamed {
			t.Errorf("streamed=%v event = %+v", streamed, ev)
		}
	}
	reqs := h.fakes[catalog.XAI].requests()
	if reqs[0].Path != "/v1/chat/completions" || reqs[0].Header.Get("Authorization") != "Bearer "+providerKeys[catalog.XAI] {
		t.Errorf("upstream = %s %s", reqs[0].Path, reqs[0].Header.Get("Authorization"))
	}
}

func TestEmbeddings_OpenAIAndGeminiThroughSDK(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	oc := h.openai(h.key)
	for _, tc := range []struct {
		model    string
		provider catalog.Provider
		path     string
		tokens   int64
	}{
		{"text-embedding-3-small", catalog.OpenAI, "/v1/embeddings", 8},
		{"gemini-embedding-001", catalog.Google, "/v1beta/openai/embeddings", 6},
	} {
		var raw *http.Response
		resp, err := oc.Embeddings.New(context.Background(), openai.EmbeddingNewParams{
			Model: tc.model, Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("The food was delicious")},
		}, option.WithResponseInto(&raw))
		if err != nil {
			t.Fatalf("%s: %v", tc.model, err)
		}
		if len(resp.Data) != 1 || len(resp.Data[0].Embedding) < 3 {
			t.Errorf("%s: data = %+v", tc.model, resp.Data)
		}
		reqs := h.fakes[tc.provider].requests()
		if reqs[len(reqs)-1].Path != tc.path {
			t.Errorf("%s: upstream path %s", tc.model, reqs[len(reqs)-1].Path)
		}
		ev := h.waitUsage(raw.Header.Get("X-Request-Id"))
		if ev.InputTokens != tc.tokens || ev.OutputTokens != 0 || ev.CostMicros != expectCost(mustModel(t, tc.model), tc.tokens, 0, 0, 0) {
			t.Errorf("%s: event = %+v", tc.model, ev)
		}
	}
	// A chat model is refused on /v1/embeddings.
	_, err := oc.Embeddings.New(context.Background(), openai.EmbeddingNewParams{
		Model: "gpt-5.2", Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("x")},
	})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 {
		t.Errorf("chat model on embeddings: %v", err)
	}
}

func TestMessages_RecordedRequestReachesAnthropicWithOnlyTheModelMapped(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	body := golden(t, "anthropic/messages_request.json")
	resp, got := h.post("/v1/messages?beta=true", "", string(body), "X-Api-Key", h.key, "Anthropic-Version", "2023-06-01", "Anthropic-Beta", "prompt-caching-2024-07-31")
	// Byte for byte but for the charge the gateway adds to message_delta's
	// usage.
	if plain, n := withoutCost(got); resp.StatusCode != 200 || n != 1 || !bytes.Equal(plain, golden(t, "anthropic/messages_stream.sse")) {
		t.Fatalf("status %d; the client did not get the provider's stream byte for byte (but for %d charges):\n%s", resp.StatusCode, n, got)
	}
	reqs := h.fakes[catalog.Anthropic].requests()
	want := bytes.Replace(body, []byte(`"model":"claude-sonnet-4-5"`), []byte(`"model":"claude-sonnet-4-5-20250929"`), 1)
	if len(reqs) != 1 || !bytes.Equal(reqs[0].Body, want) {
		t.Fatalf("upstream body:\n got %s\nwant %s", reqs[0].Body, want)
	}
	if reqs[0].Query != "beta=true" || reqs[0].Header.Get("Anthropic-Beta") != "prompt-caching-2024-07-31" || reqs[0].Header.Get("Anthropic-Version") != "2023-06-01" {
		t.Errorf("upstream query %q headers %v", reqs[0].Query, reqs[0].Header)
	}
}
