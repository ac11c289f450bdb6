package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/param"
	"github.com/openai/openai-go/v3/responses"

	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/pkg/ids"
)

// The recorded upstream answers of the Responses tests: OpenAI's and xAI's
// own Responses API in testdata/<provider>/responses_*, Anthropic's
// Messages and Gemini's chat completions in the translator's testdata.
const fixedResponseID = "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b"

// responsesFake answers as provider p would for the Responses tests:
// which recording depends on the upstream request (a tool result gets the
// final text, tools get a function call, a JSON schema gets JSON).
func responsesFake(p catalog.Provider) func(http.ResponseWriter, *http.Request, []byte) bool {
	return func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		auth := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if p == catalog.Anthropic {
			auth = r.Header.Get("X-Api-Key")
		}
		if auth != providerKeys[p] {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`))
			return true
		}
		has := func(s string) bool { return bytes.Contains(body, []byte(s)) }
		stream := has(`"stream":true`)
		var file string
		switch p {
		case catalog.OpenAI, catalog.XAI:
			dir := "testdata/openai/"
			if p == catalog.XAI {
				dir = "testdata/xai/"
			}
			switch {
			case r.Method == http.MethodDelete:
				w.Header().Set("Content-Type", "application/json")
				id := filepath.Base(r.URL.Path)
				fmt.Fprintf(w, `{"id":%q,"object":"response","deleted":true}`, id)
				return true
			case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/input_items"):
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"object":"list","data":[{"id":"msg_abc123","type":"message","role":"user","status":"completed","content":[{"type":"input_text","text":"Hello"}]}],"first_id":"msg_abc123","last_id":"msg_abc123","has_more":false}`))
				return true
			case r.Method == http.MethodGet:
				raw, _ := os.ReadFile(dir + "responses_text.json")
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(bytes.ReplaceAll(raw, []byte(fixedResponseID), []byte(filepath.Base(r.URL.Path))))
				return true
			case has(`"function_call_output"`):
				file = dir + "responses_text"
			case has(`"tools"`):
				file = dir + "responses_function_call"
			case has(`"json_schema"`):
				file = dir + "responses_json"
			default:
				file = dir + "responses_text"
			}
		case catalog.Anthropic, catalog.Google:
			dir := "../internal/responses/testdata/upstream/anthropic/"
			result, schema := `"tool_result"`, `"output_config"`
			if p == catalog.Google {
				dir = "../internal/responses/testdata/upstream/gemini/"
				result, schema = `"role":"tool"`, `"response_format"`
			}
			switch {
			case has(result):
				file = dir + "text"
			case has(`"tools"`):
				file = dir + "tool_use"
			case has(schema):
				file = dir + "json"
			default:
				file = dir + "text"
			}
		}
		if stream {
			file += ".sse"
		} else {
			file += ".json"
		}
		raw, err := os.ReadFile(file)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return true
		}
		// Each stored response has its own id.
		raw = bytes.ReplaceAll(raw, []byte(fixedResponseID), []byte(ids.New("resp")))
		if !stream {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(raw)
			return true
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		for _, ev := range bytes.SplitAfter(raw, []byte("\n\n")) {
			_, _ = w.Write(ev)
			fl.Flush()
		}
		return true
	}
}

func (h *harness) serveResponses() {
	for p, f := range h.fakes {
		f.setHandle(responsesFake(p))
	}
}

// billed are the token counts a recording reports, as the usage event
// must carry them.
type billed struct{ in, cached, write, out int64 }

// responsesCase is one provider's model and the usage of its recordings.
type responsesCase struct {
	provider catalog.Provider
	model    string
	text     billed // text.* (answers to plain, image and tool result requests)
	call     billed // the function call
	json     billed // the structured output
}

var responsesCases = []responsesCase{
	{catalog.OpenAI, "gpt-5-mini", billed{176, 1024, 0, 300}, billed{900, 0, 0, 120}, billed{400, 0, 0, 80}},
	{catalog.XAI, "grok-4", billed{176, 1024, 0, 300}, billed{900, 0, 0, 120}, billed{400, 0, 0, 80}},
	{catalog.Anthropic, "claude-sonnet-4-5", billed{2095, 4096, 512, 503}, billed{472, 0, 0, 91}, billed{310, 0, 0, 17}},
	// Gemini leaves its thoughts out of completion_tokens: output is what
	// total_tokens leaves after the prompt.
	{catalog.Google, "gemini-2.5-flash", billed{644, 256, 0, 230}, billed{120, 0, 0, 169}, billed{85, 0, 0, 12}},
}

var weatherTool = responses.ToolUnionParam{OfFunction: &responses.FunctionToolParam{
	Name: "get_weather", Description: param.NewOpt("Get the weather"), Strict: param.NewOpt(true),
	Parameters: map[string]any{"type": "object", "properties": map[string]any{
		"location": map[string]any{"type": "string"}, "unit": map[string]any{"type": "string", "enum": []string{"celsius", "fahrenheit"}},
	}, "required": []string{"location", "unit"}, "additionalProperties": false},
}}

