package responses_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3/packages/ssestream"
	oresponses "github.com/openai/openai-go/v3/responses"

	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/services/gateway/internal/responses"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/want")

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", path))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkGolden compares got with testdata/want/name (JSON compared
// indented), or writes it with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	if strings.HasSuffix(name, ".json") {
		var buf bytes.Buffer
		if err := json.Indent(&buf, got, "", "  "); err != nil {
			t.Fatalf("%s: not JSON: %v\n%s", name, err, got)
		}
		got = append(buf.Bytes(), '\n')
	}
	path := filepath.Join("testdata", "want", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func options() responses.Options {
	return responses.Options{
		ResponseID: "resp_0123", Model: "the-model", UpstreamModel: "upstream-model", MaxOutputTokens: 8192,
		Now: time.Unix(1764604800, 0),
		Cost: func(u catalog.Usage) (responses.Cost, bool) {
			// A stand-in price: 1 µUSD per input token, 2 per output token.
			return responses.Cost{Micros: u.InputTokens + u.CachedInputTokens + u.CacheWriteTokens + 2*u.OutputTokens}, true
		},
	}
}

type dialect struct {
	name     string
	provider string
	to       func(*responses.Request, responses.Options) ([]byte, *responses.Translation, error)
}

var dialects = []dialect{
	{"anthropic", "Anthropic", responses.ToAnthropic},
	{"gemini", "Gemini", responses.ToChat},
}

func TestTranslate_ReasoningIsABudgetOnClaude45AndAdaptiveAfter(t *testing.T) {
	r, err := responses.Parse(read(t, "requests/structured.json"), "Anthropic")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ model, golden string }{
		{"claude-sonnet-4-5-20250929", "anthropic_structured_budget.request.json"},
		{"claude-opus-4-6", "anthropic_structured_opus46.request.json"},
	} {
		opt := options()
		opt.UpstreamModel = c.model
		body, _, err := responses.ToAnthropic(r, opt)
		if err != nil {
			t.Fatal(err)
		}
		checkGolden(t, c.golden, body)
	}
}

func TestTranslate_RequestsBecomeTheUpstreamsDocumentedBodies(t *testing.T) {
	for _, d := range dialects {
		for _, name := range []string{"text", "tool_call", "tool_result", "tool_result_chat", "image", "structured"} {
			if (d.name == "gemini" && name == "tool_result") || (d.name == "anthropic" && name == "tool_result_chat") {
				continue
			}
			t.Run(d.name+"/"+name, func(t *testing.T) {
				r, err := responses.Parse(read(t, "requests/"+name+".json"), d.provider)
				if err != nil {
					t.Fatal(err)
				}
				body, _, err := d.to(r, options())
				if err != nil {
					t.Fatal(err)
				}
				checkGolden(t, d.name+"_"+name+".request.json", body)
			})
		}
	}
}

// The SDK's own types must parse every answer: a field of the wrong type
// fails the unmarshal.
func parseResponse(t *testing.T, body []byte) oresponses.Response {
	t.Helper()
	var r oresponses.Response
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("the SDK cannot parse the response: %v", err)
	}
	return r
}

