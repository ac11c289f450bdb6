package catalog

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/onekey-oss/onekey/api/money"
)

// maxPrice bounds every price ($10,000 per million tokens) so that no
// realistic token count can overflow int64 arithmetic in Cost.
const maxPrice money.PerMillion = 10_000_000_000

// maxFee bounds every per-use fee ($100 per use).
const maxFee = 100 * money.Dollar

// build validates the merged models and indexes them. It reports every
// problem it finds, not just the first.
func (b *builder) build() (*Catalog, error) {
	c := &Catalog{byName: map[string]int{}}
	for _, m := range b.models {
		c.models = append(c.models, m.clone())
	}
	slices.SortFunc(c.models, func(a, b Model) int {
		return cmp.Or(cmp.Compare(a.Provider, b.Provider), cmp.Compare(a.ID, b.ID))
	})

	var problems []error
	for _, m := range c.models {
		for _, msg := range check(m) {
			problems = append(problems, fmt.Errorf("model %q (from %s): %s", m.ID, b.origin[m.ID], msg))
		}
	}
	problems = append(problems, c.index()...)
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	return c, nil
}

// check returns what is wrong with one model on its own.
func check(m Model) []string {
	var bad []string
	badf := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }

	if strings.ContainsFunc(m.ID, unicode.IsSpace) || strings.Contains(m.ID, "/") {
		badf("id must not contain spaces or '/'")
	}
	if m.Name == "" {
		badf("empty name")
	}
	if !m.Provider.valid() {
		badf("unknown provider %q (want one of %q, %q, %q, %q)", m.Provider, OpenAI, Anthropic, Google, XAI)
	}
	if !m.Kind.valid() {
		badf("unknown kind %q (want %q or %q)", m.Kind, Chat, Embedding)
	}
	if m.UpstreamID == "" || strings.ContainsFunc(m.UpstreamID, unicode.IsSpace) {
		badf("upstream_id %q is empty or contains spaces", m.UpstreamID)
	}
	switch {
	case m.ContextLength < 0:
		badf("negative context_length %d", m.ContextLength)
	case m.ContextLength == 0 && m.Kind == Chat:
		badf("chat model without context_length")
	}
	switch {
	case m.MaxOutputTokens < 0:
		badf("negative max_output_tokens %d", m.MaxOutputTokens)
	case m.MaxOutputTokens == 0 && m.Kind == Chat:
		badf("chat model without max_output_tokens (credit holds need it)")
	case m.ContextLength > 0 && m.MaxOutputTokens > m.ContextLength:
		badf("max_output_tokens %d exceeds context_length %d", m.MaxOutputTokens, m.ContextLength)
	}
	if m.Created < 0 {
		badf("negative created %d", m.Created)
	}
	p := m.Pricing
	checkRates(badf, "pricing", m.Kind, p.Input, p.CachedInput, p.Output, p.CacheWrite, p.CacheWrite1h)
	if lc := p.LongContext; lc != (LongContextPricing{}) {
		if lc.AboveTokens <= 0 {
			badf("pricing.long_context.above_tokens must be positive")
		}
		checkRates(badf, "pricing.long_context", m.Kind, lc.Input, lc.CachedInput, lc.Output, lc.CacheWrite, lc.CacheWrite1h)
	}
	for name, t := range map[string]TierPricing{"flex": p.Flex, "priority": p.Priority} {
		if t == (TierPricing{}) {
			continue
		}
		checkRates(badf, "pricing."+name, m.Kind, t.Input, t.CachedInput, t.Output, 0, 0)
		// Cost has no rule for a request that is both long and served at
		// a tier: refuse the combination rather than under-bill it.
		if p.LongContext != (LongContextPricing{}) {
			badf("pricing.%s and pricing.long_context cannot both be set", name)
		}
	}
	for _, f := range []struct {
		name string
		fee  money.Micros
	}{{"web_search", p.PerUse.WebSearch}, {"web_fetch", p.PerUse.WebFetch}, {"search_source", p.PerUse.SearchSource}} {
		switch {
		case f.fee < 0:
			badf("negative pricing.per_use.%s %d", f.name, f.fee)
		case f.fee > maxFee:
			badf("pricing.per_use.%s %d is above the limit %d", f.name, f.fee, maxFee)
		}
	}

	seen := map[string]bool{strings.ToLower(m.ID): true}
	for _, a := range m.Aliases {
		switch key := strings.ToLower(a); {
		case a == "" || strings.ContainsFunc(a, unicode.IsSpace):
			badf("alias %q is empty or contains spaces", a)
		case seen[key]:
			badf("alias %q repeats the id or another alias of the same model", a)
		default:
			seen[key] = true
		}
	}
	return bad
}

func checkRates(badf func(string, ...any), where string, kind Kind, input, cached, output, write, write1h money.PerMillion) {
	for _, r := range []struct {
		name  string
		price money.PerMillion
	}{{"input", input}, {"cached_input", cached}, {"output", output}, {"cache_write", write}, {"cache_write_1h", write1h}} {
		switch {
		case r.price < 0:
			badf("negative %s.%s %d", where, r.name, r.price)
		case r.price > maxPrice:
			badf("%s.%s %d is above the limit %d", where, r.name, r.price, maxPrice)
		}
	}
	// A missing price would make the model free, which is never intended.
	if input == 0 {
		badf("%s.input is zero", where)
	}
	if output == 0 && kind == Chat {
		badf("%s.output is zero for a chat model", where)
	}
}

// index fills byName, listed and names from the non-retired models, and
// returns a problem for every name two models claim. Retired models take no
// names, so an override may reuse a retired model's aliases.
func (c *Catalog) index() []error {
	var problems []error
	owner := func(key string) string { return c.models[c.byName[key]].ID }
	claim := func(key string, i int) (clash bool) {
		if j, ok := c.byName[key]; ok && j != i {
			return true
		}
		c.byName[key] = i
		return false
	}
	clashed := map[string]bool{}
	for i, m := range c.models {
		if m.Retired {
			continue
		}
		c.listed = append(c.listed, i)
		for _, name := range append([]string{m.ID}, m.Aliases...) {
			key := strings.ToLower(name)
			if claim(key, i) {
				clashed[key] = true
				problems = append(problems, fmt.Errorf("name %q is used by both model %q and model %q", name, owner(key), m.ID))
				continue
			}
			c.names = append(c.names, suggestTarget{norm: normalize(key), model: i})
		}
	}
	// "<provider>/<name>" forms: only report clashes the plain names did not
	// already explain (an explicit alias such as "openai/foo" can still
	// collide with another model's derived "openai/foo").
	for i, m := range c.models {
		if m.Retired {
			continue
		}
		for _, name := range append([]string{m.ID}, m.Aliases...) {
			key := strings.ToLower(name)
			full := string(m.Provider) + "/" + key
			if claim(full, i) && !clashed[key] {
				problems = append(problems, fmt.Errorf("name %q is used by both model %q and model %q", full, owner(full), m.ID))
			}
		}
	}
	return problems
}
