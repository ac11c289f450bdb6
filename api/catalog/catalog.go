// Package catalog is onekey's model catalog: which models the gateway serves,
// which provider and upstream id each one maps to, and what its tokens cost.
//
// The seed catalog is compiled into the binary (models.json). An operator can
// extend or correct it without a rebuild by naming an override file in config;
// see Load for the override format and its merge rules.
//
// A Catalog is immutable once built and safe for concurrent use. All prices
// are integers (money.PerMillion: micro-USD per million tokens); there is no
// floating point in this package.
package catalog

import (
	_ "embed"
	"errors"
	"slices"
	"strings"

	"github.com/onekey-oss/onekey/api/money"
)

// seedJSON is the product's seed catalog; it is read, never written. Prices
// as of early 2026, from the providers' pricing pages (mostly as quoted by
// third-party mirrors); each model's "source" says where and when.
//
//go:embed models.json
var seedJSON []byte

// ErrInvalid is wrapped by every error that Load, LoadFile and Default return
// for catalog data that does not validate (as opposed to I/O errors).
var ErrInvalid = errors.New("invalid model catalog")

// Provider is an upstream AI provider the gateway can forward to.
type Provider string

// The providers the gateway has adapters for. Any other value is rejected at
// load time.
const (
	OpenAI    Provider = "openai"
	Anthropic Provider = "anthropic"
	Google    Provider = "google"
	XAI       Provider = "xai"
)

func (p Provider) valid() bool {
	switch p {
	case OpenAI, Anthropic, Google, XAI:
		return true
	}
	return false
}

// Kind is what a model does, which decides the endpoint it is served on.
type Kind string

// Model kinds.
const (
	Chat      Kind = "chat"
	Embedding Kind = "embedding"
)

func (k Kind) valid() bool { return k == Chat || k == Embedding }

// Pricing is what one model's tokens cost, in micro-USD per million tokens.
//
// A zero CachedInput or CacheWrite means the provider has no separate rate:
// those tokens are billed at Input, never for free.
type Pricing struct {
	Input       money.PerMillion `json:"input"`
	CachedInput money.PerMillion `json:"cached_input"`
	Output      money.PerMillion `json:"output"`
	// CacheWrite is Anthropic's price for writing the prompt cache (the
	// 5-minute cache; 1.25× input).
	CacheWrite money.PerMillion `json:"cache_write,omitempty"`
	// CacheWrite1h is Anthropic's price for writing the 1-hour prompt cache
	// (2× input). Zero means twice Input, Anthropic's rate on every model.
	CacheWrite1h money.PerMillion `json:"cache_write_1h,omitempty"`
	// LongContext, when set, replaces the rates above for a whole request
	// whose prompt is longer than its threshold, as Google, Anthropic (1M
	// context) and xAI bill it.
	LongContext LongContextPricing `json:"long_context,omitzero"`
	// Flex and Priority are OpenAI's service tiers: when the provider
	// reports it served a request at one, its rates replace the standard
	// ones for the whole request. The zero value means the model has no
	// such tier, and a request asking for it is refused.
	Flex     TierPricing `json:"flex,omitzero"`
	Priority TierPricing `json:"priority,omitzero"`
	// PerUse are the fees of provider-run tools, per use, on top of tokens.
	PerUse PerUsePricing `json:"per_use,omitzero"`
}

// TierPricing is the token rates of one service tier. A zero CachedInput
// means Input.
type TierPricing struct {
	Input       money.PerMillion `json:"input"`
	CachedInput money.PerMillion `json:"cached_input"`
	Output      money.PerMillion `json:"output"`
}

// PerUsePricing is what a provider charges per use of a tool it runs
// itself, in micro-USD per use, as its usage fields count them.
type PerUsePricing struct {
	// WebSearch is Anthropic's web search tool ($10 per 1,000 searches,
	// counted in usage.server_tool_use.web_search_requests). Zero means the
	// model has no priced web search, and a request declaring it is refused.
	WebSearch money.Micros `json:"web_search,omitempty"`
	// WebFetch is Anthropic's web fetch tool (web_fetch_requests). Anthropic
	// charges only the tokens of the fetched content, so zero is its price.
	WebFetch money.Micros `json:"web_fetch,omitempty"`
	// SearchSource is xAI's Live Search fee per source used ($25 per 1,000,
	// counted in usage.num_sources_used).
	SearchSource money.Micros `json:"search_source,omitempty"`
}