func TestTranslate_AnswersBecomeResponsesTheSDKParses(t *testing.T) {
	for _, d := range dialects {
		for _, name := range []string{"text", "tool_use", "json"} {
			t.Run(d.name+"/"+name, func(t *testing.T) {
				r, err := responses.Parse(read(t, "requests/text.json"), d.provider)
				if err != nil {
					t.Fatal(err)
				}
				_, tr, err := d.to(r, options())
				if err != nil {
					t.Fatal(err)
				}
				upstream := read(t, "upstream/"+d.name+"/"+name+".json")
				var out []byte
				if d.name == "anthropic" {
					out, err = tr.FromAnthropic(upstream)
				} else {
					out, err = tr.FromChat(upstream)
				}
				if err != nil {
					t.Fatal(err)
				}
				checkGolden(t, d.name+"_"+name+".response.json", out)
				resp := parseResponse(t, out)
				if resp.Status != "completed" || resp.Usage.TotalTokens == 0 || resp.ID != "resp_0123" {
					t.Errorf("response = %+v", resp)
				}
				if name == "tool_use" {
					var calls int
					for _, it := range resp.Output {
						if it.Type == "function_call" {
							calls++
							if it.Name != "get_weather" || !json.Valid([]byte(it.Arguments.OfString)) {
								t.Errorf("function call = %+v", it)
							}
						}
					}
					if calls != 1 {
						t.Errorf("%d function calls", calls)
					}
				} else if resp.OutputText() == "" {
					t.Errorf("no output text")
				}
			})
		}
	}
}

// stream feeds an upstream SSE recording through a translator event by
// event and returns the Responses stream.
type streamer interface {
	Event(data []byte) []byte
	End() []byte
}

func translateStream(sse []byte, s streamer) []byte {
	var out []byte
	for _, ev := range bytes.Split(sse, []byte("\n\n")) {
		for _, line := range bytes.Split(ev, []byte("\n")) {
			if d, ok := bytes.CutPrefix(line, []byte("data:")); ok {
				out = append(out, s.Event(bytes.TrimSpace(d))...)
			}
		}
	}
	return append(out, s.End()...)
}

type sseDecoder struct {
	events [][2][]byte
	i      int
}

func (d *sseDecoder) Next() bool { d.i++; return d.i <= len(d.events) }
func (d *sseDecoder) Event() ssestream.Event {
	e := d.events[d.i-1]
	return ssestream.Event{Type: string(e[0]), Data: e[1]}
}
func (d *sseDecoder) Close() error { return nil }
func (d *sseDecoder) Err() error   { return nil }

func decodeSSE(t *testing.T, raw []byte) *sseDecoder {
	t.Helper()
	d := &sseDecoder{}
	for _, ev := range bytes.Split(raw, []byte("\n\n")) {
		if len(bytes.TrimSpace(ev)) == 0 {
			continue
		}
		var name, data []byte
		for _, line := range bytes.Split(ev, []byte("\n")) {
			if v, ok := bytes.CutPrefix(line, []byte("event: ")); ok {
				name = v
			}
			if v, ok := bytes.CutPrefix(line, []byte("data: ")); ok {
				data = v
			}
		}
		if !json.Valid(data) {
			t.Fatalf("event data is not JSON: %s", data)
		}
		var typ struct {
			Type string `json:"type"`
		}
		_ = json.Unmarshal(data, &typ)
		if typ.Type != string(name) {
			t.Errorf("event %q carries type %q", name, typ.Type)
		}
		d.events = append(d.events, [2][]byte{name, data})
	}
	return d
}

