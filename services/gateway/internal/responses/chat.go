package responses

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/services/gateway/internal/usage"
)

// Responses → chat completions (Gemini's OpenAI-compatible endpoint).

type chatRequest struct {
	Model           string          `json:"model"`
	Messages        []chatMessage   `json:"messages"`
	Tools           []chatTool      `json:"tools,omitempty"`
	ToolChoice      any             `json:"tool_choice,omitempty"`
	MaxTokens       int64           `json:"max_tokens,omitempty"`
	Temperature     *float64        `json:"temperature,omitempty"`
	TopP            *float64        `json:"top_p,omitempty"`
	ReasoningEffort string          `json:"reasoning_effort,omitempty"`
	ResponseFormat  *chatFormat     `json:"response_format,omitempty"`
	Stream          bool            `json:"stream,omitempty"`
	StreamOptions   *chatStreamOpts `json:"stream_options,omitempty"`
}

type chatStreamOpts struct {
	IncludeUsage bool `json:"include_usage"`
}

type chatMessage struct {
	Role       string         `json:"role"`
	Content    any            `json:"content"`
	ToolCalls  []chatToolCall `json:"tool_calls,omitempty"`
	ToolCallID string         `json:"tool_call_id,omitempty"`
}

type chatPart struct {
	Type     string        `json:"type"`
	Text     *string       `json:"text,omitempty"`
	ImageURL *chatImageURL `json:"image_url,omitempty"`
}

type chatImageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail,omitempty"`
}

type chatToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
	ExtraContent *extraContent `json:"extra_content,omitempty"`
}

// extraContent is where Gemini's OpenAI-compatible endpoint puts a tool
// call's thought signature, which Gemini 3 wants back with the call.
type extraContent struct {
	Google struct {
		ThoughtSignature string `json:"thought_signature,omitempty"`
	} `json:"google"`
}

// signatureSep joins a Gemini tool call's id and its thought signature in
// the call_id the client gets: clients send call_ids back as they got them,
// so the signature comes back with its call, and the gateway keeps nothing.
const signatureSep = "|ts:"

// joinCallID is the call_id of a Gemini tool call.
func joinCallID(id string, x *extraContent) string {
	if x == nil || x.Google.ThoughtSignature == "" {
		return id
	}
	return id + signatureSep + x.Google.ThoughtSignature
}

// splitCallID undoes joinCallID.
func splitCallID(callID string) (string, *extraContent) {
	id, sig, ok := strings.Cut(callID, signatureSep)
	if !ok || sig == "" {
		return callID, nil
	}
	x := &extraContent{}
	x.Google.ThoughtSignature = sig
	return id, x
}

type chatTool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description *string         `json:"description,omitempty"`
		Parameters  json.RawMessage `json:"parameters,omitempty"`
		Strict      *bool           `json:"strict,omitempty"`
	} `json:"function"`
}

type chatFormat struct {
	Type       string          `json:"type"`
	JSONSchema *chatJSONSchema `json:"json_schema,omitempty"`
}

type chatJSONSchema struct {
	Name        string          `json:"name"`
	Description *string         `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema"`
	Strict      *bool           `json:"strict,omitempty"`
}

// chatEfforts are the reasoning_effort values chat completions takes.
var chatEfforts = map[string]bool{"none": true, "minimal": true, "low": true, "medium": true, "high": true}

// ToChat translates a parsed request into a chat completions body.
func ToChat(r *Request, opt Options) ([]byte, *Translation, error) {
	t := &Translation{req: r, opt: opt}
	out := chatRequest{Model: opt.UpstreamModel, Temperature: r.Temperature, TopP: r.TopP, Stream: r.Stream}
	// parallel_tool_calls is not sent: Gemini's endpoint refuses it (the
	// README says so).
	out.MaxTokens = opt.MaxOutputTokens
	if out.MaxTokens <= 0 && r.MaxOutputTokens != nil {
		out.MaxTokens = *r.MaxOutputTokens
	}
	if r.Stream {
		out.StreamOptions = &chatStreamOpts{IncludeUsage: true}
	}
	if r.Instructions != nil && *r.Instructions != "" {
		out.Messages = append(out.Messages, chatMessage{Role: "system", Content: *r.Instructions})
	}
	for _, tn := range r.conversation {
		msgs, err := chatMessages(tn)
		if err != nil {
			return nil, nil, err
		}
		out.Messages = append(out.Messages, msgs...)
	}
	for _, tool := range r.Tools {
		var ct chatTool
		ct.Type = "function"
		ct.Function.Name, ct.Function.Description, ct.Function.Parameters, ct.Function.Strict = tool.Name, tool.Description, tool.Parameters, tool.Strict
		out.Tools = append(out.Tools, ct)
	}
	tc, err := r.toolChoice()
	if err != nil {
		return nil, nil, err
	}
	if tc != nil {
		if tc.mode == "function" {
			out.ToolChoice = map[string]any{"type": "function", "function": map[string]string{"name": tc.name}}
		} else {
			out.ToolChoice = tc.mode
		}
	}
	if e := r.effort(); e != "" {
		if !chatEfforts[e] {
			return nil, nil, refuse("reasoning.effort", "`reasoning.effort` %q is not supported for this model through this gateway; use none, minimal, low, medium or high.", e)
		}
		out.ReasoningEffort = e
	}
	if f := r.jsonFormat(); f != nil {
		if f.Type == "json_object" {
			out.ResponseFormat = &chatFormat{Type: "json_object"}
		} else {
			name := f.Name
			if name == "" {
				name = "response"
			}
			out.ResponseFormat = &chatFormat{Type: "json_schema", JSONSchema: &chatJSONSchema{Name: name, Description: f.Description, Schema: f.Schema, Strict: f.Strict}}
		}
	}
	body, err := json.Marshal(out)
	if err != nil {
		return nil, nil, fmt.Errorf("encode chat request: %w", err)
	}
	return body, t, nil
}

