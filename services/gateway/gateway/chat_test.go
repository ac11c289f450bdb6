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

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/onekey-oss/onekey/api/catalog"
)

func (h *harness) openai(key string) *openai.Client {
	c := openai.NewClient(option.WithBaseURL(h.url+"/v1"), option.WithAPIKey(key), option.WithMaxRetries(0),
		option.WithRequestTimeout(30*time.Second))
	return &c
}

func TestChat_PlainCompletionThroughOpenAISDKIsForwardedAndBilled(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	client := h.openai(h.key)
	var raw *http.Response
	resp, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model:    "gpt-5-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Say hello")},
	}, option.WithResponseInto(&raw))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Message.Content != "Hello! How can I help you today?" {
		t.Errorf("content = %q", resp.Choices[0].Message.Content)
	}
	if resp.Usage.PromptTokens != 1200 || resp.Usage.CompletionTokens != 300 {
		t.Errorf("usage passed to the client = %+v", resp.Usage)
	}
	rid := raw.Header.Get("X-Request-Id")
	if !strings.HasPrefix(rid, "req_") {
		t.Fatalf("x-request-id = %q", rid)
	}
	reqs := h.fakes[catalog.OpenAI].requests()
	if len(reqs) != 1 {
		t.Fatalf("upstream got %d requests", len(reqs))
	}
	if reqs[0].Path != "/v1/chat/completions" || reqs[0].Header.Get("Authorization") != "Bearer "+providerKeys[catalog.OpenAI] {
		t.Errorf("upstream request path %q auth %q", reqs[0].Path, reqs[0].Header.Get("Authorization"))
	}
	if strings.Contains(reqs[0].Header.Get("Authorization"), h.key) {
		t.Error("the client's onekey key reached the provider")
	}
	ev := h.waitUsage(rid)
	m := mustModel(t, "gpt-5-mini")
	want := expectCost(m, 1200-1024, 1024, 0, 300)
	if ev.InputTokens != 176 || ev.CachedInputTokens != 1024 || ev.OutputTokens != 300 || ev.ReasoningTokens != 192 {
		t.Errorf("event tokens = in %d cached %d out %d reasoning %d", ev.InputTokens, ev.CachedInputTokens, ev.OutputTokens, ev.ReasoningTokens)
	}
	if ev.CostMicros != want || want <= 0 {
		t.Errorf("cost = %d, want %d", ev.CostMicros, want)
	}
	if ev.AccountID != h.accountID || ev.KeyID != h.keyID || ev.ProjectID != h.projectID || ev.Model != "gpt-5-mini" ||
		ev.Provider != "openai" || ev.Channel != "openai" || ev.Status != 200 || ev.Streamed || ev.Estimated {
		t.Errorf("event = %+v", ev)
	}
}

func TestChat_RecordedRequestWithToolsAndImageReachesProviderByteForByte(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	body := golden(t, "openai/chat_request.json")
	resp, got := h.post("/v1/chat/completions", h.key, string(body))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, got)
	}
	reqs := h.fakes[catalog.OpenAI].requests()
	if len(reqs) != 1 || !bytes.Equal(reqs[0].Body, body) {
		t.Fatalf("upstream body differs from the client's:\n got %s\nwant %s", reqs[0].Body, body)
	}
	// Byte for byte but for the charge the gateway adds to the usage.
	if plain, n := withoutCost(got); n != 1 || !bytes.Equal(plain, golden(t, "openai/chat_tool_response.json")) {
		t.Errorf("client got a different body than the provider sent (with %d charges): %s", n, got)
	}
}

func TestChat_SDKToolCallAndImageInput(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	client := h.openai(h.key)
	resp, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "openai/gpt-5-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
			openai.TextContentPart("What is the weather where this photo was taken?"),
			openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: "data:image/png;base64,iVBORw0KGgo="}),
		})},
		Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{
			Name:       "get_current_weather",
			Parameters: openai.FunctionParameters{"type": "object", "properties": map[string]any{"location": map[string]any{"type": "string"}}},
		})},
	})
	if err != nil {
		t.Fatal(err)
	}
	tc := resp.Choices[0].Message.ToolCalls
	if len(tc) != 1 || tc[0].Function.Name != "get_current_weather" {
		t.Fatalf("tool calls = %+v", tc)
	}
	reqs := h.fakes[catalog.OpenAI].requests()
	var sent map[string]json.RawMessage
	_ = json.Unmarshal(reqs[0].Body, &sent)
	if string(sent["model"]) != `"gpt-5-mini"` {
		t.Errorf("upstream model = %s, want the provider's id", sent["model"])
	}
	if !bytes.Contains(reqs[0].Body, []byte("data:image/png;base64,iVBORw0KGgo=")) || !bytes.Contains(reqs[0].Body, []byte(`"tools"`)) {
		t.Errorf("image or tools did not reach the provider: %s", reqs[0].Body)
	}
}

