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
	// NumSourcesUsed is xAI's count of Live Search sources, billed each.
	NumSourcesUsed int64 `json:"num_sources_used"`
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
		SearchSources:     max(u.NumSourcesUsed, 0),
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
	// CacheCreation splits the cache writes by lifetime (5-minute writes
	// cost 1.25× input, 1-hour ones 2×).
	CacheCreation *struct {
		Ephemeral5m *int64 `json:"ephemeral_5m_input_tokens"`
		Ephemeral1h *int64 `json:"ephemeral_1h_input_tokens"`
	} `json:"cache_creation"`
	// ServerToolUse counts the tools Anthropic ran, billed per use.
	ServerToolUse *struct {
		WebSearchRequests *int64 `json:"web_search_requests"`
		WebFetchRequests  *int64 `json:"web_fetch_requests"`
	} `json:"server_tool_use"`
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
	if c := later.CacheCreation; c != nil {
		if u.CacheCreation == nil {
			u.CacheCreation = c
		} else {
			pick(&u.CacheCreation.Ephemeral5m, c.Ephemeral5m)
			pick(&u.CacheCreation.Ephemeral1h, c.Ephemeral1h)
		}
	}
	if t := later.ServerToolUse; t != nil {
		if u.ServerToolUse == nil {
			u.ServerToolUse = t
		} else {
			pick(&u.ServerToolUse.WebSearchRequests, t.WebSearchRequests)
			pick(&u.ServerToolUse.WebFetchRequests, t.WebFetchRequests)
		}
	}
}

// Usage converts to the catalog's counts (Anthropic's input_tokens already
// excludes cache reads and writes). cache_creation_input_tokens is every
// cache write; the 1-hour ones among them are billed as such, the rest as
// 5-minute ones, so no write is billed below its price or twice.
func (u Anthropic) Usage() catalog.Usage {
	v := func(p *int64) int64 {
		if p == nil {
			return 0
		}
		return max(*p, 0)
	}
	writes, hour := v(u.CacheCreationInputTokens), int64(0)
	if c := u.CacheCreation; c != nil {
		hour = v(c.Ephemeral1h)
		if u.CacheCreationInputTokens == nil {
			writes = v(c.Ephemeral5m) + hour
		}
		hour = min(hour, writes)
	}
	out := catalog.Usage{
		InputTokens:        v(u.InputTokens),
		CachedInputTokens:  v(u.CacheReadInputTokens),
		CacheWriteTokens:   writes - hour,
		CacheWrite1hTokens: hour,
		OutputTokens:       v(u.OutputTokens),
	}
	if t := u.ServerToolUse; t != nil {
		out.WebSearchRequests, out.WebFetchRequests = v(t.WebSearchRequests), v(t.WebFetchRequests)
	}
	return out
}

// Seen reports whether any count was present.
func (u Anthropic) Seen() bool {
	return u.InputTokens != nil || u.OutputTokens != nil
}

// ServiceTier returns the top-level "service_tier" of an OpenAI response or
// stream chunk: the tier the provider served (and bills) the request at.
// It is "" when absent, null or not a plain string.
func ServiceTier(data []byte) string {
	if !bytes.Contains(data, []byte(`"service_tier"`)) {
		return ""
	}
	s, e, ok, err := jsonscan.Find(data, "service_tier")
	if err != nil || !ok {
		return ""
	}
	return Tier(data[s:e])
}

// Tier returns the service tier a raw "service_tier" value names: "" when
// null or not a plain string.
func Tier(raw []byte) string {
	if len(raw) < 2 || raw[0] != '"' {
		return ""
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1])
	}
	var tier string
	if json.Unmarshal(raw, &tier) != nil {
		return ""
	}
	return tier
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

// Responses is the usage object of OpenAI's Responses API (also xAI's):
// input_tokens counts the cached input, output_tokens the reasoning.
type Responses struct {
	InputTokens        int64 `json:"input_tokens"`
	InputTokensDetails *struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"input_tokens_details"`
	OutputTokens        int64 `json:"output_tokens"`
	OutputTokensDetails *struct {
		ReasoningTokens int64 `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
	TotalTokens int64 `json:"total_tokens"`
}

// Usage converts to the catalog's counts. As for chat completions, output
// is the larger of output_tokens and what total_tokens leaves after the
// input, so a provider that leaves reasoning out of output_tokens (xAI's
// chat completions do) is still billed every generated token.
func (u Responses) Usage() catalog.Usage {
	var cached, reasoning int64
	if u.InputTokensDetails != nil {
		cached = u.InputTokensDetails.CachedTokens
	}
	if u.OutputTokensDetails != nil {
		reasoning = u.OutputTokensDetails.ReasoningTokens
	}
	cached = min(max(cached, 0), max(u.InputTokens, 0))
	return catalog.Usage{
		InputTokens:       max(u.InputTokens-cached, 0),
		CachedInputTokens: cached,
		OutputTokens:      max(u.OutputTokens, u.TotalTokens-u.InputTokens, 0),
		ReasoningTokens:   max(reasoning, 0),
	}
}
