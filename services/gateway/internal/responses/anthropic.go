package responses

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/services/gateway/internal/usage"
)

// Responses → Anthropic Messages.

type anthRequest struct {
	Model        string          `json:"model"`
	MaxTokens    int64           `json:"max_tokens"`
	System       []anthBlock     `json:"system,omitempty"`
	Messages     []anthMessage   `json:"messages"`
	Tools        []anthTool      `json:"tools,omitempty"`
	ToolChoice   *anthToolChoice `json:"tool_choice,omitempty"`
	Temperature  *float64        `json:"temperature,omitempty"`
	TopP         *float64        `json:"top_p,omitempty"`
	Stream       bool            `json:"stream,omitempty"`
	Thinking     *anthThinking   `json:"thinking,omitempty"`
	OutputConfig *anthOutput     `json:"output_config,omitempty"`
	Metadata     *anthMetadata   `json:"metadata,omitempty"`
}

type anthMessage struct {
	Role    string      `json:"role"`
	Content []anthBlock `json:"content"`
}

// anthBlock is any content block; the members of its type are set.
type anthBlock struct {
	Type      string          `json:"type"`
	Text      *string         `json:"text,omitempty"`
	Source    *anthSource     `json:"source,omitempty"`
	Title     string          `json:"title,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	ToolUseID string          `json:"tool_use_id,omitempty"`
	Content   any             `json:"content,omitempty"`
	Thinking  *string         `json:"thinking,omitempty"`
	Signature string          `json:"signature,omitempty"`
	Data      string          `json:"data,omitempty"`
}

type anthSource struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
}

type anthTool struct {
	Name        string          `json:"name"`
	Description *string         `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema"`
}

type anthToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use,omitempty"`
}

type anthThinking struct {
	Type         string `json:"type"`
	BudgetTokens int64  `json:"budget_tokens,omitempty"`
	Display      string `json:"display,omitempty"`
}

type anthOutput struct {
	Effort string      `json:"effort,omitempty"`
	Format *anthFormat `json:"format,omitempty"`
}

type anthFormat struct {
	Type   string          `json:"type"`
	Schema json.RawMessage `json:"schema"`
}

type anthMetadata struct {
	UserID string `json:"user_id"`
}

