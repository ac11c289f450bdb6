package catalog

import (
	"math"

	"github.com/onekey-oss/onekey/api/money"
)

// Bound is the most one request may consume, for a credit hold.
type Bound struct {
	// InputTokens is an upper bound of the prompt's tokens.
	InputTokens int64
	// OutputTokens is the output limit of each choice; <= 0, or more than
	// the model's MaxOutputTokens, means MaxOutputTokens (the provider
	// cannot generate more).
	OutputTokens int64
	// Choices is how many completions the request asks for (OpenAI's n);
	// below 1 counts as 1. Each may produce the whole output limit; the
	// prompt is billed once.
	Choices int64
	// Declared is what the request declares beyond tokens (service tier,
	// 1-hour cache writes, web searches).
	Declared Declared
}

// WorstCase is the most a request within b can cost: every input token at
// the dearer of the input and cache-write price (and of the 1-hour
// cache-write price when declared), every choice's full output, at the
// dearer of the standard and the declared service tier's rates (a provider
// may serve a request at either), and every declared web search at its fee.
// When the
// prompt may be longer than the model's long-context threshold, the dearer
// of the standard and the long-context rates applies, since the provider
// then bills the whole request at the long-context rates.
func (m Model) WorstCase(b Bound, markupBasisPoints int64) money.Micros {
	in := nonNeg(b.InputTokens)
	per, choices := m.outputLimit(b.OutputTokens), max(b.Choices, 1)
	if per > 0 && choices > math.MaxInt64/per {
		return money.Micros(math.MaxInt64) // no balance covers it
	}
	out := per * choices
	worst := m.worstAt(0, in, out, b.Declared)
	if lc := m.Pricing.LongContext; lc.AboveTokens > 0 && in > lc.AboveTokens {
		worst = max(worst, m.worstAt(in, in, out, b.Declared))
	}
	worst = addSat(worst, feeOf(b.Declared.WebSearches, m.Pricing.PerUse.WebSearch))
	return markup(worst, markupBasisPoints)
}

// worstAt is in and out tokens at the dearest rates a prompt of prompt
// tokens may be billed at, under d.
func (m Model) worstAt(prompt, in, out int64, d Declared) money.Micros {
	r := m.Pricing.ratesFor(prompt, "")
	inP, outP := max(r.input, r.cacheWrite), r.output
	if d.CacheWrite1h {
		inP = max(inP, r.cacheWrite1h)
	}
	if t, ok := m.Pricing.Tier(d.ServiceTier); ok {
		tr := m.Pricing.ratesFor(prompt, d.ServiceTier)
		inP, outP = max(inP, tr.input), max(outP, t.Output)
	}
	return costOf(
		money.TokenPrice{Tokens: in, Price: inP},
		money.TokenPrice{Tokens: out, Price: outP},
	)
}

// outputLimit is the output a limit allows, at most the model's maximum.
func (m Model) outputLimit(limit int64) int64 {
	most := int64(m.MaxOutputTokens)
	if limit <= 0 || (most > 0 && limit > most) {
		return most
	}
	return limit
}

// OutputLimitWithin is the largest output limit (per choice, at most the
// model's maximum) with which a request of b.InputTokens and b.Choices
// (and b.Declared) costs at most budget; b.OutputTokens is ignored. It is 0 when not even
// one output token fits.
func (m Model) OutputLimitWithin(budget money.Micros, b Bound, markupBasisPoints int64) int64 {
	lo, hi := int64(0), m.outputLimit(0)
	b.OutputTokens = 1
	if hi <= 0 || m.WorstCase(b, markupBasisPoints) > budget {
		return 0
	}
	// WorstCase grows with the output limit: find the last limit that fits.
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		b.OutputTokens = mid
		if m.WorstCase(b, markupBasisPoints) <= budget {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}