func TestTranslate_StreamsBecomeTheResponsesEventSequence(t *testing.T) {
	for _, d := range dialects {
		for _, name := range []string{"text", "tool_use", "json"} {
			t.Run(d.name+"/"+name, func(t *testing.T) {
				r, err := responses.Parse(read(t, "requests/tool_call.json"), d.provider)
				if err != nil {
					t.Fatal(err)
				}
				_, tr, err := d.to(r, options())
				if err != nil {
					t.Fatal(err)
				}
				var s streamer
				if d.name == "anthropic" {
					s = tr.NewAnthropicStream()
				} else {
					s = tr.NewChatStream()
				}
				out := translateStream(read(t, "upstream/"+d.name+"/"+name+".sse"), s)
				checkGolden(t, d.name+"_"+name+".stream.sse", out)

				// The SDK's stream reader and accumulator take every event.
				stream := ssestream.NewStream[oresponses.ResponseStreamEventUnion](decodeSSE(t, out), nil)
				var types []string
				var seq []int64
				var completed oresponses.Response
				var text strings.Builder
				for stream.Next() {
					ev := stream.Current()
					types = append(types, ev.Type)
					seq = append(seq, ev.SequenceNumber)
					switch ev.Type {
					case "response.output_text.delta":
						text.WriteString(ev.Delta)
					case "response.completed":
						completed = ev.Response
					}
				}
				if err := stream.Err(); err != nil {
					t.Fatal(err)
				}
				if types[0] != "response.created" || types[1] != "response.in_progress" || types[len(types)-1] != "response.completed" {
					t.Errorf("event order: %v", types)
				}
				for i, n := range seq {
					if n != int64(i) {
						t.Fatalf("sequence numbers %v", seq)
					}
				}
				if completed.Usage.TotalTokens == 0 || completed.Usage.OutputTokens == 0 {
					t.Errorf("response.completed has no usage: %+v", completed.Usage)
				}
				if name != "tool_use" && completed.OutputText() != text.String() {
					t.Errorf("completed output %q, deltas %q", completed.OutputText(), text.String())
				}
				if !strings.Contains(string(out), `"cost_micros":`) {
					t.Errorf("no cost in the completed usage")
				}
			})
		}
	}
}

func TestTranslate_AStreamThatBreaksOffEndsFailedWithTheUsageSoFar(t *testing.T) {
	r, err := responses.Parse(read(t, "requests/text.json"), "Anthropic")
	if err != nil {
		t.Fatal(err)
	}
	_, tr, _ := responses.ToAnthropic(r, options())
	full := read(t, "upstream/anthropic/text.sse")
	cut := full[:bytes.Index(full, []byte("event: content_block_stop"))]
	out := translateStream(cut, tr.NewAnthropicStream())
	if !bytes.Contains(out, []byte("event: response.failed")) || bytes.Contains(out, []byte("response.completed")) {
		t.Fatalf("stream:\n%s", out)
	}
	if !bytes.Contains(out, []byte(`"input_tokens":6703`)) {
		t.Errorf("the failed response does not carry the input usage:\n%s", out)
	}
}