const pixel = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

// callResponses runs params through the SDK, plain or streamed, and returns
// the response and the request id. A streamed response is the one of its
// response.completed event, whose text must equal the deltas'.
func (h *harness) callResponses(t *testing.T, client *openai.Client, params responses.ResponseNewParams, stream bool) (*responses.Response, string) {
	t.Helper()
	var raw *http.Response
	if !stream {
		resp, err := client.Responses.New(context.Background(), params, option.WithResponseInto(&raw))
		if err != nil {
			t.Fatal(err)
		}
		return resp, raw.Header.Get("X-Request-Id")
	}
	s := client.Responses.NewStreaming(context.Background(), params, option.WithResponseInto(&raw))
	var done *responses.Response
	var deltas strings.Builder
	var types []string
	for s.Next() {
		ev := s.Current()
		types = append(types, ev.Type)
		switch ev.Type {
		case "response.output_text.delta":
			deltas.WriteString(ev.Delta)
		case "response.completed":
			r := ev.Response
			done = &r
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if done == nil || types[0] != "response.created" {
		t.Fatalf("stream events: %v", types)
	}
	if done.OutputText() != deltas.String() {
		t.Errorf("completed text %q, deltas %q", done.OutputText(), deltas.String())
	}
	return done, raw.Header.Get("X-Request-Id")
}

// checkBilled checks the usage event of a request against the recording's
// usage and the catalog's prices, and the cost the answer carried against
// the usage event's.
func (h *harness) checkBilled(t *testing.T, model, rid string, resp *responses.Response, want billed, streamed bool) {
	t.Helper()
	ev := h.waitUsage(rid)
	if ev.InputTokens != want.in || ev.CachedInputTokens != want.cached || ev.CacheWriteTokens != want.write || ev.OutputTokens != want.out ||
		ev.Streamed != streamed || ev.Estimated || ev.Status != 200 || ev.Model != model {
		t.Errorf("usage event = %+v, want tokens %+v", ev, want)
	}
	cost := expectCost(mustModel(t, model), want.in, want.cached, want.write, want.out)
	if int64(ev.CostMicros) != int64(cost) || cost <= 0 {
		t.Errorf("cost %d, want %d", ev.CostMicros, cost)
	}
	var u struct {
		CostMicros *int64      `json:"cost_micros"`
		Cost       json.Number `json:"cost"`
	}
	if err := json.Unmarshal([]byte(resp.Usage.RawJSON()), &u); err != nil || u.CostMicros == nil {
		t.Fatalf("the answer's usage has no cost_micros: %s", resp.Usage.RawJSON())
	}
	if *u.CostMicros != int64(ev.CostMicros) {
		t.Errorf("the answer says it cost %d, the usage event %d", *u.CostMicros, ev.CostMicros)
	}
	if resp.Usage.InputTokens != want.in+want.cached+want.write || resp.Usage.InputTokensDetails.CachedTokens != want.cached {
		t.Errorf("the answer's usage = %s", resp.Usage.RawJSON())
	}
}

func TestResponses_OpenAISDKPlainAndStreamedAgainstEveryProviderIsAnsweredAndBilledExactly(t *testing.T) {
	t.Parallel()
	for _, tc := range responsesCases {
		t.Run(string(tc.provider), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.serveResponses()
			client := h.openai(h.key)
			for _, stream := range []bool{false, true} {
				name := "plain"
				if stream {
					name = "streamed"
				}
				t.Run(name+"/text", func(t *testing.T) {
					resp, rid := h.callResponses(t, client, responses.ResponseNewParams{
						Model: tc.model, Instructions: param.NewOpt("Answer briefly."),
						Input: responses.ResponseNewParamsInputUnion{OfString: param.NewOpt("Hello")},
					}, stream)
					if resp.Status != "completed" || resp.OutputText() == "" {
						t.Errorf("response = %s", resp.RawJSON())
					}
					h.checkBilled(t, tc.model, rid, resp, tc.text, stream)
				})
				t.Run(name+"/function call round trip", func(t *testing.T) {
					question := responses.ResponseInputItemParamOfMessage("What is the weather in Paris?", responses.EasyInputMessageRoleUser)
					resp, rid := h.callResponses(t, client, responses.ResponseNewParams{
						Model: tc.model, Tools: []responses.ToolUnionParam{weatherTool},
						Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{question}},
					}, stream)
					h.checkBilled(t, tc.model, rid, resp, tc.call, stream)
					var call *responses.ResponseOutputItemUnion
					for i := range resp.Output {
						if resp.Output[i].Type == "function_call" {
							call = &resp.Output[i]
						}
					}
					if call == nil || call.Name != "get_weather" || call.CallID == "" {
						t.Fatalf("no function call in %s", resp.RawJSON())
					}
					var args map[string]string
					if err := json.Unmarshal([]byte(call.Arguments.OfString), &args); err != nil || args["location"] != "Paris, France" {
						t.Fatalf("arguments %q: %v", call.Arguments.OfString, err)
					}
					// The client runs the function and sends its output back.
					output := responses.ResponseInputItemUnionParam{OfFunctionCallOutput: &responses.ResponseInputItemFunctionCallOutputParam{
						CallID: param.NewOpt(call.CallID), Output: responses.ResponseInputItemFunctionCallOutputOutputUnionParam{OfString: param.NewOpt(`{"temperature":18}`)},
					}}
					final, rid := h.callResponses(t, client, responses.ResponseNewParams{
						Model: tc.model, Tools: []responses.ToolUnionParam{weatherTool},
						Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
							question, responses.ResponseInputItemParamOfFunctionCall(call.Arguments.OfString, call.CallID, call.Name), output,
						}},
					}, stream)
					if final.OutputText() == "" {
						t.Errorf("final answer = %s", final.RawJSON())
					}
					h.checkBilled(t, tc.model, rid, final, tc.text, stream)
					// The provider got the call and its result in its own format.
					reqs := h.fakes[tc.provider].requests()
					last := string(reqs[len(reqs)-1].Body)
					for _, want := range map[catalog.Provider][]string{
						catalog.OpenAI:    {`"function_call_output"`, call.CallID},
						catalog.XAI:       {`"function_call_output"`, call.CallID},
						catalog.Anthropic: {`"type":"tool_use","id":"` + call.CallID, `"type":"tool_result","tool_use_id":"` + call.CallID},
						catalog.Google:    {`"tool_calls":[{"id":"` + call.CallID, `"role":"tool"`},
					}[tc.provider] {
						if !strings.Contains(last, want) {
							t.Errorf("upstream request lacks %s: %s", want, last)
						}
					}
				})
				t.Run(name+"/image input", func(t *testing.T) {
					resp, rid := h.callResponses(t, client, responses.ResponseNewParams{
						Model: tc.model,
						Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
							responses.ResponseInputItemParamOfMessage(responses.ResponseInputMessageContentListParam{
								{OfInputText: &responses.ResponseInputTextParam{Text: "What is in this image?"}},
								{OfInputImage: &responses.ResponseInputImageParam{ImageURL: param.NewOpt(pixel), Detail: responses.ResponseInputImageDetailLow}},
							}, responses.EasyInputMessageRoleUser),
						}},
					}, stream)
					h.checkBilled(t, tc.model, rid, resp, tc.text, stream)
					reqs := h.fakes[tc.provider].requests()
					last := string(reqs[len(reqs)-1].Body)
					want := map[catalog.Provider]string{
						catalog.OpenAI: `"type":"input_image"`, catalog.XAI: `"type":"input_image"`,
						catalog.Anthropic: `"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBOR`,
						catalog.Google:    `"type":"image_url","image_url":{"url":"data:image/png;base64,iVBOR`,
					}[tc.provider]
					if !strings.Contains(last, want) {
						t.Errorf("upstream request lacks the image as %s: %s", want, last)
					}
				})
				t.Run(name+"/structured output", func(t *testing.T) {
					resp, rid := h.callResponses(t, client, responses.ResponseNewParams{
						Model: tc.model,
						Input: responses.ResponseNewParamsInputUnion{OfString: param.NewOpt("Weather in Paris as JSON.")},
						Text: responses.ResponseTextConfigParam{Format: responses.ResponseFormatTextConfigUnionParam{OfJSONSchema: &responses.ResponseFormatTextJSONSchemaConfigParam{
							Name: "weather", Strict: param.NewOpt(true), Schema: map[string]any{"type": "object", "properties": map[string]any{
								"city": map[string]any{"type": "string"}, "temperature_c": map[string]any{"type": "integer"},
							}, "required": []string{"city", "temperature_c"}, "additionalProperties": false},
						}}},
					}, stream)
					var got struct {
						City string `json:"city"`
					}
					if err := json.Unmarshal([]byte(resp.OutputText()), &got); err != nil || got.City != "Paris" {
						t.Errorf("structured output %q: %v", resp.OutputText(), err)
					}
					h.checkBilled(t, tc.model, rid, resp, tc.json, stream)
				})
			}
			// With stored responses off, OpenAI and xAI are told not to
			// store anything.
			if tc.provider == catalog.OpenAI || tc.provider == catalog.XAI {
				for _, r := range h.fakes[tc.provider].requests() {
					if r.Path != "/v1/responses" || !bytes.Contains(r.Body, []byte(`"store":false`)) {
						t.Errorf("upstream request to %s without store:false: %s", r.Path, r.Body)
					}
				}
			}
		})
	}
}