// chatMessages is one turn as chat messages: a tool turn is one message per
// result.
func chatMessages(tn turn) ([]chatMessage, error) {
	switch tn.role {
	case "tool":
		var out []chatMessage
		for _, p := range tn.parts {
			text := p.text
			for _, c := range p.content {
				if c.kind != "text" {
					return nil, refuse("input", "Function call outputs can hold only text for this model through this gateway.")
				}
				text += c.text
			}
			id, _ := splitCallID(p.callID)
			out = append(out, chatMessage{Role: "tool", ToolCallID: id, Content: text})
		}
		return out, nil
	case "assistant":
		m := chatMessage{Role: "assistant"}
		var text string
		for _, p := range tn.parts {
			switch p.kind {
			case "text":
				text += p.text
			case "call":
				var c chatToolCall
				c.ID, c.ExtraContent = splitCallID(p.callID)
				c.Type = "function"
				c.Function.Name, c.Function.Arguments = p.name, p.args
				if c.Function.Arguments == "" {
					c.Function.Arguments = "{}"
				}
				m.ToolCalls = append(m.ToolCalls, c)
			case "reasoning":
				return nil, refuse("input", "Reasoning items cannot be sent to this model through this gateway; leave them out of `input`.")
			default:
				return nil, refuse("input", "Assistant messages can hold only text and function calls for this model.")
			}
		}
		if text != "" || len(m.ToolCalls) == 0 {
			m.Content = text
		}
		return []chatMessage{m}, nil
	}
	// system and user.
	allText := true
	for _, p := range tn.parts {
		if p.kind != "text" {
			allText = false
		}
	}
	if allText {
		var text string
		for i, p := range tn.parts {
			if i > 0 {
				text += "\n\n"
			}
			text += p.text
		}
		return []chatMessage{{Role: tn.role, Content: text}}, nil
	}
	if tn.role == "system" {
		return nil, refuse("input", "System and developer messages can hold only text for this model.")
	}
	var parts []chatPart
	for _, p := range tn.parts {
		switch p.kind {
		case "text":
			s := p.text
			parts = append(parts, chatPart{Type: "text", Text: &s})
		case "image":
			parts = append(parts, chatPart{Type: "image_url", ImageURL: &chatImageURL{URL: p.url, Detail: p.detail}})
		case "file":
			return nil, refuse("input", "File inputs (input_file) are not supported for this model through this gateway.")
		default:
			return nil, refuse("input", "User messages can hold only text and images for this model.")
		}
	}
	return []chatMessage{{Role: "user", Content: parts}}, nil
}

// chat completions → Responses.

