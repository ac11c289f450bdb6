package gateway

import (
	"net/http"

	"github.com/onekey-oss/onekey/services/gateway/internal/channel"
)

// A dialect is an upstream wire family: how a request to it is authorized
// and which of the client's headers it takes. Error bodies of every dialect
// are read by upstreamError (OpenAI's and Anthropic's error objects).
type dialect interface {
	// header sets the upstream request's headers for channel ch, from the
	// client's request r where the dialect takes the client's (Anthropic's
	// version and beta headers). Content-Type and Accept are set already.
	header(h http.Header, r *http.Request, ch *channel.Channel)
}

// openAIDialect is OpenAI's wire, also spoken by xAI and by Gemini's and
// Anthropic's OpenAI-compatible endpoints: a bearer key.
type openAIDialect struct{}

func (openAIDialect) header(h http.Header, _ *http.Request, ch *channel.Channel) {
	h["Authorization"] = []string{"Bearer " + ch.APIKey}
}

// DefaultAnthropicVersion is sent when a Messages client sends none.
const DefaultAnthropicVersion = "2023-06-01"

// anthropicDialect is Anthropic's native wire: x-api-key, and the client's
// anthropic-version (or DefaultAnthropicVersion) and anthropic-beta.
type anthropicDialect struct{}

func (anthropicDialect) header(h http.Header, r *http.Request, ch *channel.Channel) {
	h["X-Api-Key"] = []string{ch.APIKey}
	v := r.Header.Get("Anthropic-Version")
	if v == "" {
		v = DefaultAnthropicVersion
	}
	h["Anthropic-Version"] = []string{v}
	if b := r.Header.Values("Anthropic-Beta"); len(b) > 0 {
		h["Anthropic-Beta"] = b
	}
}