func TestParse_WhatCannotBeTranslatedIsRefusedByName(t *testing.T) {
	cases := []struct {
		name, body, param string
	}{
		{"built-in web search", `{"model":"m","input":"hi","tools":[{"type":"web_search"}]}`, "tools[0].type"},
		{"file search", `{"model":"m","input":"hi","tools":[{"type":"file_search","vector_store_ids":["vs_1"]}]}`, "tools[0].type"},
		{"code interpreter", `{"model":"m","input":"hi","tools":[{"type":"code_interpreter","container":{"type":"auto"}}]}`, "tools[0].type"},
		{"computer use", `{"model":"m","input":"hi","tools":[{"type":"computer_use_preview","display_width":1024,"display_height":768,"environment":"browser"}]}`, "tools[0].type"},
		{"previous response", `{"model":"m","input":"hi","previous_response_id":"resp_1"}`, "previous_response_id"},
		{"background", `{"model":"m","input":"hi","background":true}`, "background"},
		{"uploaded file", `{"model":"m","input":[{"role":"user","content":[{"type":"input_file","file_id":"file-1"}]}]}`, "input[0].content[0]"},
		{"uploaded image", `{"model":"m","input":[{"role":"user","content":[{"type":"input_image","file_id":"file-1"}]}]}`, "input[0].content[0].file_id"},
		{"unknown member", `{"model":"m","input":"hi","prompt":{"id":"pmpt_1"}}`, "prompt"},
		{"conversation", `{"model":"m","input":"hi","conversation":"conv_1"}`, "conversation"},
		{"logprobs", `{"model":"m","input":"hi","top_logprobs":3}`, "top_logprobs"},
		{"include", `{"model":"m","input":"hi","include":["message.output_text.logprobs"]}`, "include"},
		{"flex tier", `{"model":"m","input":"hi","service_tier":"flex"}`, "service_tier"},
		{"item reference", `{"model":"m","input":[{"type":"item_reference","id":"msg_1"}]}`, "input[0]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := responses.Parse([]byte(c.body), "Anthropic")
			var e *responses.Error
			if !errors.As(err, &e) || e.Param != c.param || e.Message == "" {
				t.Fatalf("err = %v (%+v), want a refusal of %s", err, e, c.param)
			}
		})
	}
	t.Run("json_object on Anthropic", func(t *testing.T) {
		r, err := responses.Parse([]byte(`{"model":"m","input":"hi","text":{"format":{"type":"json_object"}}}`), "Anthropic")
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = responses.ToAnthropic(r, options())
		var e *responses.Error
		if !errors.As(err, &e) || e.Param != "text.format.type" {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("reasoning item to Gemini", func(t *testing.T) {
		r, err := responses.Parse(read(t, "requests/tool_result.json"), "Gemini")
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = responses.ToChat(r, options())
		var e *responses.Error
		if !errors.As(err, &e) || e.Param != "input" {
			t.Fatalf("err = %v", err)
		}
	})
}

// Gemini 3 wants each tool call's thought signature back with the call; its
// OpenAI-compatible endpoint sends whole calls in one chunk, possibly
// without an index.
func TestTranslate_GeminiThoughtSignaturesComeBackWithTheirCalls(t *testing.T) {
	r, err := responses.Parse(read(t, "requests/tool_call.json"), "Gemini")
	if err != nil {
		t.Fatal(err)
	}
	for _, streamed := range []bool{false, true} {
		_, tr, err := responses.ToChat(r, options())
		if err != nil {
			t.Fatal(err)
		}
		var calls []oresponses.ResponseOutputItemUnion
		if streamed {
			out := translateStream(read(t, "upstream/gemini/tool_use_signed.sse"), tr.NewChatStream())
			stream := ssestream.NewStream[oresponses.ResponseStreamEventUnion](decodeSSE(t, out), nil)
			for stream.Next() {
				if ev := stream.Current(); ev.Type == "response.completed" {
					calls = ev.Response.Output
				}
			}
		} else {
			out, err := tr.FromChat(read(t, "upstream/gemini/tool_use_signed.json"))
			if err != nil {
				t.Fatal(err)
			}
			calls = parseResponse(t, out).Output
		}
		if len(calls) != 2 || calls[0].CallID == calls[1].CallID || !strings.Contains(calls[1].Arguments.OfString, "Rome") {
			t.Fatalf("streamed %v: calls %+v", streamed, calls)
		}
		// The client sends the calls and their outputs back.
		var input []map[string]any
		input = append(input, map[string]any{"role": "user", "content": "Weather in Paris and Rome?"})
		for _, c := range calls {
			input = append(input, map[string]any{"type": "function_call", "call_id": c.CallID, "name": c.Name, "arguments": c.Arguments.OfString})
		}
		for _, c := range calls {
			input = append(input, map[string]any{"type": "function_call_output", "call_id": c.CallID, "output": "18"})
		}
		body, _ := json.Marshal(map[string]any{"model": "m", "input": input})
		next, err := responses.Parse(body, "Gemini")
		if err != nil {
			t.Fatal(err)
		}
		up, _, err := responses.ToChat(next, options())
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			`{"id":"function-call-1111","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Paris, France\",\"unit\":\"celsius\"}"},"extra_content":{"google":{"thought_signature":"CiQBcsjafE0k1x9Qh3Lx/8uY2Q=="}}}`,
			`{"id":"function-call-2222","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Rome, Italy\",\"unit\":\"celsius\"}"}}`,
			`"tool_call_id":"function-call-1111"`, `"tool_call_id":"function-call-2222"`,
		} {
			if !strings.Contains(string(up), want) {
				t.Errorf("streamed %v: the upstream request lacks %s:\n%s", streamed, want, up)
			}
		}
	}
}
