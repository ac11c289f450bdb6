package gateway

import (
	"strconv"

	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/services/gateway/internal/reqbody"
)

// What a credit hold covers. The provider can never produce more than the
// hold: the input is bounded from above, the output by the limit the
// provider is sent, and a request whose worst case the balance cannot cover
// is either sent a lower output limit or refused. The README's billing
// section states these numbers; keep it in step.
const (
	// holdFloorOutputTokens is the least output limit sent to a request
	// whose client set none, when the balance (or a free request's cap)
	// cannot cover the model's maximum output: below it the request is
	// refused (402) rather than cut short.
	holdFloorOutputTokens = 1024
	// textBytesPerToken: a token is at least one byte of UTF-8 text in every
	// provider's tokenizer (byte-level BPE, SentencePiece with byte
	// fallback), and JSON only adds bytes (quotes, escapes, keys), so the
	// body's bytes bound its text's tokens from above, whatever the script.
	textBytesPerToken = 1
	// requestOverheadTokens covers what a provider adds to the prompt that
	// is not in the body: message markers and a tool-use system prompt
	// (a few hundred tokens at Anthropic).
	requestOverheadTokens = 1000
	// audioBytesPerToken: audio is held at one token per 8 bytes of its
	// base64 data. Gemini counts 32 tokens a second and OpenAI fewer; a
	// second at 8 kbit/s is 1,333 base64 bytes, so this holds for any bit
	// rate above 1.6 kbit/s. audioPartTokens is added per part.
	audioBytesPerToken = 8
	audioPartTokens    = 100
)

// imageTokens is what one image is held at, whatever its size in the body
// (a URL or megabytes of base64): above the most each provider counts for
// one image (OpenAI ~3,800 at the largest size and detail, Anthropic ~1,600
// for 1.15 megapixels, Gemini 258 per 768-pixel tile).
func imageTokens(p catalog.Provider) int64 {
	switch p {
	case catalog.Anthropic:
		return 5_000
	case catalog.Google:
		return 8_000
	}
	return 6_000 // OpenAI, xAI
}

// maxInputTokens is the longest prompt the model accepts (the provider
// refuses more), or 0 when the catalog does not bound it: a long-context
// tier at or above the listed context means the model takes longer prompts
// than listed (Anthropic's 1M-token context).
func maxInputTokens(m catalog.Model) int64 {
	ctx := int64(m.ContextLength)
	if ctx <= 0 || m.Pricing.LongContext.AboveTokens >= ctx {
		return 0
	}
	return ctx
}

// inputTokens bounds a body's prompt tokens from above, and guesses them
// (a quarter of the body's bytes) for billing a request the provider
// answered without usage. Images are held at imageTokens each, audio by its
// bytes, and a file or document (whose pages the gateway does not count) at
// the model's whole context.
func inputTokens(m catalog.Model, body []byte) (bound, guess int64) {
	med := reqbody.ScanMedia(body)
	text := int64(len(body)) - med.Bytes
	bound = text/textBytesPerToken + requestOverheadTokens +
		med.Images*imageTokens(m.Provider) +
		med.AudioBytes/audioBytesPerToken + med.Audio*audioPartTokens +
		med.Files*int64(m.ContextLength)
	guess = int64(len(body)) / 4
	if most := maxInputTokens(m); most > 0 {
		bound, guess = min(bound, most), min(guess, most)
	}
	return bound, min(guess, bound)
}

// holdPlan is what a request asks the credit book for.
type holdPlan struct {
	input   int64 // upper bound of the prompt's tokens
	guess   int64 // the prompt's tokens as billed without the provider's usage
	choices int64
	// declared is what the request declares beyond tokens.
	declared catalog.Declared
	// own: the client set its own output limit, which the gateway never
	// changes.
	own bool
	// want is the worst case as the client sent it; least the worst case
	// with holdFloorOutputTokens when the client set no limit (want
	// otherwise).
	want, least money.Micros
}

// atContext holds the input at the model's whole context, for a request
// whose input is more than its body (a stored response it continues).
func (s *Service) planHold(m catalog.Model, body []byte, info reqbody.Info, d catalog.Declared, atContext bool) holdPlan {
	p := holdPlan{choices: max(info.Choices, 1), own: info.MaxOutputTokens > 0, declared: d}
	p.input, p.guess = inputTokens(m, body)
	if atContext {
		p.input = max(p.input, int64(m.ContextLength))
	}
	b := catalog.Bound{InputTokens: p.input, OutputTokens: info.MaxOutputTokens, Choices: p.choices, Declared: d}
	p.want = m.WorstCase(b, s.cfg.MarkupBasisPoints)
	p.least = p.want
	if !p.own && m.MaxOutputTokens > holdFloorOutputTokens {
		b.OutputTokens = holdFloorOutputTokens
		p.least = m.WorstCase(b, s.cfg.MarkupBasisPoints)
	}
	return p
}

// outputLimit is the output limit to send with a hold of held micro-USD: 0
// when the hold covers the request as sent, else the largest limit whose
// worst case the hold covers.
func (s *Service) outputLimit(m catalog.Model, p holdPlan, held money.Micros) int64 {
	if p.own || held >= p.want {
		return 0
	}
	n := m.OutputLimitWithin(held, catalog.Bound{InputTokens: p.input, Choices: p.choices, Declared: p.declared}, s.cfg.MarkupBasisPoints)
	return max(n, 1)
}

// maxOutputHeader tells the client the output limit the gateway sent for
// it.
const maxOutputHeader = "X-Onekey-Max-Output-Tokens"

func setMaxOutputHeader(h map[string][]string, n int64) {
	h[maxOutputHeader] = []string{strconv.FormatInt(n, 10)}
}
