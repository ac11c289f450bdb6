package demo

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// AssistantReply opens the demo upstream's last answer in the dashboard
// assistant's scripted exchange.
const AssistantReply = "[onekey demo upstream] This scripted answer comes from devstack's built-in demo upstream, not from a real model. "

// turn is one step of the scripted tool-use exchange: either a call of a
// tool (first step) or a text that quotes what the tool returned.
type turn struct {
	tool, text string
}

// assistantTurn scripts a short tool-use exchange for a Messages request
// that offers tools, so the dashboard's assistant can be tried with no
// provider key: a request whose last message holds no tool result calls
// get_balance (or the first tool offered); one that answers a tool call
// gets a labelled text quoting the result.
func assistantTurn(body []byte) (turn, bool) {
	var req struct {
		Tools []struct {
			Name string `json:"name"`
		} `json:"tools"`
		Messages []struct {
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	if json.Unmarshal(body, &req) != nil || len(req.Tools) == 0 || len(req.Messages) == 0 {
		return turn{}, false
	}
	var blocks []struct {
		Type    string          `json:"type"`
		Content json.RawMessage `json:"content"`
	}
	_ = json.Unmarshal(req.Messages[len(req.Messages)-1].Content, &blocks)
	for _, b := range blocks {
		if b.Type != "tool_result" {
			continue
		}
		var result string
		if json.Unmarshal(b.Content, &result) != nil {
			result = string(b.Content)
		}
		if len(result) > 400 {
			result = result[:400] + "…"
		}
		return turn{text: AssistantReply + "I called a tool of your account, which returned: " + result +
			"\n\nSet ASSISTANT_ANTHROPIC_API_KEY to have a real model answer."}, true
	}
	tool := req.Tools[0].Name
	for _, t := range req.Tools {
		if t.Name == "get_balance" {
			tool = t.Name
		}
	}
	return turn{tool: tool}, true
}

// stream writes the turn in the Messages API's streaming format.
func (t turn) stream(w http.ResponseWriter, prompt int64) {
	w.Header().Set("Content-Type", "text/event-stream")
	fl, _ := w.(http.Flusher)
	send := func(event, data string) {
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, data)
		if fl != nil {
			fl.Flush()
		}
	}
	send("message_start", fmt.Sprintf(`{"type":"message_start","message":{"id":"msg_demo_assistant","type":"message","role":"assistant","model":"onekey-demo","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":%d,"output_tokens":1}}}`, prompt))
	if t.tool != "" {
		send("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
		send("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"[onekey demo upstream] Let me look that up."}}`)
		send("content_block_stop", `{"type":"content_block_stop","index":0}`)
		name, _ := json.Marshal(t.tool)
		send("content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_demo_01","name":`+string(name)+`,"input":{}}}`)
		send("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{}"}}`)
		send("content_block_stop", `{"type":"content_block_stop","index":1}`)
		send("message_delta", `{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":24}}`)
	} else {
		text, _ := json.Marshal(t.text)
		send("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
		send("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":`+string(text)+`}}`)
		send("content_block_stop", `{"type":"content_block_stop","index":0}`)
		send("message_delta", fmt.Sprintf(`{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":%d}}`, len(t.text)/4))
	}
	send("message_stop", `{"type":"message_stop"}`)
}
