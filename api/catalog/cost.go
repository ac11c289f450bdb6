package catalog

import (
	"math"
	"math/bits"

	"github.com/onekey-oss/onekey/api/money"
)

// Cost is what a request with usage u costs the customer: every token count
// times its price, summed, rounded up once to a whole micro-USD, then the
// markup (basis points, 100 = 1%) added and rounded up again. Negative token
// counts and a negative markup count as zero. A result too large for int64
// saturates rather than wrapping.
//
// When the prompt (input + cached + cache-write tokens) is longer than the
// model's long-context threshold, the long-context rates apply to every
// token of the request, as the providers bill it.
func (m Model) Cost(u Usage, markupBasisPoints int64) money.Micros {
	prompt := nonNeg(u.InputTokens) + nonNeg(u.CachedInputTokens) + nonNeg(u.CacheWriteTokens)
	r := m.Pricing.ratesFor(prompt)
	base := costOf(
		money.TokenPrice{Tokens: nonNeg(u.InputTokens), Price: r.input},
		money.TokenPrice{Tokens: nonNeg(u.CachedInputTokens), Price: r.cachedInput},
		money.TokenPrice{Tokens: nonNeg(u.CacheWriteTokens), Price: r.cacheWrite},
		money.TokenPrice{Tokens: nonNeg(u.OutputTokens), Price: r.output},
	)
	return markup(base, markupBasisPoints)
}

// WorstCaseCost is the most a request with inputTokens of prompt can cost,
// for credit holds: every input token at the dearer of the input and
// cache-write price, and the full output allowance. maxOutputTokens <= 0
// means m.MaxOutputTokens; a value above m.MaxOutputTokens is capped there,
// since the provider cannot generate more.
func (m Model) WorstCaseCost(inputTokens, maxOutputTokens int64, markupBasisPoints int64) money.Micros {
	inputTokens = nonNeg(inputTokens)
	limit := int64(m.MaxOutputTokens)
	if maxOutputTokens <= 0 || (limit > 0 && maxOutputTokens > limit) {
		maxOutputTokens = limit
	}
	r := m.Pricing.ratesFor(inputTokens)
	base := costOf(
		money.TokenPrice{Tokens: inputTokens, Price: max(r.input, r.cacheWrite)},
		money.TokenPrice{Tokens: maxOutputTokens, Price: r.output},
	)
	return markup(base, markupBasisPoints)
}

// rates is the price of each kind of token for one request, with the
// "zero means input price" rule already applied.
type rates struct {
	input, cachedInput, cacheWrite, output money.PerMillion
}

func (p Pricing) ratesFor(promptTokens int64) rates {
	r := rates{input: p.Input, cachedInput: p.CachedInput, cacheWrite: p.CacheWrite, output: p.Output}
	if lc := p.LongContext; lc.AboveTokens > 0 && promptTokens > lc.AboveTokens {
		r = rates{input: lc.Input, cachedInput: lc.CachedInput, cacheWrite: lc.CacheWrite, output: lc.Output}
	}
	if r.cachedInput == 0 {
		r.cachedInput = r.input
	}
	if r.cacheWrite == 0 {
		r.cacheWrite = r.input
	}
	return r
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
