package gateway

import (
	"bytes"
	"fmt"
	"net/http"

	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/services/gateway/internal/jsonscan"
	"github.com/onekey-oss/onekey/services/gateway/internal/reqbody"
	"github.com/onekey-oss/onekey/services/gateway/internal/usage"
)

// chatAPI is OpenAI's chat completions, served for every provider's chat
// models through its OpenAI-compatible endpoint (Anthropic's and Gemini's
// included). It is its own (and only) exchange: a passthrough.
type chatAPI struct{}

func (chatAPI) spec() apiSpec {
	return apiSpec{name: "chat", path: "/v1/chat/completions", shape: shapeOpenAI, billed: true}
}

func (chatAPI) accept(m catalog.Model) *apiError {
	if m.Kind != catalog.Chat {
		return errBadRequest(fmt.Sprintf("`%s` is an embedding model; use /v1/embeddings.", m.ID))
	}
	return nil
}

func (c chatAPI) exchange(catalog.Model) exchange { return c }

func (chatAPI) dialect() dialect { return openAIDialect{} }

func (chatAPI) path(*http.Request) string { return "/chat/completions" }

// request asks a stream for its usage (stream_options.include_usage) even
// when the client did not: the stream reader removes it again.
func (chatAPI) request(body []byte, info reqbody.Info, m catalog.Model, limit int64) ([]byte, error) {
	if limit > 0 {
		// OpenAI's reasoning models refuse max_tokens; the other
		// OpenAI-compatible endpoints read max_tokens.
		key := "max_tokens"
		if m.Provider == catalog.OpenAI {
			key = "max_completion_tokens"
		}
		info.SetOutputLimit(key, limit)
	}
	return reqbody.Rewrite(body, info, m.UpstreamID, info.Stream)
}

func (chatAPI) answer(body []byte, res *result, bill *biller) []byte {
	return openAIAnswer(body, res, bill)
}

func (chatAPI) stream(info reqbody.Info, bill *biller) streamReader {
	return &chatStream{strip: info.Stream && !info.IncludeUsage, bill: bill}
}

// readOpenAIUsage records the top-level usage of an OpenAI-format answer
// (chat completion, embeddings, a stream's usage chunk) in res, reporting
// whether it had one.
func readOpenAIUsage(doc []byte, res *result, bill *biller) bool {
	var u usage.OpenAI
	if ok, err := usage.TopLevel(doc, &u); err != nil || !ok {
		return false
	}
	cu := u.Usage()
	cu.ServiceTier = usage.ServiceTier(doc)
	res.bill(cu, bill)
	return true
}

// openAIAnswer reads a plain OpenAI-format answer's usage and returns the
// answer with the charge in it.
func openAIAnswer(doc []byte, res *result, bill *biller) []byte {
	if !readOpenAIUsage(doc, res, bill) || bill == nil {
		return doc
	}
	return withCost(doc, res.charge)
}

// chatStream reads a chat completions stream: usage from its usage chunk,
// which it removes when the client did not ask for it (strip).
type chatStream struct {
	strip   bool
	sawDone bool
	bill    *biller
}

var usageNull = []byte(`,"usage":null}`)

func (c *chatStream) event(ev, _, data []byte, res *result) []byte {
	if len(data) == 0 {
		return ev
	}
	if bytes.Equal(data, []byte("[DONE]")) {
		c.sawDone = true
		return ev
	}
	res.chunks++
	if !usage.HasObject(data) {
		// With include_usage on, OpenAI adds "usage":null to every chunk;
		// a client that did not ask for usage does not get it.
		if c.strip && bytes.HasSuffix(data, usageNull) {
			out := make([]byte, 0, len(data)+8)
			out = append(out, "data: "...)
			out = append(out, data[:len(data)-len(usageNull)]...)
			return append(out, "}\n\n"...)
		}
		return ev
	}
	if !readOpenAIUsage(data, res, c.bill) {
		return ev
	}
	res.chunks--
	if !c.strip {
		if c.bill == nil {
			return ev
		}
		// The usage chunk the client asked for states the charge.
		return sseEvent(nil, withCost(data, res.charge))
	}
	// The client did not ask for usage: drop a usage-only chunk, or cut the
	// usage member out of a chunk that also carries choices (Gemini).
	var choicesEmpty, found bool
	var us, ue int
	_ = jsonscan.Fields(data, func(f jsonscan.Field) error {
		switch f.Key {
		case "choices":
			v := bytes.TrimSpace(data[f.ValueStart:f.ValueEnd])
			choicesEmpty = len(v) <= 2 || bytes.Equal(bytes.ReplaceAll(v, []byte(" "), nil), []byte("[]"))
		case "usage":
			us, ue, found = f.MemberStart, f.ValueEnd, true
		}
		return nil
	})
	if choicesEmpty || !found {
		return nil
	}
	trimmed := jsonscan.RemoveMember(data, us, ue)
	out := make([]byte, 0, len(trimmed)+8)
	out = append(out, "data: "...)
	out = append(out, trimmed...)
	return append(out, "\n\n"...)
}

// end: a chat stream is complete with its [DONE] or, from an upstream that
// sends none, its usage chunk.
func (c *chatStream) end(res *result) []byte {
	if !c.sawDone && !res.haveUsage {
		res.aborted = true
	}
	return nil
}
