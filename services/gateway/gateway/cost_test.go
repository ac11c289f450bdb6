package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/respjson"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
)

// costMembers are the members the gateway adds to an answer's usage.
var costMembers = regexp.MustCompile(`,?"cost":[0-9.]+,"cost_micros":[0-9]+(,"free":true)?`)

// withoutCost is an answer without the charge the gateway added to its
// usage (once per usage object), and how many it removed: the rest of the
// answer reaches the client as the provider sent it.
func withoutCost(b []byte) ([]byte, int) {
	n := len(costMembers.FindAllIndex(b, -1))
	return costMembers.ReplaceAll(b, nil), n
}

// answerCost is the charge an answer states in its usage.
type answerCost struct {
	cost   string // usage.cost as sent: a decimal number of USD
	micros int64  // usage.cost_micros
	free   bool   // usage.free
	header string // x-onekey-cost-micros ("" on a stream)
}

// costFromFields reads the charge out of the extra fields the SDKs keep
// of a usage object.
func costFromFields(t *testing.T, extra map[string]respjson.Field) answerCost {
	t.Helper()
	var c answerCost
	f, ok := extra["cost"]
	if !ok || f.Raw() == "" || f.Raw() == "null" {
		t.Fatalf("usage has no cost (fields %v)", keys(extra))
	}
	c.cost = f.Raw()
	m, ok := extra["cost_micros"]
	if !ok || m.Raw() == "" {
		t.Fatal("usage has no cost_micros")
	}
	n, err := strconv.ParseInt(m.Raw(), 10, 64)
	if err != nil {
		t.Fatalf("cost_micros %q is not an integer", m.Raw())
	}
	c.micros = n
	if fr, ok := extra["free"]; ok {
		c.free = fr.Raw() == "true"
	}
	return c
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// costFromAnthropicFields is costFromFields for the Anthropic SDK's fields.
func costFromAnthropicFields(t *testing.T, raw string) answerCost {
	t.Helper()
	var u map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &u); err != nil {
		t.Fatalf("usage %s: %v", raw, err)
	}
	var c answerCost
	if u["cost"] == nil || u["cost_micros"] == nil {
		t.Fatalf("usage has no cost: %s", raw)
	}
	c.cost = string(u["cost"])
	if err := json.Unmarshal(u["cost_micros"], &c.micros); err != nil {
		t.Fatalf("cost_micros %s: %v", u["cost_micros"], err)
	}
	c.free = string(u["free"]) == "true"
	return c
}

// checkCost asserts that the answer states exactly what the usage event
// charged: cost_micros, cost (decimal USD, the same amount) and, where
// given, the header.
func checkCost(t *testing.T, got answerCost, ev events.UsageRecordedV1) {
	t.Helper()
	want := ev.CostMicros
	if ev.Free {
		want = 0
	}
	if got.micros != int64(want) {
		t.Errorf("answer cost_micros %d, usage event charged %d (cost %d, free %v)", got.micros, want, ev.CostMicros, ev.Free)
	}
	if strings.ContainsAny(got.cost, "eE\"") {
		t.Errorf("cost %s is not a plain decimal number", got.cost)
	}
	if d, err := money.Parse(got.cost); err != nil || d != want {
		t.Errorf("answer cost %s = %v micro-USD (%v), usage event charged %d", got.cost, int64(d), err, want)
	}
	if got.free != ev.Free {
		t.Errorf("answer free %v, usage event free %v", got.free, ev.Free)
	}
	if got.header != "" && got.header != strconv.FormatInt(int64(want), 10) {
		t.Errorf("x-onekey-cost-micros %s, usage event charged %d", got.header, want)
	}
}

