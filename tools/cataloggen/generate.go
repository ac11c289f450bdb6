package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/api/money"
)

// Selection is the hand-kept half of the catalog: which LiteLLM entries
// onekey serves, under which ids and names, and what LiteLLM does not say.
type Selection struct {
	Comment string `json:"comment"`
	Source  Source `json:"source"`
	// SearchSourceUSD is xAI's Live Search fee per source used (LiteLLM
	// has none), as decimal text in USD.
	SearchSourceUSD string `json:"xai_search_source_usd"`
	// WebSearchUSD is Anthropic's web search fee per search, for the
	// entries where LiteLLM lists none (Anthropic bills it on every model).
	WebSearchUSD string     `json:"anthropic_web_search_usd"`
	Models       []Selected `json:"models"`
}

// Source pins the LiteLLM file the catalog is generated from.
type Source struct {
	// Label names the file and its version in every model's source.
	Label string `json:"label"`
	// SHA256 of the file: the generator refuses any other file.
	SHA256 string `json:"sha256"`
	// Date (YYYY-MM-DD) of the snapshot: an entry LiteLLM says is
	// deprecated by then is refused (make its id an alias of a successor).
	Date string `json:"date"`
}

// Selected is one served model.
type Selected struct {
	ID       string           `json:"id"`
	Name     string           `json:"name"`
	Provider catalog.Provider `json:"provider"`
	// LiteLLM is the key of the model's entry in the LiteLLM file.
	LiteLLM string `json:"litellm"`
	// UpstreamID defaults to the LiteLLM key without its provider prefix.
	UpstreamID string `json:"upstream_id,omitempty"`
	// Released is the release date (YYYY-MM-DD): from the dated snapshot
	// id where there is one, else the day LiteLLM first listed the model.
	Released string   `json:"released"`
	Aliases  []string `json:"aliases,omitempty"`
}

// litellmProvider is LiteLLM's name of each provider.
var litellmProvider = map[catalog.Provider]string{
	catalog.OpenAI: "openai", catalog.Anthropic: "anthropic", catalog.Google: "gemini", catalog.XAI: "xai",
}

// ignored are LiteLLM fields that are not a price onekey bills or that
// describe something the gateway does not serve or refuses; anything else
// with a price in its name must be mapped, or generation fails.
var ignored = regexp.MustCompile(`^(` + strings.Join([]string{
	`.*_batches`,                                     // the batch API is not served
	`regional_processing_uplift_.*`,                  // regional processing is not requested
	`provider_specific_entry`,                        // Anthropic us-only / fast multipliers: refused by the gateway
	`.*(audio|image|video|pixel|character|second).*`, // non-text modalities: billed by the token counts reported
}, "|") + `)$`)

var aboveTier = regexp.MustCompile(`^(.*)_above_(\d+)k_tokens(_priority)?$`)

