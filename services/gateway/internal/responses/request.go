// Package responses translates the OpenAI Responses API (POST /v1/responses)
// to the upstream APIs that do not speak it: Anthropic's Messages API and
// the chat completions API (Gemini's OpenAI-compatible endpoint), and their
// answers, whole or streamed event by event, back to Responses.
//
// What a translation cannot carry over (a built-in tool only OpenAI runs, a
// stored conversation, a file uploaded to OpenAI) is refused with an *Error
// naming the parameter, never dropped. The package holds no state between
// requests and never logs: content passes through memory only.
package responses

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Error is a request the translation refuses: the gateway answers it 400 in
// the Responses API's error shape.
type Error struct {
	Param   string
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

func refuse(param, format string, args ...any) *Error {
	return &Error{Param: param, Code: "unsupported_parameter", Message: fmt.Sprintf(format, args...)}
}

func invalid(param, format string, args ...any) *Error {
	return &Error{Param: param, Code: "invalid_value", Message: fmt.Sprintf(format, args...)}
}

// Request is what the translators read of a Responses create request.
type Request struct {
	Model             string          `json:"model"`
	Input             json.RawMessage `json:"input"`
	Instructions      *string         `json:"instructions"`
	Tools             []Tool          `json:"tools"`
	ToolChoice        json.RawMessage `json:"tool_choice"`
	Text              *TextConfig     `json:"text"`
	Reasoning         *Reasoning      `json:"reasoning"`
	MaxOutputTokens   *int64          `json:"max_output_tokens"`
	Temperature       *float64        `json:"temperature"`
	TopP              *float64        `json:"top_p"`
	ParallelToolCalls *bool           `json:"parallel_tool_calls"`
	Stream            bool            `json:"stream"`
	Store             *bool           `json:"store"`
	Metadata          json.RawMessage `json:"metadata"`
	User              *string         `json:"user"`
	SafetyIdentifier  *string         `json:"safety_identifier"`
	Truncation        *string         `json:"truncation"`
	ServiceTier       *string         `json:"service_tier"`
	Include           []string        `json:"include"`
	// The rest is read only to be refused or accepted as a hint.
	PreviousResponseID *string         `json:"previous_response_id"`
	Background         *bool           `json:"background"`
	StreamOptions      json.RawMessage `json:"stream_options"`
	PromptCacheKey     *string         `json:"prompt_cache_key"`

	// conversation is Input read, by Parse.
	conversation []turn
}

// Tool is a Responses tool. Only function tools translate.
type Tool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description *string         `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
	Strict      *bool           `json:"strict"`
}

// TextConfig is the text member: the output format.
type TextConfig struct {
	Format    *Format `json:"format"`
	Verbosity *string `json:"verbosity"`
}

// Format is text.format: text, json_object or json_schema.
type Format struct {
	Type        string          `json:"type"`
	Name        string          `json:"name,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
	Description *string         `json:"description,omitempty"`
}

// Reasoning is the reasoning member.
type Reasoning struct {
	Effort          *string `json:"effort"`
	Summary         *string `json:"summary"`
	GenerateSummary *string `json:"generate_summary"`
}

// handled are the members a translation carries over or refuses itself;
// any other member of a request is refused by name.
var handled = map[string]bool{
	"model": true, "input": true, "instructions": true, "tools": true, "tool_choice": true, "text": true,
	"reasoning": true, "max_output_tokens": true, "temperature": true, "top_p": true, "parallel_tool_calls": true,
	"stream": true, "store": true, "metadata": true, "user": true, "safety_identifier": true, "truncation": true,
	"service_tier": true, "include": true, "previous_response_id": true, "background": true, "stream_options": true,
	"prompt_cache_key": true,
}

