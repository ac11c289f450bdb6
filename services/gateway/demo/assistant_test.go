package demo_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/onekey-oss/onekey/services/gateway/demo"
)

// devstack's dashboard assistant runs against the demo upstream: a request
// offering tools gets a call of get_balance, and the request that answers
// it gets a labelled text quoting the tool's result.
func TestDemo_AssistantGetsAScriptedToolUseExchange(t *testing.T) {
	srv := httptest.NewServer(demo.Handler())
	defer srv.Close()
	post := func(body string) string {
		resp, err := http.Post(srv.URL+"/v1/messages", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return string(raw)
	}
	tools := `"tools":[{"name":"get_usage","input_schema":{"type":"object"}},{"name":"get_balance","input_schema":{"type":"object"}}]`
	first := post(`{"model":"claude-sonnet-5","max_tokens":100,"stream":true,` + tools + `,"messages":[{"role":"user","content":[{"type":"text","text":"balance?"}]}]}`)
	for _, want := range []string{`"type":"tool_use","id":"toolu_demo_01","name":"get_balance"`, `"stop_reason":"tool_use"`, "event: message_stop"} {
		if !strings.Contains(first, want) {
			t.Errorf("first turn lacks %s:\n%s", want, first)
		}
	}
	second := post(`{"model":"claude-sonnet-5","max_tokens":100,"stream":true,` + tools + `,"messages":[{"role":"user","content":[{"type":"text","text":"balance?"}]},` +
		`{"role":"assistant","content":[{"type":"tool_use","id":"toolu_demo_01","name":"get_balance","input":{}}]},` +
		`{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_demo_01","content":"{\"balance\":\"$5.00\"}"}]}]}`)
	for _, want := range []string{"[onekey demo upstream]", `$5.00`, `"stop_reason":"end_turn"`} {
		if !strings.Contains(second, want) {
			t.Errorf("second turn lacks %s:\n%s", want, second)
		}
	}
	// Without tools, the usual canned reply.
	if plain := post(`{"model":"claude-sonnet-5","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hi"}]}`); strings.Contains(plain, "tool_use") {
		t.Errorf("a request without tools got a tool call")
	}
}
