package responses

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/api/money"
)

// Response is a Responses API response object, as the translators write it.
type Response struct {
	ID                 string          `json:"id"`
	Object             string          `json:"object"`
	CreatedAt          int64           `json:"created_at"`
	Status             string          `json:"status"`
	Background         bool            `json:"background"`
	Error              *ResponseError  `json:"error"`
	IncompleteDetails  *Incomplete     `json:"incomplete_details"`
	Instructions       *string         `json:"instructions"`
	MaxOutputTokens    *int64          `json:"max_output_tokens"`
	Metadata           json.RawMessage `json:"metadata"`
	Model              string          `json:"model"`
	Output             []any           `json:"output"`
	ParallelToolCalls  bool            `json:"parallel_tool_calls"`
	PreviousResponseID *string         `json:"previous_response_id"`
	Reasoning          reasoningEcho   `json:"reasoning"`
	ServiceTier        string          `json:"service_tier"`
	Store              bool            `json:"store"`
	Temperature        *float64        `json:"temperature"`
	Text               json.RawMessage `json:"text"`
	ToolChoice         json.RawMessage `json:"tool_choice"`
	Tools              []any           `json:"tools"`
	TopP               *float64        `json:"top_p"`
	Truncation         string          `json:"truncation"`
	Usage              *Usage          `json:"usage"`
	User               *string         `json:"user"`
}

type reasoningEcho struct {
	Effort  *string `json:"effort"`
	Summary *string `json:"summary"`
}

// ResponseError is a failed response's error.
type ResponseError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Incomplete says why a response stopped early.
type Incomplete struct {
	Reason string `json:"reason"`
}