// thinkingBudget maps a reasoning effort to an extended thinking budget,
// for the models without adaptive thinking.
var thinkingBudget = map[string]int64{"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576, "xhigh": 32000}

// adaptiveEffort maps a reasoning effort to output_config.effort, for the
// models with adaptive thinking (Claude 4.6 and later; Opus 4.7 and later
// accept no other thinking). xhigh is Opus 4.7's and later's; the 4.6
// models get high.
var adaptiveEffort = map[string]string{"minimal": "low", "low": "low", "medium": "medium", "high": "high", "xhigh": "xhigh"}

// budgetThinkingModels are the upstream model id prefixes of the Claude
// models that think with a budget (thinking.type "enabled") and have no
// adaptive thinking: 4.5 and before.
var budgetThinkingModels = []string{"claude-3", "claude-haiku-4", "claude-sonnet-4-5", "claude-sonnet-4-2", "claude-sonnet-4-0",
	"claude-opus-4-5", "claude-opus-4-1", "claude-opus-4-2", "claude-opus-4-0"}

func budgetThinking(upstreamModel string) bool {
	for _, p := range budgetThinkingModels {
		if strings.HasPrefix(upstreamModel, p) {
			return true
		}
	}
	return false
}

// ToAnthropic translates a parsed request into a Messages API body.
func ToAnthropic(r *Request, opt Options) ([]byte, *Translation, error) {
	t := &Translation{req: r, opt: opt}
	out := anthRequest{Model: opt.UpstreamModel, MaxTokens: opt.MaxOutputTokens, Temperature: r.Temperature, TopP: r.TopP, Stream: r.Stream}
	if out.MaxTokens <= 0 && r.MaxOutputTokens != nil {
		out.MaxTokens = *r.MaxOutputTokens
	}
	if out.MaxTokens <= 0 {
		return nil, nil, invalid("max_output_tokens", "`max_output_tokens` must be at least 1.")
	}
	if r.Instructions != nil && *r.Instructions != "" {
		out.System = append(out.System, textBlock(*r.Instructions))
	}
	for _, tn := range r.conversation {
		if tn.role == "system" {
			for _, p := range tn.parts {
				if p.kind != "text" {
					return nil, nil, refuse("input", "System and developer messages can hold only text for Anthropic models.")
				}
				if p.text != "" {
					out.System = append(out.System, textBlock(p.text))
				}
			}
			continue
		}
		role := tn.role
		if role == "tool" {
			role = "user"
		}
		var blocks []anthBlock
		for _, p := range tn.parts {
			b, ok, err := anthPart(p)
			if err != nil {
				return nil, nil, err
			}
			if ok {
				blocks = append(blocks, b)
			}
		}
		if len(blocks) == 0 {
			continue
		}
		if n := len(out.Messages); n > 0 && out.Messages[n-1].Role == role {
			out.Messages[n-1].Content = append(out.Messages[n-1].Content, blocks...)
			continue
		}
		out.Messages = append(out.Messages, anthMessage{Role: role, Content: blocks})
	}
	if len(out.Messages) == 0 {
		return nil, nil, invalid("input", "`input` has no user or assistant content.")
	}
	for _, tool := range r.Tools {
		schema := tool.Parameters
		if len(schema) == 0 || string(schema) == "null" {
			schema = json.RawMessage(`{"type":"object","properties":{}}`)
		}
		out.Tools = append(out.Tools, anthTool{Name: tool.Name, Description: tool.Description, InputSchema: schema})
	}
	tc, err := r.toolChoice()
	if err != nil {
		return nil, nil, err
	}
	if tc != nil {
		switch tc.mode {
		case "auto":
			out.ToolChoice = &anthToolChoice{Type: "auto"}
		case "none":
			out.ToolChoice = &anthToolChoice{Type: "none"}
		case "required":
			out.ToolChoice = &anthToolChoice{Type: "any"}
		case "function":
			out.ToolChoice = &anthToolChoice{Type: "tool", Name: tc.name}
		}
	}
	if r.ParallelToolCalls != nil && !*r.ParallelToolCalls && len(out.Tools) > 0 {
		if out.ToolChoice == nil {
			out.ToolChoice = &anthToolChoice{Type: "auto"}
		}
		if out.ToolChoice.Type != "none" {
			out.ToolChoice.DisableParallelToolUse = true
		}
	}
	if err := anthThinkingFor(r, &out); err != nil {
		return nil, nil, err
	}
	if f := r.jsonFormat(); f != nil {
		if f.Type != "json_schema" {
			return nil, nil, refuse("text.format.type", "`text.format.type` \"json_object\" is not supported for Anthropic models; use \"json_schema\" with a schema.")
		}
		if out.OutputConfig == nil {
			out.OutputConfig = &anthOutput{}
		}
		out.OutputConfig.Format = &anthFormat{Type: "json_schema", Schema: f.Schema}
	}
	if id := firstNonEmpty(r.SafetyIdentifier, r.User); id != "" {
		out.Metadata = &anthMetadata{UserID: id}
	}
	body, err := json.Marshal(out)
	if err != nil {
		return nil, nil, fmt.Errorf("encode messages request: %w", err)
	}
	return body, t, nil
}

// anthThinkingFor sets the thinking of reasoning.effort: adaptive thinking
// with output_config.effort on the models that have it, a thinking budget
// below max_tokens on the older ones. A summary asked for shows the
// thinking (display "summarized").
func anthThinkingFor(r *Request, out *anthRequest) error {
	e := r.effort()
	if e == "" || e == "none" {
		return nil
	}
	if _, ok := thinkingBudget[e]; !ok {
		return invalid("reasoning.effort", "`reasoning.effort` %q is not one of none, minimal, low, medium, high, xhigh.", e)
	}
	if budgetThinking(out.Model) {
		// Anthropic wants 1024 ≤ budget < max_tokens.
		budget := min(thinkingBudget[e], out.MaxTokens-1)
		if budget < 1024 {
			return invalid("max_output_tokens", "Reasoning on this Anthropic model needs `max_output_tokens` above 1024 (the least thinking budget); it is %d.", out.MaxTokens)
		}
		out.Thinking = &anthThinking{Type: "enabled", BudgetTokens: budget}
		return nil
	}
	effort := adaptiveEffort[e]
	if effort == "xhigh" && strings.Contains(out.Model, "-4-6") {
		effort = "high"
	}
	out.Thinking = &anthThinking{Type: "adaptive"}
	if r.Reasoning.Summary != nil && *r.Reasoning.Summary != "" {
		out.Thinking.Display = "summarized"
	}
	out.OutputConfig = &anthOutput{Effort: effort}
	return nil
}

func firstNonEmpty(ps ...*string) string {
	for _, p := range ps {
		if p != nil && *p != "" {
			return *p
		}
	}
	return ""
}

func textBlock(s string) anthBlock { return anthBlock{Type: "text", Text: &s} }

// anthPart is one part as a content block (ok false: nothing to send).
func anthPart(p part) (anthBlock, bool, error) {
	switch p.kind {
	case "text":
		if p.text == "" {
			return anthBlock{}, false, nil
		}
		return textBlock(p.text), true, nil
	case "image":
		return anthBlock{Type: "image", Source: anthMediaSource(p.url)}, true, nil
	case "file":
		src := anthMediaSource(p.url)
		return anthBlock{Type: "document", Source: src, Title: p.filename}, true, nil
	case "call":
		args := strings.TrimSpace(p.args)
		if args == "" {
			args = "{}"
		}
		if !json.Valid([]byte(args)) {
			return anthBlock{}, false, invalid("input", "The arguments of function call %q are not valid JSON.", p.callID)
		}
		return anthBlock{Type: "tool_use", ID: p.callID, Name: p.name, Input: json.RawMessage(args)}, true, nil
	case "result":
		b := anthBlock{Type: "tool_result", ToolUseID: p.callID}
		if p.content == nil {
			b.Content = p.text
			return b, true, nil
		}
		var inner []anthBlock
		for _, c := range p.content {
			ib, ok, err := anthPart(c)
			if err != nil {
				return anthBlock{}, false, err
			}
			if ok {
				inner = append(inner, ib)
			}
		}
		b.Content = inner
		return b, true, nil
	case "reasoning":
		if p.redacted {
			return anthBlock{Type: "redacted_thinking", Data: p.signature}, true, nil
		}
		text := p.text
		return anthBlock{Type: "thinking", Thinking: &text, Signature: p.signature}, true, nil
	}
	return anthBlock{}, false, nil
}

func anthMediaSource(u string) *anthSource {
	if mt, data, ok := dataURL(u); ok {
		return &anthSource{Type: "base64", MediaType: mt, Data: data}
	}
	return &anthSource{Type: "url", URL: u}
}

// Anthropic Messages → Responses.

type anthAnswer struct {
	Content []struct {
		Type      string          `json:"type"`
		Text      string          `json:"text"`
		ID        string          `json:"id"`
		Name      string          `json:"name"`
		Input     json.RawMessage `json:"input"`
		Thinking  string          `json:"thinking"`
		Signature string          `json:"signature"`
		Data      string          `json:"data"`
	} `json:"content"`
	StopReason string          `json:"stop_reason"`
	Usage      usage.Anthropic `json:"usage"`
}

// incompleteReason maps Anthropic's stop_reason.
func anthIncomplete(stop string) string {
	switch stop {
	case "max_tokens", "model_context_window_exceeded":
		return "max_output_tokens"
	case "refusal":
		return "content_filter"
	}
	return ""
}

// FromAnthropic turns a whole Messages answer into a Response body.
func (t *Translation) FromAnthropic(body []byte) ([]byte, error) {
	var a anthAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, fmt.Errorf("read messages answer: %w", err)
	}
	b := newBuilder(t)
	for _, c := range a.Content {
		switch c.Type {
		case "text":
			it := b.openText(false)
			b.textDelta(it, c.Text)
			b.closeText(it)
		case "tool_use":
			ci := b.openCall(c.ID, c.Name)
			args := string(c.Input)
			b.argsDelta(ci, args)
			b.closeCall(ci)
		case "thinking":
			r := b.openReasoning(false)
			b.reasoningDelta(r, c.Thinking)
			r.sig = c.Signature
			b.closeReasoning(r)
		case "redacted_thinking":
			r := b.openReasoning(true)
			r.sig = c.Data
			b.closeReasoning(r)
		}
	}
	b.finish(anthIncomplete(a.StopReason), a.Usage.Usage())
	return json.Marshal(b.resp)
}