// generate turns the snapshot and the selection into models.json.
func generate(snapshot, selectionJSON []byte) ([]byte, error) {
	var sel Selection
	dec := json.NewDecoder(bytes.NewReader(selectionJSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sel); err != nil {
		return nil, fmt.Errorf("decode selection: %w", err)
	}
	if got := sha256Hex(snapshot); got != sel.Source.SHA256 {
		return nil, fmt.Errorf("the LiteLLM file has SHA-256 %s, the selection pins %s: update the selection's source when refreshing", got, sel.Source.SHA256)
	}
	entries := map[string]map[string]any{}
	dec = json.NewDecoder(bytes.NewReader(snapshot))
	dec.UseNumber()
	var raw map[string]json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("decode LiteLLM file: %w", err)
	}
	var problems []error
	var models []catalog.Model
	seen := map[string]bool{}
	for _, s := range sel.Models {
		if seen[s.ID] {
			problems = append(problems, fmt.Errorf("model %q is selected twice", s.ID))
			continue
		}
		seen[s.ID] = true
		e, ok := entries[s.LiteLLM]
		if !ok {
			r, found := raw[s.LiteLLM]
			if !found {
				problems = append(problems, fmt.Errorf("model %q: LiteLLM has no entry %q", s.ID, s.LiteLLM))
				continue
			}
			d := json.NewDecoder(bytes.NewReader(r))
			d.UseNumber()
			if err := d.Decode(&e); err != nil {
				problems = append(problems, fmt.Errorf("model %q: entry %q: %w", s.ID, s.LiteLLM, err))
				continue
			}
			entries[s.LiteLLM] = e
		}
		m, err := convert(sel, s, e)
		if err != nil {
			problems = append(problems, fmt.Errorf("model %q (LiteLLM %q): %w", s.ID, s.LiteLLM, err))
			continue
		}
		models = append(models, m)
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	sort.SliceStable(models, func(i, j int) bool {
		if models[i].Provider != models[j].Provider {
			return models[i].Provider < models[j].Provider
		}
		return models[i].ID < models[j].ID
	})
	out, err := json.MarshalIndent(struct {
		Comment string          `json:"comment"`
		Models  []catalog.Model `json:"models"`
	}{catalogComment(sel), models}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode catalog: %w", err)
	}
	return append(out, '\n'), nil
}

func catalogComment(sel Selection) string {
	return "Generated by tools/cataloggen from " + sel.Source.Label + " and tools/cataloggen/selection.json; do not edit by hand " +
		"(operators override with GATEWAY_CATALOG_FILE). Prices are integers in micro-USD per million tokens, converted exactly " +
		"from LiteLLM's per-token decimals; per-use fees are micro-USD per use. context_length is the longest prompt (LiteLLM's " +
		"max_input_tokens); long_context applies to the whole request when its prompt exceeds above_tokens; created is the release date."
}

// convert maps one LiteLLM entry onto a catalog model.
func convert(sel Selection, s Selected, e map[string]any) (catalog.Model, error) {
	m := catalog.Model{ID: s.ID, Name: s.Name, Provider: s.Provider, UpstreamID: s.UpstreamID, Aliases: slices.Clone(s.Aliases)}
	want, ok := litellmProvider[s.Provider]
	if !ok {
		return m, fmt.Errorf("unknown provider %q", s.Provider)
	}
	if got, _ := e["litellm_provider"].(string); got != want {
		return m, fmt.Errorf("LiteLLM provider %q, want %q", got, want)
	}
	if m.UpstreamID == "" {
		m.UpstreamID = strings.TrimPrefix(s.LiteLLM, want+"/")
	}
	switch mode, _ := e["mode"].(string); mode {
	case "chat", "responses":
		m.Kind = catalog.Chat
	case "embedding":
		m.Kind = catalog.Embedding
	default:
		return m, fmt.Errorf("mode %q is neither chat, responses nor embedding", mode)
	}
	if dep, _ := e["deprecation_date"].(string); dep != "" && dep <= sel.Source.Date {
		return m, fmt.Errorf("deprecated since %s: drop it, and make its id an alias of its successor", dep)
	}
	released, err := time.Parse(time.DateOnly, s.Released)
	if err != nil {
		return m, fmt.Errorf("released: %w", err)
	}
	m.Created = released.Unix()
	var notes []string
	if m.ContextLength, err = intField(e, "max_input_tokens"); err != nil {
		return m, err
	}
	if m.Kind == catalog.Chat {
		if m.MaxOutputTokens, err = intField(e, "max_output_tokens"); err != nil {
			return m, err
		}
	}
	p, pnotes, err := pricing(sel, s.Provider, e)
	if err != nil {
		return m, err
	}
	m.Pricing = p
	notes = append(notes, pnotes...)
	m.Source = fmt.Sprintf("%s, entry %q", sel.Source.Label, s.LiteLLM)
	if len(notes) > 0 {
		m.Source += "; " + strings.Join(notes, "; ")
	}
	return m, nil
}

func intField(e map[string]any, key string) (int, error) {
	v, ok := e[key].(json.Number)
	if !ok {
		return 0, fmt.Errorf("%s is missing", key)
	}
	n, err := scaled(v.String(), 0) // some are written 2000000.0
	if err != nil {
		return 0, fmt.Errorf("%s: %w", key, err)
	}
	return int(n), nil
}

// perMillion reads a per-token USD price as micro-USD per million tokens
// (× 10^12). ok is false when the field is absent.
func perMillion(e map[string]any, key string) (money.PerMillion, bool, error) {
	v, ok := e[key]
	if !ok {
		return 0, false, nil
	}
	n, isNum := v.(json.Number)
	if !isNum {
		return 0, false, fmt.Errorf("%s is not a number", key)
	}
	x, err := scaled(n.String(), 12)
	if err != nil {
		return 0, false, fmt.Errorf("%s: %w", key, err)
	}
	return money.PerMillion(x), true, nil
}

// fields reads the price fields of one entry, remembering which it read and
// the first error.
type fields struct {
	e    map[string]any
	used map[string]bool
	err  error
}

func (f *fields) price(key string) money.PerMillion {
	v, ok, err := perMillion(f.e, key)
	if err != nil && f.err == nil {
		f.err = err
	}
	if ok {
		f.used[key] = true
	}
	return v
}

// pricing maps every price field of the entry, and fails on one it does
// not know, so that a new kind of charge is never silently dropped.
func pricing(sel Selection, provider catalog.Provider, e map[string]any) (catalog.Pricing, []string, error) {
	var p catalog.Pricing
	var notes []string
	f := &fields{e: e, used: map[string]bool{}}
	p.Input = f.price("input_cost_per_token")
	p.Output = f.price("output_cost_per_token")
	p.CachedInput = f.price("cache_read_input_token_cost")
	p.CacheWrite = f.price("cache_creation_input_token_cost")
	p.CacheWrite1h = f.price("cache_creation_input_token_cost_above_1hr")
	if r := f.price("output_cost_per_reasoning_token"); r != 0 && r != p.Output {
		return p, nil, fmt.Errorf("output_cost_per_reasoning_token %d differs from output %d: the catalog has no separate reasoning price", r, p.Output)
	}
	lc, err := longContext(f)
	if err != nil {
		return p, nil, err
	}
	p.LongContext = lc
	// Service tiers: OpenAI reports the tier that served a request;
	// elsewhere the gateway has no tier to bill, so a request asking for
	// one is refused.
	for _, t := range []struct {
		name string
		dst  *catalog.TierPricing
	}{{"flex", &p.Flex}, {"priority", &p.Priority}} {
		tier := catalog.TierPricing{
			Input:       f.price("input_cost_per_token_" + t.name),
			CachedInput: f.price("cache_read_input_token_cost_" + t.name),
			Output:      f.price("output_cost_per_token_" + t.name),
		}
		cw := f.price("cache_creation_input_token_cost_" + t.name)
		for key := range e {
			if strings.HasSuffix(key, "_"+t.name) && strings.Contains(key, "_above_") {
				f.used[key] = true // a tier's long-context rates: the tier is dropped below
			}
		}
		switch {
		case tier == (catalog.TierPricing{}):
		case tier.Input == 0 || tier.Output == 0:
			notes = append(notes, t.name+" tier not served (LiteLLM lists only part of its rates)")
		case provider != catalog.OpenAI:
			notes = append(notes, t.name+" rates not served (the gateway bills service tiers on OpenAI only)")
		case p.LongContext != (catalog.LongContextPricing{}):
			notes = append(notes, t.name+" tier not served (tier and long-context rates together are not modelled)")
		case cw != 0 && cw != tier.Input:
			notes = append(notes, t.name+" tier not served (its cache-write price is not modelled)")
		default:
			*t.dst = tier
		}
	}
	if f.err != nil {
		return p, nil, f.err
	}
	if q, ok := e["search_context_cost_per_query"].(map[string]any); ok {
		f.used["search_context_cost_per_query"] = true
		fee, err := searchFee(q)
		if err != nil {
			return p, nil, err
		}
		if provider == catalog.Anthropic {
			p.PerUse.WebSearch = fee
		} else {
			notes = append(notes, "web search fee not billed (the gateway refuses provider-run search on this API)")
		}
	}
	if provider == catalog.Anthropic && p.PerUse.WebSearch == 0 {
		fee, err := scaled(sel.WebSearchUSD, 6)
		if err != nil {
			return p, nil, fmt.Errorf("anthropic_web_search_usd: %w", err)
		}
		p.PerUse.WebSearch = money.Micros(fee)
		notes = append(notes, "web_search: Anthropic's fee per search, from the selection (not in this LiteLLM entry)")
	}
	if provider == catalog.XAI {
		fee, err := scaled(sel.SearchSourceUSD, 6)
		if err != nil {
			return p, nil, fmt.Errorf("xai_search_source_usd: %w", err)
		}
		p.PerUse.SearchSource = money.Micros(fee)
		notes = append(notes, "search_source: xAI Live Search per source used, from the selection (not in LiteLLM)")
	}
	var unknown []string
	for key := range e {
		if !f.used[key] && !ignored.MatchString(key) && (strings.Contains(key, "cost") || strings.Contains(key, "price")) {
			unknown = append(unknown, key)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return p, nil, fmt.Errorf("price fields the catalog cannot hold: %s", strings.Join(unknown, ", "))
	}
	if p.Input == 0 {
		return p, nil, errors.New("no input_cost_per_token")
	}
	return p, notes, nil
}

// longContext reads the rates above the entry's one prompt-length
// threshold (LiteLLM's *_above_<N>k_tokens), if it has one.
func longContext(f *fields) (catalog.LongContextPricing, error) {
	var above string
	for key := range f.e {
		m := aboveTier.FindStringSubmatch(key)
		if m == nil || m[3] != "" || ignored.MatchString(key) {
			continue
		}
		if above != "" && above != m[2] {
			return catalog.LongContextPricing{}, fmt.Errorf("two long-context thresholds, %sk and %sk", above, m[2])
		}
		above = m[2]
	}
	if above == "" {
		return catalog.LongContextPricing{}, nil
	}
	n, err := scaled(above, 3)
	if err != nil {
		return catalog.LongContextPricing{}, err
	}
	sfx := "_above_" + above + "k_tokens"
	lc := catalog.LongContextPricing{
		AboveTokens:  n,
		Input:        f.price("input_cost_per_token" + sfx),
		Output:       f.price("output_cost_per_token" + sfx),
		CachedInput:  f.price("cache_read_input_token_cost" + sfx),
		CacheWrite:   f.price("cache_creation_input_token_cost" + sfx),
		CacheWrite1h: f.price("cache_creation_input_token_cost_above_1hr" + sfx),
	}
	return lc, f.err
}

// searchFee is the per-query web search fee in micro-USD; LiteLLM lists it
// per context size, and onekey bills one fee, so the sizes must agree.
func searchFee(q map[string]any) (money.Micros, error) {
	var fee int64 = -1
	for _, size := range []string{"search_context_size_low", "search_context_size_medium", "search_context_size_high"} {
		n, ok := q[size].(json.Number)
		if !ok {
			return 0, fmt.Errorf("search_context_cost_per_query.%s is missing", size)
		}
		v, err := scaled(n.String(), 6)
		if err != nil {
			return 0, fmt.Errorf("search_context_cost_per_query.%s: %w", size, err)
		}
		if fee >= 0 && v != fee {
			return 0, errors.New("search_context_cost_per_query differs by context size")
		}
		fee = v
	}
	return money.Micros(fee), nil
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
