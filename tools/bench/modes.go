package main

// The bench's modes: which API a client calls, plain or streamed, and what
// the fake upstream answers for it.

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// mode is one kind of request the bench measures.
type mode struct {
	name    string // as printed: one word
	path    string // the API path, on the proxies and the upstream alike
	payload string
}

// modes are measured in this order.
var modes = []mode{
	{"plain", "/v1/chat/completions", chatBody(false)},
	{"stream", "/v1/chat/completions", chatBody(true)},
	{"responses", "/v1/responses", responsesBody(false)},
	{"resp-stream", "/v1/responses", responsesBody(true)},
}

// selectModes returns the modes named in list (comma-separated), in the
// bench's order; an empty list is every mode.
func selectModes(list string) ([]mode, error) {
	if list == "" {
		return modes, nil
	}
	want := map[string]bool{}
	for n := range strings.SplitSeq(list, ",") {
		want[strings.TrimSpace(n)] = true
	}
	var out []mode
	for _, m := range modes {
		if want[m.name] {
			out = append(out, m)
			delete(want, m.name)
		}
	}
	for n := range want {
		return nil, fmt.Errorf("-modes: unknown mode %q", n)
	}
	return out, nil
}

func chatBody(stream bool) string {
	return fmt.Sprintf(`{"model":"gpt-5-mini","stream":%v,"max_completion_tokens":256,"messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Write one sentence about the sea, please, in a calm and friendly tone."}]}`, stream)
}

// responsesBody is the same question through the Responses API, which the
// gateway passes through to OpenAI (with store: false).
func responsesBody(stream bool) string {
	return fmt.Sprintf(`{"model":"gpt-5-mini","stream":%v,"max_output_tokens":256,"instructions":"You are a helpful assistant.","input":[{"role":"user","content":"Write one sentence about the sea, please, in a calm and friendly tone."}]}`, stream)
}

// responsesUpstream answers POST /v1/responses as OpenAI does, with the
// same reply as the chat completions: a whole response object, or a
// stream of response.created, response.in_progress, 8 output_text.delta
// events, each flushed, and response.completed with the usage.
func responsesUpstream() func(w http.ResponseWriter, body []byte) {
	const text = "Hello! This is a fixed reply of a plausible length from the benchmark's fake upstream, which answers every request the same way."
	response := func(status, output, usage string) string {
		return `{"id":"resp_bench","object":"response","created_at":1741569952,"status":"` + status + `","background":false,"error":null,"incomplete_details":null,` +
			`"instructions":"You are a helpful assistant.","max_output_tokens":256,"model":"gpt-5-mini-2025-08-07","output":` + output + `,"parallel_tool_calls":true,` +
			`"previous_response_id":null,"reasoning":{"effort":"minimal","summary":null},"service_tier":"default","store":false,"temperature":1.0,` +
			`"text":{"format":{"type":"text"},"verbosity":"medium"},"tool_choice":"auto","tools":[],"top_p":1.0,"truncation":"disabled","usage":` + usage + `,"user":null,"metadata":{}}`
	}
	message := `[{"id":"msg_bench","type":"message","status":"completed","content":[{"type":"output_text","annotations":[],"logprobs":[],"text":"` + text + `"}],"role":"assistant"}]`
	usage := func(out int) string {
		return fmt.Sprintf(`{"input_tokens":42,"input_tokens_details":{"cached_tokens":0},"output_tokens":%d,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":%d}`, out, 42+out)
	}
	plain := []byte(response("completed", message, usage(30)))
	event := func(typ, data string) []byte { return []byte("event: " + typ + "\ndata: " + data + "\n\n") }
	created := event("response.created", `{"type":"response.created","sequence_number":0,"response":`+response("in_progress", "[]", "null")+`}`)
	progress := event("response.in_progress", `{"type":"response.in_progress","sequence_number":1,"response":`+response("in_progress", "[]", "null")+`}`)
	var deltas [][]byte
	for i := range streamChunks {
		deltas = append(deltas, event("response.output_text.delta", `{"type":"response.output_text.delta","sequence_number":`+strconv.Itoa(i+2)+
			`,"item_id":"msg_bench","output_index":0,"content_index":0,"delta":"word ","logprobs":[]}`))
	}
	completed := event("response.completed", `{"type":"response.completed","sequence_number":`+strconv.Itoa(streamChunks+2)+`,"response":`+
		response("completed", strings.Replace(message, text, strings.Repeat("word ", streamChunks), 1), usage(streamChunks))+`}`)
	return func(w http.ResponseWriter, body []byte) {
		if !strings.Contains(string(body), `"stream":true`) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", strconv.Itoa(len(plain)))
			_, _ = w.Write(plain)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		_, _ = w.Write(created)
		_, _ = w.Write(progress)
		fl.Flush()
		for _, d := range deltas {
			_, _ = w.Write(d)
			fl.Flush()
		}
		_, _ = w.Write(completed)
	}
}