// AnthropicStream turns a Messages event stream into Responses events.
type AnthropicStream struct {
	t      *Translation
	b      *builder
	open   map[int]any
	usage  usage.Anthropic
	stop   string
	ended  bool
	failed bool
}

// NewAnthropicStream starts the translation of a stream.
func (t *Translation) NewAnthropicStream() *AnthropicStream {
	return &AnthropicStream{t: t, b: newBuilder(t), open: map[int]any{}}
}

type anthEvent struct {
	Type    string `json:"type"`
	Index   int    `json:"index"`
	Message struct {
		Usage usage.Anthropic `json:"usage"`
	} `json:"message"`
	ContentBlock struct {
		Type      string `json:"type"`
		ID        string `json:"id"`
		Name      string `json:"name"`
		Text      string `json:"text"`
		Thinking  string `json:"thinking"`
		Signature string `json:"signature"`
		Data      string `json:"data"`
	} `json:"content_block"`
	Delta struct {
		Type        string `json:"type"`
		Text        string `json:"text"`
		PartialJSON string `json:"partial_json"`
		Thinking    string `json:"thinking"`
		Signature   string `json:"signature"`
		StopReason  string `json:"stop_reason"`
	} `json:"delta"`
	Usage usage.Anthropic `json:"usage"`
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

// Event translates one upstream event (its data) and returns the Responses
// events to send, possibly none.
func (s *AnthropicStream) Event(data []byte) []byte {
	var ev anthEvent
	if json.Unmarshal(data, &ev) != nil || s.ended {
		return nil
	}
	b := s.b
	switch ev.Type {
	case "message_start":
		s.usage.Merge(ev.Message.Usage)
		b.start()
	case "content_block_start":
		cb := ev.ContentBlock
		switch cb.Type {
		case "text":
			it := b.openText(false)
			b.textDelta(it, cb.Text)
			s.open[ev.Index] = it
		case "tool_use":
			s.open[ev.Index] = b.openCall(cb.ID, cb.Name)
		case "thinking":
			r := b.openReasoning(false)
			b.reasoningDelta(r, cb.Thinking)
			r.sig = cb.Signature
			s.open[ev.Index] = r
		case "redacted_thinking":
			r := b.openReasoning(true)
			r.sig = cb.Data
			s.open[ev.Index] = r
		}
	case "content_block_delta":
		switch o := s.open[ev.Index].(type) {
		case *textItem:
			b.textDelta(o, ev.Delta.Text)
		case *callItem:
			b.argsDelta(o, ev.Delta.PartialJSON)
		case *thinkItem:
			if ev.Delta.Type == "signature_delta" {
				o.sig += ev.Delta.Signature
			} else {
				b.reasoningDelta(o, ev.Delta.Thinking)
			}
		}
	case "content_block_stop":
		s.close(ev.Index)
	case "message_delta":
		s.usage.Merge(ev.Usage)
		if ev.Delta.StopReason != "" {
			s.stop = ev.Delta.StopReason
		}
	case "message_stop":
		s.closeAll()
		b.finish(anthIncomplete(s.stop), s.usage.Usage())
		s.ended = true
	case "error":
		s.closeAll()
		u := s.usage.Usage()
		b.fail("server_error", "The upstream reported an error: "+ev.Error.Message, &u)
		s.ended, s.failed = true, true
	}
	return b.em.take()
}

func (s *AnthropicStream) close(idx int) {
	switch o := s.open[idx].(type) {
	case *textItem:
		s.b.closeText(o)
	case *callItem:
		s.b.closeCall(o)
	case *thinkItem:
		s.b.closeReasoning(o)
	}
	delete(s.open, idx)
}

func (s *AnthropicStream) closeAll() {
	for len(s.open) > 0 {
		first := -1
		for i := range s.open {
			if first < 0 || i < first {
				first = i
			}
		}
		s.close(first)
	}
}

// End is called when the upstream stream has ended (broken off when it has
// not sent message_stop): it returns the events still owed.
func (s *AnthropicStream) End() []byte {
	if !s.ended {
		s.closeAll()
		var u *catalog.Usage
		if s.usage.Seen() {
			v := s.usage.Usage()
			u = &v
		}
		if !s.b.closed && s.b.em.seq == 0 {
			s.b.start()
		}
		s.b.fail("server_error", "The upstream's stream broke off before its end.", u)
		s.ended, s.failed = true, true
	}
	return s.b.em.take()
}