func TestChat_StreamWithoutUsageOptionIsBilledButClientSeesNoUsageChunk(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	client := h.openai(h.key)
	var raw *http.Response
	stream := client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model:    "gpt-5-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Say hello")},
	}, option.WithResponseInto(&raw))
	var text strings.Builder
	chunks := 0
	for stream.Next() {
		c := stream.Current()
		chunks++
		if strings.Contains(c.RawJSON(), `"usage"`) {
			t.Errorf("client got usage it did not ask for: %s", c.RawJSON())
		}
		if len(c.Choices) > 0 {
			text.WriteString(c.Choices[0].Delta.Content)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if text.String() != "Hello there!" || chunks != 4 {
		t.Errorf("streamed %q in %d chunks, want %q in 4", text.String(), chunks, "Hello there!")
	}
	up := h.fakes[catalog.OpenAI].requests()[0].Body
	if !bytes.Contains(up, []byte(`"stream_options":{"include_usage":true}`)) {
		t.Errorf("gateway did not ask the provider for usage: %s", up)
	}
	ev := h.waitUsage(raw.Header.Get("X-Request-Id"))
	if !ev.Streamed || ev.OutputTokens != 300 || ev.CachedInputTokens != 1024 || ev.Estimated {
		t.Errorf("event = %+v", ev)
	}
	if ev.CostMicros != expectCost(mustModel(t, "gpt-5-mini"), 176, 1024, 0, 300) {
		t.Errorf("cost = %d", ev.CostMicros)
	}
}

func TestChat_StreamWithUsageOptionPassesUsageChunkThrough(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	client := h.openai(h.key)
	stream := client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model:         "gpt-5-mini",
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Say hello")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	var total int64
	for stream.Next() {
		if c := stream.Current(); c.Usage.TotalTokens > 0 {
			total = c.Usage.TotalTokens
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if total != 1500 {
		t.Errorf("client's usage total = %d, want 1500", total)
	}
	up := h.fakes[catalog.OpenAI].requests()[0].Body
	if bytes.Count(up, []byte("stream_options")) != 1 {
		t.Errorf("stream_options rewritten needlessly: %s", up)
	}
}

func TestModels_ListAndGetInOpenAIFormatWithPricing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	client := h.openai(h.key)
	page, err := client.Models.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cat, _ := catalog.Default()
	if len(page.Data) != len(cat.List()) || len(page.Data) < 36 {
		t.Fatalf("listed %d models, catalog has %d", len(page.Data), len(cat.List()))
	}
	m, err := client.Models.Get(context.Background(), "claude-sonnet-4-5-20250929")
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != "claude-sonnet-4-5" || m.OwnedBy != "anthropic" {
		t.Errorf("get by alias = %+v", m)
	}
	var extra struct {
		Provider      string `json:"provider"`
		ContextLength int    `json:"context_length"`
		Pricing       struct {
			Input       int64 `json:"input"`
			CachedInput int64 `json:"cached_input"`
			Output      int64 `json:"output"`
		} `json:"pricing"`
	}
	if err := json.Unmarshal([]byte(m.RawJSON()), &extra); err != nil {
		t.Fatal(err)
	}
	want := mustModel(t, "claude-sonnet-4-5")
	if extra.Provider != "anthropic" || extra.ContextLength != want.ContextLength || extra.Pricing.Input != int64(want.Pricing.Input) ||
		extra.Pricing.Output != int64(want.Pricing.Output) || extra.Pricing.CachedInput != int64(want.Pricing.CachedInput) {
		t.Errorf("model extras = %+v, catalog %+v", extra, want.Pricing)
	}
	// Gets with a provider prefix work too.
	if m, err := client.Models.Get(context.Background(), "google/gemini-2.5-flash"); err != nil || m.ID != "gemini-2.5-flash" {
		t.Errorf("get google/gemini-2.5-flash = %v, %v", m, err)
	}
}

func TestChat_UnknownModelIs404NamingCloseMatches(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	client := h.openai(h.key)
	_, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model:    "claude-sonet-4.5",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) {
		t.Fatalf("err = %v, want *openai.Error", err)
	}
	if apiErr.StatusCode != 404 || apiErr.Code != "model_not_found" || apiErr.Param != "model" || !strings.Contains(apiErr.Message, "claude-sonnet-4-5") {
		t.Errorf("error = %d %q %q %q", apiErr.StatusCode, apiErr.Code, apiErr.Param, apiErr.Message)
	}
	if _, err := client.Models.Get(context.Background(), "gpt-9"); !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
		t.Errorf("get unknown model err = %v", err)
	}
	if n := len(h.fakes[catalog.Anthropic].requests()); n != 0 {
		t.Errorf("an unknown model reached a provider %d times", n)
	}
}
