package gateway_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/openai/openai-go/v3"

	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/services/gateway/demo"
	"github.com/onekey-oss/onekey/services/gateway/gateway"
)

func TestDemo_UpstreamAnswersOpenAIAndAnthropicSDKsWithALabelledReply(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(demo.Handler())
	t.Cleanup(up.Close)
	h := newHarness(t, withConfig(func(c *gateway.Config) {
		c.Channels = nil
		for _, p := range []catalog.Provider{catalog.OpenAI, catalog.Anthropic, catalog.Google, catalog.XAI} {
			url := up.URL + "/v1"
			if p == catalog.Anthropic {
				url = up.URL
			}
			c.Channels = append(c.Channels, gateway.ChannelConfig{Name: "demo-" + string(p), Provider: p, BaseURL: url, APIKey: "demo"})
		}
	}))
	oc := h.openai(h.key)
	resp, err := oc.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "gpt-5-mini", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Say hello")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Message.Content != demo.Reply {
		t.Errorf("reply %q", resp.Choices[0].Message.Content)
	}
	stream := oc.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model: "gemini-2.5-flash", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Say hello")},
	})
	var text strings.Builder
	for stream.Next() {
		if c := stream.Current(); len(c.Choices) > 0 {
			text.WriteString(c.Choices[0].Delta.Content)
		}
	}
	if err := stream.Err(); err != nil || text.String() != demo.Reply {
		t.Errorf("streamed %q, %v", text.String(), err)
	}
	ac := h.anthropic(h.key)
	as := ac.Messages.NewStreaming(context.Background(), anthropic.MessageNewParams{
		Model: "claude-haiku-4-5", MaxTokens: 100, Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))},
	})
	var msg anthropic.Message
	for as.Next() {
		_ = msg.Accumulate(as.Current())
	}
	if err := as.Err(); err != nil || len(msg.Content) != 1 || msg.Content[0].Text != demo.Reply {
		t.Errorf("anthropic stream: %+v, %v", msg.Content, err)
	}
	waitFor(t, 60e9, "three billed demo requests", func() bool { return len(h.usageEvents()) == 3 })
	for _, ev := range h.usageEvents() {
		if ev.OutputTokens <= 0 || ev.CostMicros <= 0 || ev.Estimated {
			t.Errorf("event %+v", ev)
		}
	}
}