// LongContextPricing is the tier that applies to a request whose prompt
// (uncached + cached + cache-write input tokens) is more than AboveTokens.
// The zero value means the model has no such tier.
type LongContextPricing struct {
	AboveTokens int64            `json:"above_tokens"`
	Input       money.PerMillion `json:"input"`
	CachedInput money.PerMillion `json:"cached_input"`
	Output      money.PerMillion `json:"output"`
	CacheWrite  money.PerMillion `json:"cache_write,omitempty"`
	// CacheWrite1h: zero means twice Input (of this tier).
	CacheWrite1h money.PerMillion `json:"cache_write_1h,omitempty"`
}

// Model is one entry of the catalog.
type Model struct {
	// ID is onekey's canonical id, e.g. "gpt-5.2", "claude-sonnet-4-5".
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Provider Provider `json:"provider"`
	Kind     Kind     `json:"kind"`
	// UpstreamID is the model id sent to the provider.
	UpstreamID    string `json:"upstream_id"`
	ContextLength int    `json:"context_length"`
	// MaxOutputTokens is the most the model can generate in one response
	// (reasoning included); credit holds use it when a request sets no limit.
	MaxOutputTokens int     `json:"max_output_tokens"`
	Pricing         Pricing `json:"pricing"`
	// Aliases are other names that resolve to this model (dated snapshots,
	// dotted spellings). "<provider>/<id or alias>" always resolves too.
	Aliases []string `json:"aliases,omitempty"`
	// Retired models are listed nowhere and answer as unknown; their names
	// are free for other models to use.
	Retired bool `json:"retired,omitempty"`
	// Created is unix seconds, for the OpenAI model list format.
	Created int64 `json:"created"`
	// Source says where and when the price was read.
	Source string `json:"source,omitempty"`
}

func (m Model) clone() Model {
	m.Aliases = slices.Clone(m.Aliases)
	return m
}

// Usage is the token count of one request as the provider reported it,
// with the uses of provider-run tools billed per use.
type Usage struct {
	// InputTokens is uncached input only.
	InputTokens       int64
	CachedInputTokens int64
	// CacheWriteTokens are 5-minute cache writes; CacheWrite1hTokens
	// 1-hour ones.
	CacheWriteTokens   int64
	CacheWrite1hTokens int64
	OutputTokens       int64
	// ReasoningTokens is informational: it is already part of OutputTokens
	// and is not billed a second time.
	ReasoningTokens int64
	// WebSearchRequests and WebFetchRequests are Anthropic's server tool
	// uses; SearchSources is xAI's Live Search sources used.
	WebSearchRequests int64
	WebFetchRequests  int64
	SearchSources     int64
	// ServiceTier is the tier the provider says it served the request at
	// ("flex", "priority"; anything else is the standard tier).
	ServiceTier string
}

// Catalog is a validated set of models. It is immutable after construction
// and safe for concurrent use; the Models it returns are copies.
type Catalog struct {
	models []Model         // sorted by provider, then id; retired included
	byName map[string]int  // lower-cased id, alias or provider/name → index
	listed []int           // indexes of non-retired models, in order
	names  []suggestTarget // names Suggest compares against
}

// Lookup finds a model by canonical id, alias or "<provider>/<name>" (with
// OpenRouter's "x-ai/" accepted for "xai/"), ignoring case. Retired models
// are not found.
func (c *Catalog) Lookup(id string) (Model, bool) {
	key := strings.ToLower(id)
	i, ok := c.byName[key]
	if !ok {
		// OpenRouter spells xAI "x-ai".
		rest, found := strings.CutPrefix(key, "x-ai/")
		if !found {
			return Model{}, false
		}
		if i, ok = c.byName[string(XAI)+"/"+rest]; !ok {
			return Model{}, false
		}
	}
	return c.models[i].clone(), true
}

// List returns the models that are not retired, ordered by provider and then
// id.
func (c *Catalog) List() []Model {
	out := make([]Model, 0, len(c.listed))
	for _, i := range c.listed {
		out = append(out, c.models[i].clone())
	}
	return out
}