// wantAPIError checks that err is the SDK's typed error with the status
// and param.
func wantAPIError(t *testing.T, err error, status int, param, says string) {
	t.Helper()
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) {
		t.Fatalf("err = %v, want an API error", err)
	}
	if apiErr.StatusCode != status || (param != "" && apiErr.Param != param) || !strings.Contains(apiErr.Message, says) {
		t.Errorf("error %d param %q: %s; want %d %q saying %q", apiErr.StatusCode, apiErr.Param, apiErr.Message, status, param, says)
	}
}

func TestResponses_WhatTheGatewayCannotBillOrTranslateIsRefusedWithA400TheSDKParses(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.serveResponses()
	client := h.openai(h.key)
	hello := responses.ResponseNewParamsInputUnion{OfString: param.NewOpt("Hello")}
	webSearch := responses.ToolUnionParam{OfWebSearch: &responses.WebSearchToolParam{Type: responses.WebSearchToolTypeWebSearch}}
	for _, model := range []string{"gpt-5-mini", "grok-4", "claude-sonnet-4-5", "gemini-2.5-flash"} {
		_, err := client.Responses.New(context.Background(), responses.ResponseNewParams{Model: model, Input: hello, Tools: []responses.ToolUnionParam{webSearch}})
		wantAPIError(t, err, 400, "", "web_search")
		_, err = client.Responses.New(context.Background(), responses.ResponseNewParams{Model: model, Input: hello, Background: param.NewOpt(true)})
		wantAPIError(t, err, 400, "background", "background")
	}
	// Tools the client runs (Codex CLI's shell) pass for OpenAI models,
	// and are refused where they would have to be translated.
	shell := responses.ToolUnionParam{OfLocalShell: &responses.ToolLocalShellParam{}}
	var raw *http.Response
	if _, err := client.Responses.New(context.Background(), responses.ResponseNewParams{Model: "gpt-5-mini", Input: hello, Tools: []responses.ToolUnionParam{shell}}, option.WithResponseInto(&raw)); err != nil {
		t.Errorf("local_shell on an OpenAI model: %v", err)
	}
	served := h.waitUsage(raw.Header.Get("X-Request-Id")).ID
	_, err := client.Responses.New(context.Background(), responses.ResponseNewParams{Model: "claude-sonnet-4-5", Input: hello, Tools: []responses.ToolUnionParam{shell}})
	wantAPIError(t, err, 400, "tools[0].type", "local_shell")
	// previous_response_id: translated models keep no content; native ones
	// only with stored responses on.
	_, err = client.Responses.New(context.Background(), responses.ResponseNewParams{Model: "claude-sonnet-4-5", Input: hello, PreviousResponseID: param.NewOpt("resp_1")})
	wantAPIError(t, err, 400, "previous_response_id", "stores no conversation content")
	_, err = client.Responses.New(context.Background(), responses.ResponseNewParams{Model: "gpt-5-mini", Input: hello, PreviousResponseID: param.NewOpt("resp_1")})
	wantAPIError(t, err, 400, "previous_response_id", "GATEWAY_RESPONSES_STORE")
	_, err = client.Responses.Get(context.Background(), "resp_1", responses.ResponseGetParams{})
	wantAPIError(t, err, 400, "", "GATEWAY_RESPONSES_STORE")
	err = client.Responses.Delete(context.Background(), "resp_1")
	wantAPIError(t, err, 400, "", "GATEWAY_RESPONSES_STORE")
	// A streamed request refused before anything is sent.
	s := client.Responses.NewStreaming(context.Background(), responses.ResponseNewParams{Model: "gemini-2.5-flash", Input: hello, Background: param.NewOpt(true)})
	for s.Next() {
	}
	wantAPIError(t, s.Err(), 400, "background", "background")
	_, err = client.Responses.New(context.Background(), responses.ResponseNewParams{Model: "gpt-9-nope", Input: hello})
	wantAPIError(t, err, 404, "model", "gpt-9-nope")
	// An upstream error keeps its status, in OpenAI's shape.
	h.fakes[catalog.Anthropic].setHandle(func(w http.ResponseWriter, _ *http.Request, _ []byte) bool {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"type":"error","error":{"type":"invalid_request_error","message":"messages: text content blocks must be non-empty"}}`))
		return true
	})
	_, err = client.Responses.New(context.Background(), responses.ResponseNewParams{Model: "claude-sonnet-4-5", Input: hello})
	wantAPIError(t, err, 400, "", "non-empty")
	time.Sleep(200 * time.Millisecond)
	for _, ev := range h.usageEvents() {
		if ev.CostMicros != 0 && ev.ID != served {
			t.Errorf("a refused request was charged: %+v", ev)
		}
	}
}
