// Package usage reads token counts from the providers' own usage fields:
// OpenAI's (also spoken by xAI and by Gemini's and Anthropic's
// OpenAI-compatible endpoints) and Anthropic's native Messages API.
package usage

import (
	"bytes"
	"encoding/json"

	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/services/gateway/internal/jsonscan"
)

// OpenAI is the "usage" object of a chat completion, a stream's usage chunk
// or an embeddings response.
type OpenAI struct {
	PromptTokens        int64 `json:"prompt_tokens"`
	CompletionTokens    int64 `json:"completion_tokens"`
	TotalTokens         int64 `json:"total_tokens"`
	PromptTokensDetails *struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
	CompletionTokensDetails *struct {
		ReasoningTokens int64 `json:"reasoning_tokens"`
	} `json:"completion_tokens_details"`
}

// Usage converts to the catalog's counts. Some providers (xAI, Gemini) leave
// reasoning tokens out of completion_tokens but count them in total_tokens,
// so output is whichever is larger of completion_tokens and what the total
// leaves after the prompt: every generated token is billed, none twice.
func (u OpenAI) Usage() catalog.Usage {
	var cached, reasoning int64
	if u.PromptTokensDetails != nil {
		cached = u.PromptTokensDetails.CachedTokens
	}
	if u.CompletionTokensDetails != nil {
		reasoning = u.CompletionTokensDetails.ReasoningTokens
	}
	cached = min(max(cached, 0), max(u.PromptTokens, 0))
	out := max(u.CompletionTokens, u.TotalTokens-u.PromptTokens, 0)
	return catalog.Usage{
		InputTokens:       max(u.PromptTokens-cached, 0),
		CachedInputTokens: cached,
		OutputTokens:      out,
		ReasoningTokens:   max(reasoning, 0),
	}
}

// Anthropic is the usage object of the Messages API. In a stream,
// message_start carries the input counts and message_delta the cumulative
// output count (and, lately, the input counts again).
type Anthropic struct {
	InputTokens              *int64 `json:"input_tokens"`
	OutputTokens             *int64 `json:"output_tokens"`
	CacheCreationInputTokens *int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     *int64 `json:"cache_read_input_tokens"`
}

// Merge folds a later usage object into u: fields present in later win.
func (u *Anthropic) Merge(later Anthropic) {
	pick := func(dst **int64, v *int64) {
		if v != nil {
			*dst = v
		}
	}
	pick(&u.InputTokens, later.InputTokens)
	pick(&u.OutputTokens, later.OutputTokens)
	pick(&u.CacheCreationInputTokens, later.CacheCreationInputTokens)
	pick(&u.CacheReadInputTokens, later.CacheReadInputTokens)
}

// Usage converts to the catalog's counts (Anthropic's input_tokens already
// excludes cache reads and writes).
func (u Anthropic) Usage() catalog.Usage {
	v := func(p *int64) int64 {
		if p == nil {
			return 0
		}
		return max(*p, 0)
	}
	return catalog.Usage{
		InputTokens:       v(u.InputTokens),
		CachedInputTokens: v(u.CacheReadInputTokens),
		CacheWriteTokens:  v(u.CacheCreationInputTokens),
		OutputTokens:      v(u.OutputTokens),
	}
}

// Seen reports whether any count was present.
func (u Anthropic) Seen() bool {
	return u.InputTokens != nil || u.OutputTokens != nil
}

// HasObject reports cheaply whether data may hold a non-null "usage"
// object, so that chunks carrying "usage":null (or none) are not parsed.
func HasObject(data []byte) bool {
	for off := 0; ; {
		i := bytes.Index(data[off:], []byte(`"usage"`))
		if i < 0 {
			return false
		}
		j := off + i + len(`"usage"`)
		for j < len(data) && (data[j] == ' ' || data[j] == ':' || data[j] == '\n' || data[j] == '\t' || data[j] == '\r') {
			j++
		}
		if j < len(data) && data[j] == '{' {
			return true
		}
		off = j
	}
}

// TopLevel decodes the top-level "usage" member of the JSON object data
// into v, reporting whether there was one (not null).
func TopLevel(data []byte, v any) (bool, error) {
	s, e, ok, err := jsonscan.Find(data, "usage")
	if err != nil || !ok || string(data[s:e]) == "null" {
		return false, err
	}
	return true, json.Unmarshal(data[s:e], v)
}
