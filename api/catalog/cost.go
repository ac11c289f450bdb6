package catalog

import (
	"math"
	"math/bits"

	"github.com/onekey-oss/onekey/api/money"
)

// Cost is what a request with usage u costs the customer: every token count
// times its price, summed, rounded up once to a whole micro-USD, plus the
// per-use fees of provider-run tools, then the markup (basis points, 100 =
// 1%) added and rounded up again. Negative counts and a negative markup
// count as zero. A result too large for int64 saturates rather than
// wrapping.
//
// The rates are, in this order of precedence: the service tier the provider
// reported (u.ServiceTier) when the catalog prices it; the long-context
// tier when the prompt (input + cached + cache-write tokens) is longer than
// its threshold, for every token of the request, as the providers bill it;
// the standard rates.
func (m Model) Cost(u Usage, markupBasisPoints int64) money.Micros {
	r := m.Pricing.ratesFor(u.prompt(), u.ServiceTier)
	base := costOf(
		money.TokenPrice{Tokens: nonNeg(u.InputTokens), Price: r.input},
		money.TokenPrice{Tokens: nonNeg(u.CachedInputTokens), Price: r.cachedInput},
		money.TokenPrice{Tokens: nonNeg(u.CacheWriteTokens), Price: r.cacheWrite},
		money.TokenPrice{Tokens: nonNeg(u.CacheWrite1hTokens), Price: r.cacheWrite1h},
		money.TokenPrice{Tokens: nonNeg(u.OutputTokens), Price: r.output},
	)
	f := m.Pricing.PerUse
	base = addSat(base, feeOf(u.WebSearchRequests, f.WebSearch), feeOf(u.WebFetchRequests, f.WebFetch), feeOf(u.SearchSources, f.SearchSource))
	return markup(base, markupBasisPoints)
}

// LongContext reports whether Cost bills u at the model's long-context
// rates.
func (m Model) LongContext(u Usage) bool {
	if _, ok := m.Pricing.Tier(u.ServiceTier); ok {
		return false
	}
	lc := m.Pricing.LongContext
	return lc.AboveTokens > 0 && u.prompt() > lc.AboveTokens
}

// Tier returns the rates of a priced service tier ("flex", "priority"). The
// standard tier, under whatever name, is not one: ok is false for it.
func (p Pricing) Tier(name string) (TierPricing, bool) {
	var t TierPricing
	switch name {
	case "flex":
		t = p.Flex
	case "priority":
		t = p.Priority
	}
	return t, t != (TierPricing{})
}

// Declared is what a request declares that can make it cost more than its
// tokens at standard rates, for credit holds.
type Declared struct {
	// ServiceTier is the tier the request asks for.
	ServiceTier string
	// WebSearches is the most provider-run web searches the request allows
	// (the web search tool's max_uses, or the caller's bound when unset).
	WebSearches int64
	// CacheWrite1h is set when the request may write the 1-hour cache.
	CacheWrite1h bool
}

// WorstCaseCost is the most a request with inputTokens of prompt can cost,
// for credit holds: WorstCase with one choice. maxOutputTokens <= 0 means
// m.MaxOutputTokens; a value above m.MaxOutputTokens is capped there, since
// the provider cannot generate more.
func (m Model) WorstCaseCost(inputTokens, maxOutputTokens int64, markupBasisPoints int64) money.Micros {
	return m.WorstCase(Bound{InputTokens: inputTokens, OutputTokens: maxOutputTokens}, markupBasisPoints)
}

// WorstCaseCostDeclared is WorstCaseCost for a request that declares d: the
// dearer of the standard and the asked tier's rates (a provider may serve a
// request at either), 1-hour cache writes when declared, and every declared
// web search at its fee.
func (m Model) WorstCaseCostDeclared(inputTokens, maxOutputTokens int64, markupBasisPoints int64, d Declared) money.Micros {
	return m.WorstCase(Bound{InputTokens: inputTokens, OutputTokens: maxOutputTokens, Declared: d}, markupBasisPoints)
}

// rates is the price of each kind of token for one request, with the
// "zero means input price" rules already applied.
type rates struct {
	input, cachedInput, cacheWrite, cacheWrite1h, output money.PerMillion
}

func (p Pricing) ratesFor(promptTokens int64, tier string) rates {
	r := rates{input: p.Input, cachedInput: p.CachedInput, cacheWrite: p.CacheWrite, cacheWrite1h: p.CacheWrite1h, output: p.Output}
	if t, ok := p.Tier(tier); ok {
		r = rates{input: t.Input, cachedInput: t.CachedInput, output: t.Output}
	} else if lc := p.LongContext; lc.AboveTokens > 0 && promptTokens > lc.AboveTokens {
		r = rates{input: lc.Input, cachedInput: lc.CachedInput, cacheWrite: lc.CacheWrite, cacheWrite1h: lc.CacheWrite1h, output: lc.Output}
	}
	if r.cachedInput == 0 {
		r.cachedInput = r.input
	}
	if r.cacheWrite == 0 {
		r.cacheWrite = r.input
	}
	if r.cacheWrite1h == 0 {
		r.cacheWrite1h = 2 * r.input
	}
	return r
}

func (u Usage) prompt() int64 {
	return nonNeg(u.InputTokens) + nonNeg(u.CachedInputTokens) + nonNeg(u.CacheWriteTokens) + nonNeg(u.CacheWrite1hTokens)
}

// feeOf is n uses at fee each, saturating.
func feeOf(n int64, fee money.Micros) money.Micros {
	n, f := nonNeg(n), nonNeg(int64(fee))
	if n == 0 || f == 0 {
		return 0
	}
	if n > math.MaxInt64/f {
		return money.Micros(math.MaxInt64)
	}
	return money.Micros(n * f)
}

// addSat sums amounts, saturating at the largest amount.
func addSat(a money.Micros, more ...money.Micros) money.Micros {
	for _, b := range more {
		if int64(b) > math.MaxInt64-int64(a) {
			return money.Micros(math.MaxInt64)
		}
		a += b
	}
	return a
}

// costOf is money.CostOf, except that a sum too large for int64 saturates
// at the largest amount instead of overflowing.
func costOf(parts ...money.TokenPrice) money.Micros {
	var sum uint64
	for _, p := range parts {
		hi, lo := bits.Mul64(uint64(p.Tokens), uint64(p.Price))
		var carry uint64
		sum, carry = bits.Add64(sum, lo, 0)
		if hi != 0 || carry != 0 || sum > math.MaxInt64 {
			return money.Micros(math.MaxInt64)
		}
	}
	return money.CostOf(parts...)
}

func markup(m money.Micros, basisPoints int64) money.Micros {
	basisPoints = nonNeg(basisPoints)
	if m <= 0 || basisPoints == 0 {
		return m
	}
	if basisPoints > math.MaxInt64-10_000 || int64(m) > (math.MaxInt64-9_999)/(10_000+basisPoints) {
		return money.Micros(math.MaxInt64)
	}
	return money.ApplyMarkup(m, basisPoints)
}

func nonNeg(n int64) int64 { return max(n, 0) }
