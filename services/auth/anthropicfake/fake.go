// Package anthropicfake is a local stand-in for Anthropic's Messages API,
// for tests of the dashboard's assistant (auth's own and the browser tests
// in e2e/): it answers POST /v1/messages with streams recorded as golden
// files (testdata/*.sse, Anthropic's server-sent event sequence for text
// and tool use), fills their {{placeholders}} from the request, and keeps
// the requests it got so a test can see the tool calls and results.
package anthropicfake

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

//go:embed testdata/*.sse
var goldens embed.FS

// APIKey is the key the fake accepts (x-api-key, or Authorization: Bearer
// as the Go SDK v2 sends it).
const APIKey = "sk-ant-fake-assistant-tests"

// Reply is what the fake answers one request with: a golden stream with
// its placeholders filled, or an error status with Anthropic's error body.
type Reply struct {
	Golden string            // file name in testdata, e.g. "tool_use.sse"
	Vars   map[string]string // {{name}} → text (JSON-escaped into the stream)
	Status int               // non-zero: answer this status with an error body instead
}

// Script chooses the reply to a request.
type Script func(Request) Reply

// Request is one Messages API request the fake got.
type Request struct {
	APIKey string
	Raw    []byte
	Body   struct {
		Model     string `json:"model"`
		MaxTokens int64  `json:"max_tokens"`
		Stream    bool   `json:"stream"`
		System    []struct {
			Text string `json:"text"`
		} `json:"system"`
		Tools []struct {
			Name        string          `json:"name"`
			InputSchema json.RawMessage `json:"input_schema"`
		} `json:"tools"`
		Messages []struct {
			Role    string  `json:"role"`
			Content []Block `json:"content"`
		} `json:"messages"`
	}
}

// Block is a content block of a request message.
type Block struct {
	Type      string          `json:"type"`
	Text      string          `json:"text,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	ToolUseID string          `json:"tool_use_id,omitempty"`
	Content   json.RawMessage `json:"content,omitempty"`
	IsError   bool            `json:"is_error,omitempty"`
}

// ToolResult is a tool's result sent back in a request, with the name of
// the tool call it answers.
type ToolResult struct {
	Name    string
	Content string
	IsError bool
}

// ToolResults lists the tool results of the request's last message, with
// the names of the calls they answer (from the assistant turn before it).
func (r Request) ToolResults() []ToolResult {
	ms := r.Body.Messages
	if len(ms) < 2 {
		return nil
	}
	names := map[string]string{}
	for _, b := range ms[len(ms)-2].Content {
		if b.Type == "tool_use" {
			names[b.ID] = b.Name
		}
	}
	var out []ToolResult
	for _, b := range ms[len(ms)-1].Content {
		if b.Type != "tool_result" {
			continue
		}
		out = append(out, ToolResult{Name: names[b.ToolUseID], Content: textOf(b.Content), IsError: b.IsError})
	}
	return out
}

// textOf reads a tool result's content: a string or text blocks.
func textOf(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var blocks []Block
	_ = json.Unmarshal(raw, &blocks)
	var b strings.Builder
	for _, x := range blocks {
		b.WriteString(x.Text)
	}
	return b.String()
}

// LastUserText is the text of the request's last message.
func (r Request) LastUserText() string {
	ms := r.Body.Messages
	if len(ms) == 0 {
		return ""
	}
	var b strings.Builder
	for _, x := range ms[len(ms)-1].Content {
		b.WriteString(x.Text)
	}
	return b.String()
}

// Server is a running fake.
type Server struct {
	URL    string // base URL, as ANTHROPIC_BASE_URL (no /v1)
	script Script

	mu   sync.Mutex
	reqs []Request
}

// Start serves the fake until the test ends.
func Start(t testing.TB, script Script) *Server {
	t.Helper()
	s := &Server{script: script}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Requests returns the requests so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/messages" {
		http.NotFound(w, r)
		return
	}
	var req Request
	req.APIKey = r.Header.Get("X-Api-Key")
	if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && req.APIKey == "" {
		req.APIKey = bearer
	}
	req.Raw, _ = io.ReadAll(r.Body)
	if err := json.Unmarshal(req.Raw, &req.Body); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "bad JSON")
		return
	}
	s.mu.Lock()
	s.reqs = append(s.reqs, req)
	s.mu.Unlock()
	if req.APIKey != APIKey {
		writeError(w, http.StatusUnauthorized, "authentication_error", "invalid x-api-key")
		return
	}
	rep := s.script(req)
	if rep.Status != 0 {
		writeError(w, rep.Status, "overloaded_error", "Overloaded")
		return
	}
	if !req.Body.Stream {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "this fake answers streamed requests only")
		return
	}
	body, err := Golden(rep.Golden, withModel(rep.Vars, req.Body.Model))
	if err != nil {
		writeError(w, http.StatusInternalServerError, "api_error", err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Request-Id", "req_fake_assistant")
	fl, _ := w.(http.Flusher)
	for _, ev := range bytes.SplitAfter(body, []byte("\n\n")) {
		_, _ = w.Write(ev)
		if fl != nil {
			fl.Flush()
		}
	}
}

func withModel(vars map[string]string, model string) map[string]string {
	out := map[string]string{"model": model}
	for k, v := range vars {
		out[k] = v
	}
	return out
}

// Golden returns a golden stream with {{name}} replaced by vars[name],
// escaped as JSON string content.
func Golden(name string, vars map[string]string) ([]byte, error) {
	raw, err := goldens.ReadFile("testdata/" + name)
	if err != nil {
		return nil, fmt.Errorf("anthropicfake: %w", err)
	}
	s := string(raw)
	for k, v := range vars {
		q, _ := json.Marshal(v)
		s = strings.ReplaceAll(s, "{{"+k+"}}", string(q[1:len(q)-1]))
	}
	if i := strings.Index(s, "{{"); i >= 0 {
		return nil, fmt.Errorf("anthropicfake: %s: placeholder %.20s left unfilled", name, s[i:])
	}
	return []byte(s), nil
}

func writeError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"type":"error","error":{"type":%q,"message":%q},"request_id":"req_fake_assistant"}`, typ, msg)
}