type chatAnswer struct {
	Choices []struct {
		Message struct {
			Content   *string        `json:"content"`
			Refusal   *string        `json:"refusal"`
			ToolCalls []chatToolCall `json:"tool_calls"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage *usage.OpenAI `json:"usage"`
}

func chatIncomplete(finish string) string {
	switch finish {
	case "length":
		return "max_output_tokens"
	case "content_filter":
		return "content_filter"
	}
	return ""
}

func chatUsage(u *usage.OpenAI) catalog.Usage {
	if u == nil {
		return catalog.Usage{}
	}
	return u.Usage()
}

// FromChat turns a whole chat completion into a Response body.
func (t *Translation) FromChat(body []byte) ([]byte, error) {
	var a chatAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, fmt.Errorf("read chat answer: %w", err)
	}
	b := newBuilder(t)
	finish := ""
	if len(a.Choices) > 0 {
		c := a.Choices[0]
		finish = c.FinishReason
		if c.Message.Content != nil && *c.Message.Content != "" {
			it := b.openText(false)
			b.textDelta(it, *c.Message.Content)
			b.closeText(it)
		}
		if c.Message.Refusal != nil && *c.Message.Refusal != "" {
			it := b.openText(true)
			b.textDelta(it, *c.Message.Refusal)
			b.closeText(it)
		}
		for _, tc := range c.Message.ToolCalls {
			ci := b.openCall(joinCallID(tc.ID, tc.ExtraContent), tc.Function.Name)
			b.argsDelta(ci, tc.Function.Arguments)
			b.closeCall(ci)
		}
	}
	b.finish(chatIncomplete(finish), chatUsage(a.Usage))
	return json.Marshal(b.resp)
}

// ChatStream turns a chat completions event stream into Responses events.
type ChatStream struct {
	t       *Translation
	b       *builder
	text    *textItem
	refusal *textItem
	// The open function calls: in order, by their index, the last one,
	// and each one's id as the upstream sent it.
	order   []*callItem
	byIndex map[int]*callItem
	last    *callItem
	rawID   map[*callItem]string
	finish  string
	usage   *usage.OpenAI
	ended   bool
}

// NewChatStream starts the translation of a stream.
func (t *Translation) NewChatStream() *ChatStream {
	return &ChatStream{t: t, b: newBuilder(t), byIndex: map[int]*callItem{}, rawID: map[*callItem]string{}}
}

type chatChunk struct {
	Choices []struct {
		Delta struct {
			Content   *string `json:"content"`
			Refusal   *string `json:"refusal"`
			ToolCalls []struct {
				Index *int   `json:"index"`
				ID    string `json:"id"`
				// ExtraContent carries Gemini's thought signature.
				ExtraContent *extraContent `json:"extra_content"`
				Function     struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *usage.OpenAI `json:"usage"`
}

// Event translates one upstream event (its data) and returns the Responses
// events to send, possibly none.
func (s *ChatStream) Event(data []byte) []byte {
	if s.ended {
		return nil
	}
	b := s.b
	if bytes.Equal(bytes.TrimSpace(data), []byte("[DONE]")) {
		s.complete()
		return b.em.take()
	}
	var ch chatChunk
	if json.Unmarshal(data, &ch) != nil {
		return nil
	}
	if b.em.seq == 0 {
		b.start()
	}
	if ch.Usage != nil {
		s.usage = ch.Usage
	}
	for _, c := range ch.Choices {
		if d := c.Delta.Content; d != nil && *d != "" {
			if s.text == nil {
				s.text = b.openText(false)
			}
			b.textDelta(s.text, *d)
		}
		if d := c.Delta.Refusal; d != nil && *d != "" {
			if s.refusal == nil {
				s.refusal = b.openText(true)
			}
			b.textDelta(s.refusal, *d)
		}
		for _, tc := range c.Delta.ToolCalls {
			// A call's deltas share its index; Gemini may send whole calls
			// without one: then a new id is a new call.
			var ci *callItem
			if tc.Index != nil {
				ci = s.byIndex[*tc.Index]
			} else {
				ci = s.last
			}
			if ci != nil && tc.ID != "" && s.rawID[ci] != tc.ID {
				ci = nil
			}
			if ci == nil {
				s.closeText()
				ci = b.openCall(joinCallID(tc.ID, tc.ExtraContent), tc.Function.Name)
				s.rawID[ci] = tc.ID
				s.order = append(s.order, ci)
				if tc.Index != nil {
					s.byIndex[*tc.Index] = ci
				}
			}
			s.last = ci
			b.argsDelta(ci, tc.Function.Arguments)
		}
		if c.FinishReason != nil && *c.FinishReason != "" {
			s.finish = *c.FinishReason
		}
	}
	return b.em.take()
}

func (s *ChatStream) closeText() {
	if s.text != nil {
		s.b.closeText(s.text)
		s.text = nil
	}
	if s.refusal != nil {
		s.b.closeText(s.refusal)
		s.refusal = nil
	}
}

func (s *ChatStream) closeAll() {
	s.closeText()
	for _, c := range s.order {
		s.b.closeCall(c)
	}
	s.order, s.last = nil, nil
	clear(s.byIndex)
}

func (s *ChatStream) complete() {
	if s.b.em.seq == 0 {
		s.b.start()
	}
	s.closeAll()
	s.b.finish(chatIncomplete(s.finish), chatUsage(s.usage))
	s.ended = true
}

// End is called when the upstream stream has ended: a stream that ended
// without [DONE] is complete when it reported its finish and usage, and
// failed otherwise.
func (s *ChatStream) End() []byte {
	if !s.ended {
		if s.finish != "" && s.usage != nil {
			s.complete()
		} else {
			if s.b.em.seq == 0 {
				s.b.start()
			}
			s.closeAll()
			var u *catalog.Usage
			if s.usage != nil {
				v := s.usage.Usage()
				u = &v
			}
			s.b.fail("server_error", "The upstream's stream broke off before its end.", u)
			s.ended = true
		}
	}
	return s.b.em.take()
}