// Parse reads a Responses create request and refuses, for a request to be
// translated for provider (its display name, for messages), whatever no
// translation carries over.
func Parse(body []byte, provider string) (*Request, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil {
		return nil, invalid("", "We could not parse the JSON body of your request: %v", err)
	}
	var unknown []string
	for k, v := range members {
		if !handled[k] && !bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, refuse(unknown[0], "`%s` is not supported for %s models through this gateway's Responses API (it translates to the %s API, which has no equivalent).", unknown[0], provider, provider)
	}
	var r Request
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, invalid("", "We could not parse the JSON body of your request: %v", err)
	}
	if r.PreviousResponseID != nil && *r.PreviousResponseID != "" {
		return nil, refuse("previous_response_id", "`previous_response_id` is not supported for %s models: the gateway stores no conversation content for translated models. Send the whole conversation in `input`.", provider)
	}
	if r.Background != nil && *r.Background {
		return nil, refuse("background", "`background` is not supported by this gateway: a background response is polled later, which the gateway does not bill. Use `stream` instead.")
	}
	for _, inc := range r.Include {
		if inc != "reasoning.encrypted_content" {
			return nil, refuse("include", "`include` value %q is not supported for %s models through this gateway.", inc, provider)
		}
	}
	if r.ServiceTier != nil {
		switch *r.ServiceTier {
		case "", "auto", "default":
		default:
			return nil, refuse("service_tier", "`service_tier` %q is not available for %s models through this gateway. Omit it or use \"auto\".", *r.ServiceTier, provider)
		}
	}
	if r.Truncation != nil && *r.Truncation != "disabled" && *r.Truncation != "auto" {
		return nil, invalid("truncation", "`truncation` must be \"auto\" or \"disabled\".")
	}
	if r.Text != nil && r.Text.Verbosity != nil && *r.Text.Verbosity != "" && *r.Text.Verbosity != "medium" {
		return nil, refuse("text.verbosity", "`text.verbosity` %q is not supported for %s models through this gateway.", *r.Text.Verbosity, provider)
	}
	if r.Text != nil && r.Text.Format != nil {
		switch r.Text.Format.Type {
		case "text", "json_object":
		case "json_schema":
			if len(r.Text.Format.Schema) == 0 {
				return nil, invalid("text.format.schema", "`text.format.schema` is required when `text.format.type` is \"json_schema\".")
			}
		default:
			return nil, invalid("text.format.type", "`text.format.type` %q is not one of \"text\", \"json_object\", \"json_schema\".", r.Text.Format.Type)
		}
	}
	for i, t := range r.Tools {
		if t.Type != "function" {
			return nil, refuse(fmt.Sprintf("tools[%d].type", i), "`tools[%d]`: the %q tool is not supported for %s models through this gateway: only OpenAI runs it. Use function tools.", i, t.Type, provider)
		}
		if t.Name == "" {
			return nil, invalid(fmt.Sprintf("tools[%d].name", i), "`tools[%d].name` is required.", i)
		}
	}
	var err error
	if r.conversation, err = r.turns(); err != nil {
		return nil, err
	}
	return &r, nil
}

// effort is the reasoning effort asked for ("" for none).
func (r *Request) effort() string {
	if r.Reasoning == nil || r.Reasoning.Effort == nil {
		return ""
	}
	return *r.Reasoning.Effort
}

// jsonFormat is the structured output format asked for, or nil for text.
func (r *Request) jsonFormat() *Format {
	if r.Text == nil || r.Text.Format == nil || r.Text.Format.Type == "text" {
		return nil
	}
	return r.Text.Format
}

// toolChoice is the tool_choice member read: mode "auto", "none",
// "required" or "function" (with name).
type toolChoice struct {
	mode, name string
}

func (r *Request) toolChoice() (*toolChoice, error) {
	raw := bytes.TrimSpace(r.ToolChoice)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch s {
		case "auto", "none", "required":
			return &toolChoice{mode: s}, nil
		}
		return nil, invalid("tool_choice", "`tool_choice` %q is not one of \"auto\", \"none\", \"required\".", s)
	}
	var o struct {
		Type string `json:"type"`
		Name string `json:"name"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, invalid("tool_choice", "`tool_choice` could not be read: %v", err)
	}
	if o.Type != "function" || o.Name == "" {
		return nil, refuse("tool_choice", "`tool_choice` of type %q is not supported through this gateway for this model: name a function tool ({\"type\":\"function\",\"name\":...}) or use \"auto\", \"none\" or \"required\".", o.Type)
	}
	return &toolChoice{mode: "function", name: o.Name}, nil
}

// Input, in a form both translators read.

// turn is one message of a conversation, in order.
type turn struct {
	role  string // "system", "user", "assistant", "tool"
	parts []part
}

// part is one piece of a turn.
type part struct {
	kind string // "text", "image", "file", "call", "result", "reasoning"
	text string
	// image and file: a URL (http(s) or data:), with the file's name.
	url, filename, detail string
	// call and result.
	callID, name, args string
	// result: its content, when it is more than text.
	content []part
	// reasoning: Anthropic's signature (or redacted data).
	signature string
	redacted  bool
}

// item is one input item.
type item struct {
	Type      string          `json:"type"`
	Role      string          `json:"role"`
	Content   json.RawMessage `json:"content"`
	CallID    string          `json:"call_id"`
	Name      string          `json:"name"`
	Arguments string          `json:"arguments"`
	Output    json.RawMessage `json:"output"`
	Summary   []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"summary"`
	EncryptedContent *string `json:"encrypted_content"`
}

// contentPart is one part of a message's content.
type contentPart struct {
	Type     string  `json:"type"`
	Text     string  `json:"text"`
	Refusal  string  `json:"refusal"`
	ImageURL *string `json:"image_url"`
	FileID   *string `json:"file_id"`
	Detail   string  `json:"detail"`
	FileData string  `json:"file_data"`
	FileURL  string  `json:"file_url"`
	Filename string  `json:"filename"`
}

// redactedPrefix marks the encrypted_content of a reasoning item that
// carries one of Anthropic's redacted_thinking blocks, not a signature.
const redactedPrefix = "anthropic-redacted:"