// TestCost_EveryAnswerStatesTheChargeOfItsUsageEvent checks, for chat
// completions, embeddings and Messages, plain and streamed, through the
// official SDKs (which must still parse every answer), that the answer's
// usage carries cost and cost_micros equal to the usage event's charge,
// and a plain answer the x-onekey-cost-micros header too.
func TestCost_EveryAnswerStatesTheChargeOfItsUsageEvent(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	oa := h.openai(h.key)
	an := h.anthropic(h.key)
	hello := []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Say hello")}

	t.Run("chat", func(t *testing.T) {
		var raw *http.Response
		resp, err := oa.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-5-mini", Messages: hello}, option.WithResponseInto(&raw))
		if err != nil {
			t.Fatal(err)
		}
		got := costFromFields(t, resp.Usage.JSON.ExtraFields)
		got.header = raw.Header.Get("X-Onekey-Cost-Micros")
		if got.header == "" {
			t.Error("no x-onekey-cost-micros header")
		}
		ev := h.waitUsage(raw.Header.Get("X-Request-Id"))
		if ev.CostMicros <= 0 {
			t.Fatalf("usage event cost %d", ev.CostMicros)
		}
		checkCost(t, got, ev)
	})
	for _, model := range []string{"gpt-5-mini", "gemini-2.5-flash", "grok-4"} {
		t.Run("chat_stream_"+model, func(t *testing.T) {
			var raw *http.Response
			stream := oa.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: model, Messages: hello,
				StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}}, option.WithResponseInto(&raw))
			var last *openai.ChatCompletionChunk
			for stream.Next() {
				c := stream.Current()
				if c.JSON.Usage.Valid() && c.Usage.TotalTokens > 0 {
					last = &c
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			if last == nil {
				t.Fatal("no usage chunk")
			}
			got := costFromFields(t, last.Usage.JSON.ExtraFields)
			ev := h.waitUsage(raw.Header.Get("X-Request-Id"))
			if ev.CostMicros <= 0 || !ev.Streamed {
				t.Fatalf("usage event cost %d streamed %v", ev.CostMicros, ev.Streamed)
			}
			checkCost(t, got, ev)
		})
	}
	for _, model := range []string{"text-embedding-3-small", "gemini-embedding-001"} {
		t.Run("embeddings_"+model, func(t *testing.T) {
			var raw *http.Response
			resp, err := oa.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: model,
				Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("hello")}}, option.WithResponseInto(&raw))
			if err != nil {
				t.Fatal(err)
			}
			got := costFromFields(t, resp.Usage.JSON.ExtraFields)
			got.header = raw.Header.Get("X-Onekey-Cost-Micros")
			if got.header == "" {
				t.Error("no x-onekey-cost-micros header")
			}
			ev := h.waitUsage(raw.Header.Get("X-Request-Id"))
			if ev.CostMicros <= 0 {
				t.Fatalf("usage event cost %d", ev.CostMicros)
			}
			checkCost(t, got, ev)
		})
	}
	msg := anthropic.MessageNewParams{Model: "claude-sonnet-4-5", MaxTokens: 1024,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Hello"))}}
	t.Run("messages", func(t *testing.T) {
		var raw *http.Response
		resp, err := an.Messages.New(ctx, msg, aoption.WithResponseInto(&raw))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Usage.InputTokens == 0 {
			t.Errorf("SDK usage %+v", resp.Usage)
		}
		got := costFromAnthropicFields(t, resp.Usage.RawJSON())
		got.header = raw.Header.Get("X-Onekey-Cost-Micros")
		if got.header == "" {
			t.Error("no x-onekey-cost-micros header")
		}
		ev := h.waitUsage(raw.Header.Get("X-Request-Id"))
		if ev.CostMicros <= 0 {
			t.Fatalf("usage event cost %d", ev.CostMicros)
		}
		checkCost(t, got, ev)
	})
	t.Run("messages_stream", func(t *testing.T) {
		var raw *http.Response
		stream := an.Messages.NewStreaming(ctx, msg, aoption.WithResponseInto(&raw))
		var acc anthropic.Message
		var delta string
		for stream.Next() {
			e := stream.Current()
			if err := acc.Accumulate(e); err != nil {
				t.Fatal(err)
			}
			if e.Type == "message_delta" {
				delta = e.AsMessageDelta().Usage.RawJSON()
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if acc.Usage.OutputTokens == 0 {
			t.Errorf("SDK accumulated usage %+v", acc.Usage)
		}
		got := costFromAnthropicFields(t, delta)
		ev := h.waitUsage(raw.Header.Get("X-Request-Id"))
		if ev.CostMicros <= 0 || !ev.Streamed {
			t.Fatalf("usage event cost %d streamed %v", ev.CostMicros, ev.Streamed)
		}
		checkCost(t, got, ev)
	})
}

// TestCost_FreeRequestAnswersZeroAndSaysFree: a free request's answer says
// it cost nothing (cost 0, cost_micros 0, free true, header 0), plain and
// streamed, while its usage event carries the cost it would have had.
func TestCost_FreeRequestAnswersZeroAndSaysFree(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	key, _, acc, _ := h.newKey(events.APIKeyV1{})
	h.setBalance(acc, 0, 2)
	waitFor(t, time.Minute, "free requests", func() bool { return h.credits(key).FreeRequestsLeft == 2 })
	oa := h.openai(key)
	ctx := context.Background()
	hello := []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Say hello")}

	var raw *http.Response
	resp, err := oa.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-5-nano", Messages: hello}, option.WithResponseInto(&raw))
	if err != nil {
		t.Fatal(err)
	}
	got := costFromFields(t, resp.Usage.JSON.ExtraFields)
	got.header = raw.Header.Get("X-Onekey-Cost-Micros")
	ev := h.waitUsage(raw.Header.Get("X-Request-Id"))
	if !ev.Free || ev.CostMicros <= 0 {
		t.Fatalf("usage event free %v cost %d: want a free request with a cost", ev.Free, ev.CostMicros)
	}
	if got.cost != "0" || got.micros != 0 || !got.free || got.header != "0" {
		t.Errorf("free answer: cost %s, cost_micros %d, free %v, header %q; want 0, 0, true, 0", got.cost, got.micros, got.free, got.header)
	}
	checkCost(t, got, ev)

	stream := oa.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "gpt-5-nano", Messages: hello,
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}}, option.WithResponseInto(&raw))
	var last *openai.ChatCompletionChunk
	for stream.Next() {
		if c := stream.Current(); c.JSON.Usage.Valid() && c.Usage.TotalTokens > 0 {
			last = &c
		}
	}
	if err := stream.Err(); err != nil || last == nil {
		t.Fatalf("stream: %v, usage chunk %v", err, last != nil)
	}
	got = costFromFields(t, last.Usage.JSON.ExtraFields)
	ev = h.waitUsage(raw.Header.Get("X-Request-Id"))
	if !got.free || got.micros != 0 {
		t.Errorf("free stream: cost_micros %d free %v", got.micros, got.free)
	}
	checkCost(t, got, ev)
}
