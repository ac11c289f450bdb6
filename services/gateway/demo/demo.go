// Package demo is a built-in stand-in for the AI providers, for devstack on
// a machine with no provider keys and for benchmarks. It speaks the wire
// formats the gateway forwards to (OpenAI-style chat completions and
// embeddings, plain and streamed with usage; Anthropic's Messages API and
// count_tokens) and answers every prompt with the same clearly labelled
// canned text. It never logs or keeps what it is sent, and reads of it only
// its length (for a plausible token count) and, on the Messages API, the
// tool names and tool results that drive the dashboard assistant's scripted
// tool-use exchange (see assistantTurn).
package demo

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/onekey-oss/onekey/services/gateway/internal/reqbody"
)

// Reply is the demo upstream's answer to every chat request.
const Reply = "[onekey demo upstream] Hello! This canned reply comes from devstack's built-in demo upstream, " +
	"not from a real model. Set OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY or XAI_API_KEY to reach real providers."

// Handler serves the demo upstream. Mount it at the root: paths are matched
// by suffix, so any provider's base URL convention works.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<20))
		// Only stream and stream_options are read; the rest is dropped.
		info, _ := reqbody.Peek(body)
		prompt := max(int64(len(body))/4, 1)
		p := r.URL.Path
		switch {
		case strings.HasSuffix(p, "/chat/completions"):
			chat(w, info, prompt)
		case strings.HasSuffix(p, "/embeddings"):
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.0123,-0.0456,0.0789]}],"model":"onekey-demo","usage":{"prompt_tokens":%d,"total_tokens":%d}}`, prompt, prompt)
		case strings.HasSuffix(p, "/messages/count_tokens"):
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"input_tokens":%d}`, prompt)
		case strings.HasSuffix(p, "/messages"):
			if t, ok := assistantTurn(body); ok && info.Stream {
				t.stream(w, prompt)
				return
			}
			messages(w, info, prompt)
		default:
			http.NotFound(w, r)
		}
	})
}

var words = strings.SplitAfter(Reply, " ")

func chat(w http.ResponseWriter, info reqbody.Info, prompt int64) {
	out := int64(len(words))
	created := time.Now().Unix()
	if !info.Stream {
		w.Header().Set("Content-Type", "application/json")
		body, _ := json.Marshal(Reply)
		fmt.Fprintf(w, `{"id":"chatcmpl-demo","object":"chat.completion","created":%d,"model":"onekey-demo","choices":[{"index":0,"message":{"role":"assistant","content":%s,"refusal":null},"finish_reason":"stop"}],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`,
			created, body, prompt, out, prompt+out)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	fl, _ := w.(http.Flusher)
	for i, word := range words {
		q, _ := json.Marshal(word)
		role := ""
		if i == 0 {
			role = `"role":"assistant",`
		}
		fmt.Fprintf(w, "data: {\"id\":\"chatcmpl-demo\",\"object\":\"chat.completion.chunk\",\"created\":%d,\"model\":\"onekey-demo\",\"choices\":[{\"index\":0,\"delta\":{%s\"content\":%s},\"finish_reason\":null}]}\n\n", created, role, q)
		if fl != nil {
			fl.Flush()
		}
	}
	fmt.Fprintf(w, "data: {\"id\":\"chatcmpl-demo\",\"object\":\"chat.completion.chunk\",\"created\":%d,\"model\":\"onekey-demo\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n", created)
	if info.IncludeUsage {
		fmt.Fprintf(w, "data: {\"id\":\"chatcmpl-demo\",\"object\":\"chat.completion.chunk\",\"created\":%d,\"model\":\"onekey-demo\",\"choices\":[],\"usage\":{\"prompt_tokens\":%d,\"completion_tokens\":%d,\"total_tokens\":%d}}\n\n", created, prompt, out, prompt+out)
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
}

func messages(w http.ResponseWriter, info reqbody.Info, prompt int64) {
	out := int64(len(words))
	if !info.Stream {
		w.Header().Set("Content-Type", "application/json")
		body, _ := json.Marshal(Reply)
		fmt.Fprintf(w, `{"id":"msg_demo","type":"message","role":"assistant","model":"onekey-demo","content":[{"type":"text","text":%s}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":%d,"output_tokens":%d}}`, body, prompt, out)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	fl, _ := w.(http.Flusher)
	fmt.Fprintf(w, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_demo\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"onekey-demo\",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":%d,\"output_tokens\":1}}}\n\n", prompt)
	fmt.Fprint(w, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n")
	for _, word := range words {
		q, _ := json.Marshal(word)
		fmt.Fprintf(w, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":%s}}\n\n", q)
		if fl != nil {
			fl.Flush()
		}
	}
	fmt.Fprint(w, "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n")
	fmt.Fprintf(w, "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":%d}}\n\n", out)
	fmt.Fprint(w, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
}