// turns reads input (a string, or a list of items) into turns, merging
// consecutive turns of one role.
func (r *Request) turns() ([]turn, error) {
	raw := bytes.TrimSpace(r.Input)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, invalid("input", "`input` is required.")
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []turn{{role: "user", parts: []part{{kind: "text", text: s}}}}, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, invalid("input", "`input` must be a string or a list of items.")
	}
	var out []turn
	add := func(role string, ps ...part) {
		if n := len(out); n > 0 && out[n-1].role == role {
			out[n-1].parts = append(out[n-1].parts, ps...)
			return
		}
		out = append(out, turn{role: role, parts: ps})
	}
	for i, rawItem := range items {
		var it item
		if err := json.Unmarshal(rawItem, &it); err != nil {
			return nil, invalid(fmt.Sprintf("input[%d]", i), "`input[%d]` could not be read: %v", i, err)
		}
		param := fmt.Sprintf("input[%d]", i)
		typ := it.Type
		if typ == "" && it.Role != "" {
			typ = "message"
		}
		switch typ {
		case "message":
			role := it.Role
			switch role {
			case "developer", "system":
				role = "system"
			case "user", "assistant":
			default:
				return nil, invalid(param+".role", "`%s.role` %q is not one of user, assistant, system, developer.", param, it.Role)
			}
			ps, err := contentParts(it.Content, param+".content")
			if err != nil {
				return nil, err
			}
			add(role, ps...)
		case "function_call":
			if it.CallID == "" || it.Name == "" {
				return nil, invalid(param, "`%s`: a function_call item needs call_id and name.", param)
			}
			add("assistant", part{kind: "call", callID: it.CallID, name: it.Name, args: it.Arguments})
		case "function_call_output":
			if it.CallID == "" {
				return nil, invalid(param+".call_id", "`%s.call_id` is required.", param)
			}
			res := part{kind: "result", callID: it.CallID}
			var text string
			if json.Unmarshal(it.Output, &text) == nil {
				res.text = text
			} else {
				ps, err := contentParts(it.Output, param+".output")
				if err != nil {
					return nil, err
				}
				res.content = ps
			}
			add("tool", res)
		case "reasoning":
			if it.EncryptedContent == nil || *it.EncryptedContent == "" {
				return nil, refuse(param, "`%s`: a reasoning item without encrypted_content cannot be sent back to this model through this gateway. Ask for it with include: [\"reasoning.encrypted_content\"], or leave the item out.", param)
			}
			var sum []string
			for _, s := range it.Summary {
				sum = append(sum, s.Text)
			}
			p := part{kind: "reasoning", text: strings.Join(sum, "\n\n"), signature: *it.EncryptedContent}
			if d, ok := strings.CutPrefix(p.signature, redactedPrefix); ok {
				p.signature, p.redacted = d, true
			}
			add("assistant", p)
		case "item_reference":
			return nil, refuse(param, "`%s`: item references need stored responses, which translated models do not have.", param)
		default:
			return nil, refuse(param+".type", "`%s`: input items of type %q are not supported for this model through this gateway.", param, typ)
		}
	}
	return out, nil
}

// contentParts reads a message's content: a string or a list of parts.
func contentParts(raw json.RawMessage, param string) ([]part, error) {
	raw = bytes.TrimSpace(raw)
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []part{{kind: "text", text: s}}, nil
	}
	var cps []contentPart
	if err := json.Unmarshal(raw, &cps); err != nil {
		return nil, invalid(param, "`%s` must be a string or a list of content parts.", param)
	}
	out := make([]part, 0, len(cps))
	for j, c := range cps {
		p := fmt.Sprintf("%s[%d]", param, j)
		switch c.Type {
		case "input_text", "output_text", "text":
			out = append(out, part{kind: "text", text: c.Text})
		case "refusal":
			out = append(out, part{kind: "text", text: c.Refusal})
		case "input_image":
			if c.FileID != nil && *c.FileID != "" {
				return nil, refuse(p+".file_id", "`%s.file_id`: files uploaded to OpenAI cannot be sent to this model; send the image as a URL or a data URL.", p)
			}
			if c.ImageURL == nil || *c.ImageURL == "" {
				return nil, invalid(p+".image_url", "`%s.image_url` is required.", p)
			}
			out = append(out, part{kind: "image", url: *c.ImageURL, detail: c.Detail})
		case "input_file":
			switch {
			case c.FileData != "":
				u := c.FileData
				if !strings.HasPrefix(u, "data:") {
					u = "data:application/pdf;base64," + u
				}
				out = append(out, part{kind: "file", url: u, filename: c.Filename})
			case c.FileURL != "":
				out = append(out, part{kind: "file", url: c.FileURL, filename: c.Filename})
			default:
				return nil, refuse(p, "`%s`: files uploaded to OpenAI (file_id) cannot be sent to this model; send file_data or file_url.", p)
			}
		default:
			return nil, refuse(p+".type", "`%s`: content of type %q is not supported for this model through this gateway.", p, c.Type)
		}
	}
	return out, nil
}

// dataURL splits a data: URL into its media type and base64 data.
func dataURL(u string) (mediaType, data string, ok bool) {
	rest, found := strings.CutPrefix(u, "data:")
	if !found {
		return "", "", false
	}
	meta, data, found := strings.Cut(rest, ",")
	if !found {
		return "", "", false
	}
	mediaType, b64 := strings.CutSuffix(meta, ";base64")
	if !b64 {
		return "", "", false
	}
	return mediaType, data, true
}