// Usage is a response's usage, with the gateway's cost when it is known.
type Usage struct {
	InputTokens        int64 `json:"input_tokens"`
	InputTokensDetails struct {
		CachedTokens     int64 `json:"cached_tokens"`
		CacheWriteTokens int64 `json:"cache_write_tokens,omitempty"`
	} `json:"input_tokens_details"`
	OutputTokens        int64 `json:"output_tokens"`
	OutputTokensDetails struct {
		ReasoningTokens int64 `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
	TotalTokens int64 `json:"total_tokens"`
	// Cost is what the request was charged, in USD (a decimal number), and
	// CostMicros the same in integer micro-USD; Free marks a free request.
	// Set by Options.Cost.
	Cost       json.RawMessage `json:"cost,omitempty"`
	CostMicros *int64          `json:"cost_micros,omitempty"`
	Free       *bool           `json:"free,omitempty"`
}

// fromCatalog is the Responses usage of what the provider reported:
// input_tokens counts cached input and cache writes too, as OpenAI's does.
func fromCatalog(u catalog.Usage) *Usage {
	var out Usage
	writes := u.CacheWriteTokens + u.CacheWrite1hTokens
	out.InputTokens = u.InputTokens + u.CachedInputTokens + writes
	out.InputTokensDetails.CachedTokens = u.CachedInputTokens
	out.InputTokensDetails.CacheWriteTokens = writes
	out.OutputTokens = u.OutputTokens
	out.OutputTokensDetails.ReasoningTokens = u.ReasoningTokens
	out.TotalTokens = out.InputTokens + out.OutputTokens
	return &out
}

// Cost is what the gateway charged for a request, added to usage.
type Cost struct {
	Micros int64
	Free   bool
}

// apply writes c into u: cost as decimal USD from the integer micros.
func (c Cost) apply(u *Usage) {
	m := c.Micros
	u.CostMicros = &m
	u.Cost = json.RawMessage(money.Micros(m).Decimal())
	if c.Free {
		t := true
		u.Free = &t
	}
}

// CostMembers is c as the members added to a usage object:
// "cost":<USD>,"cost_micros":<n> and, for a free request, "free":true.
func CostMembers(c Cost) []byte {
	out := append([]byte(`"cost":`), money.Micros(c.Micros).Decimal()...)
	out = append(out, `,"cost_micros":`...)
	out = strconv.AppendInt(out, c.Micros, 10)
	if c.Free {
		out = append(out, `,"free":true`...)
	}
	return out
}

// Output items.

type messageItem struct {
	Type    string       `json:"type"`
	ID      string       `json:"id"`
	Status  string       `json:"status"`
	Role    string       `json:"role"`
	Content []outputPart `json:"content"`
}

// outputPart is a message's content part: output_text (with its
// annotations and logprobs, always present) or refusal.
type outputPart struct {
	Type        string  `json:"type"`
	Text        *string `json:"text,omitempty"`
	Refusal     *string `json:"refusal,omitempty"`
	Annotations *[]any  `json:"annotations,omitempty"`
	Logprobs    *[]any  `json:"logprobs,omitempty"`
}

func textPart(s string) outputPart {
	a, l := []any{}, []any{}
	return outputPart{Type: "output_text", Text: &s, Annotations: &a, Logprobs: &l}
}

func refusalPart(s string) outputPart {
	return outputPart{Type: "refusal", Refusal: &s}
}

type functionCallItem struct {
	Type      string `json:"type"`
	ID        string `json:"id"`
	Status    string `json:"status"`
	CallID    string `json:"call_id"`
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

type reasoningItem struct {
	Type             string        `json:"type"`
	ID               string        `json:"id"`
	Summary          []summaryPart `json:"summary"`
	EncryptedContent *string       `json:"encrypted_content,omitempty"`
}

type summaryPart struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// Options are what a translation needs besides the request.
type Options struct {
	// ResponseID is the id of the response the gateway answers with.
	ResponseID string
	// Model is the model id the client is answered with.
	Model string
	// UpstreamModel is the model id sent to the provider.
	UpstreamModel string
	// MaxOutputTokens is the output limit to send (0: the client's own, or
	// none). Anthropic requires one: the caller passes the model's maximum
	// when the client set none.
	MaxOutputTokens int64
	// Now is the response's creation time.
	Now time.Time
	// Cost, when set, is called with the provider's usage once it is known
	// and its answer added to the usage the client gets.
	Cost func(catalog.Usage) (Cost, bool)
}

// Translation is one request translated; it turns the upstream's answer
// into the Responses answer. Not safe for concurrent use.
type Translation struct {
	req   *Request
	opt   Options
	items int
}

// OnUsage sets the function that prices the provider's usage for the
// answer (Options.Cost).
func (t *Translation) OnUsage(f func(catalog.Usage) (Cost, bool)) { t.opt.Cost = f }

// newItemID names an output item: the response's id with a counter, so ids
// are unique and stable for one response.
func (t *Translation) newItemID(prefix string) string {
	t.items++
	base := t.opt.ResponseID
	if len(base) > 5 && base[:5] == "resp_" {
		base = base[5:]
	}
	return prefix + "_" + base + strconv.Itoa(t.items)
}

// skeleton is the response object before any output, echoing the request.
func (t *Translation) skeleton(status string) *Response {
	r := t.req
	resp := &Response{
		ID: t.opt.ResponseID, Object: "response", CreatedAt: t.opt.Now.Unix(), Status: status,
		Instructions: r.Instructions, MaxOutputTokens: r.MaxOutputTokens, Metadata: r.Metadata, Model: t.opt.Model,
		Output: []any{}, ParallelToolCalls: r.ParallelToolCalls == nil || *r.ParallelToolCalls,
		ServiceTier: "default", Temperature: r.Temperature, TopP: r.TopP, Truncation: "disabled", User: r.User,
		ToolChoice: r.ToolChoice, Tools: []any{},
	}
	if len(resp.Metadata) == 0 || string(resp.Metadata) == "null" {
		resp.Metadata = json.RawMessage(`{}`)
	}
	if len(resp.ToolChoice) == 0 || string(resp.ToolChoice) == "null" {
		resp.ToolChoice = json.RawMessage(`"auto"`)
	}
	if r.Truncation != nil && *r.Truncation != "" {
		resp.Truncation = *r.Truncation
	}
	resp.Text = json.RawMessage(`{"format":{"type":"text"}}`)
	if r.Text != nil && r.Text.Format != nil {
		if raw, err := json.Marshal(struct {
			Format *Format `json:"format"`
		}{r.Text.Format}); err == nil {
			resp.Text = raw
		}
	}
	if r.Reasoning != nil {
		resp.Reasoning.Effort = r.Reasoning.Effort
		resp.Reasoning.Summary = r.Reasoning.Summary
	}
	for _, tool := range r.Tools {
		resp.Tools = append(resp.Tools, struct {
			Type        string          `json:"type"`
			Name        string          `json:"name"`
			Description *string         `json:"description"`
			Parameters  json.RawMessage `json:"parameters"`
			Strict      bool            `json:"strict"`
		}{"function", tool.Name, tool.Description, tool.Parameters, tool.Strict != nil && *tool.Strict})
	}
	return resp
}

// finalUsage is the usage the client gets, with the cost.
func (t *Translation) finalUsage(u catalog.Usage) *Usage {
	out := fromCatalog(u)
	if t.opt.Cost != nil {
		if c, ok := t.opt.Cost(u); ok {
			c.apply(out)
		}
	}
	return out
}

// emitter writes Responses stream events with their sequence numbers.
type emitter struct {
	seq int64
	buf []byte
}

// emit appends one event: v is marshalled with "type" and
// "sequence_number" added in front.
func (e *emitter) emit(typ string, v any) {
	raw, err := json.Marshal(v)
	if err != nil {
		return
	}
	e.buf = append(e.buf, "event: "...)
	e.buf = append(e.buf, typ...)
	e.buf = append(e.buf, "\ndata: {\"type\":"...)
	e.buf = strconv.AppendQuote(e.buf, typ)
	e.buf = append(e.buf, ",\"sequence_number\":"...)
	e.buf = strconv.AppendInt(e.buf, e.seq, 10)
	e.seq++
	if len(raw) > 2 {
		e.buf = append(e.buf, ',')
		e.buf = append(e.buf, raw[1:]...)
	} else {
		e.buf = append(e.buf, '}')
	}
	e.buf = append(e.buf, "\n\n"...)
}

// take returns what was emitted since the last take.
func (e *emitter) take() []byte {
	out := e.buf
	e.buf = nil
	return out
}

// Event payloads (type and sequence_number are added by emit).

type responseEvent struct {
	Response *Response `json:"response"`
}

type itemEvent struct {
	OutputIndex int `json:"output_index"`
	Item        any `json:"item"`
}

type partEvent struct {
	ItemID       string     `json:"item_id"`
	OutputIndex  int        `json:"output_index"`
	ContentIndex int        `json:"content_index"`
	Part         outputPart `json:"part"`
}

type textDeltaEvent struct {
	ItemID       string `json:"item_id"`
	OutputIndex  int    `json:"output_index"`
	ContentIndex int    `json:"content_index"`
	Delta        string `json:"delta"`
	Logprobs     []any  `json:"logprobs"`
}

type textDoneEvent struct {
	ItemID       string `json:"item_id"`
	OutputIndex  int    `json:"output_index"`
	ContentIndex int    `json:"content_index"`
	Text         string `json:"text"`
	Logprobs     []any  `json:"logprobs"`
}

type refusalDeltaEvent struct {
	ItemID       string `json:"item_id"`
	OutputIndex  int    `json:"output_index"`
	ContentIndex int    `json:"content_index"`
	Delta        string `json:"delta"`
}

type refusalDoneEvent struct {
	ItemID       string `json:"item_id"`
	OutputIndex  int    `json:"output_index"`
	ContentIndex int    `json:"content_index"`
	Refusal      string `json:"refusal"`
}

type argsDeltaEvent struct {
	ItemID      string `json:"item_id"`
	OutputIndex int    `json:"output_index"`
	Delta       string `json:"delta"`
}

type argsDoneEvent struct {
	ItemID      string `json:"item_id"`
	OutputIndex int    `json:"output_index"`
	Name        string `json:"name"`
	Arguments   string `json:"arguments"`
}

type summaryPartEvent struct {
	ItemID       string      `json:"item_id"`
	OutputIndex  int         `json:"output_index"`
	SummaryIndex int         `json:"summary_index"`
	Part         summaryPart `json:"part"`
}

type summaryDeltaEvent struct {
	ItemID       string `json:"item_id"`
	OutputIndex  int    `json:"output_index"`
	SummaryIndex int    `json:"summary_index"`
	Delta        string `json:"delta"`
}

type summaryDoneEvent struct {
	ItemID       string `json:"item_id"`
	OutputIndex  int    `json:"output_index"`
	SummaryIndex int    `json:"summary_index"`
	Text         string `json:"text"`
}
