package e2estack

import (
	"fmt"
	"io"
	"net/http"
)

// Nickel is what every NickelBody request through NickelUpstream costs
// under NickelCatalog, and its worst case: 1000 output tokens at $49.9999
// per million plus 25 input tokens at $0.000001 per million, rounded up to
// the micro-dollar.
const Nickel = 50_000

// NickelBody is a chat completion of the model test-nickel.
const NickelBody = `{"model":"test-nickel","max_tokens":1000,"messages":[{"role":"user","content":"hi"}]}`

// NickelCatalog prices the model test-nickel (upstream test-nickel-upstream).
const NickelCatalog = `{"models":[{"id":"test-nickel","name":"Test Nickel","provider":"openai","upstream_id":"test-nickel-upstream",
  "context_length":100000,"max_output_tokens":1000,"created":1,"source":"test","pricing":{"input":1,"output":49999900}}]}`

// NickelUpstream is an OpenAI chat completions endpoint that answers every
// request with 25 prompt and 1000 completion tokens.
func NickelUpstream() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"test-nickel-upstream","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"length"}],"usage":{"prompt_tokens":25,"completion_tokens":1000,"total_tokens":1025}}`)
	})
}
