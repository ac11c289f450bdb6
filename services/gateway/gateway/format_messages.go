package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/services/gateway/internal/reqbody"
	"github.com/onekey-oss/onekey/services/gateway/internal/usage"
)

// messagesAPI is Anthropic's Messages API, served for Claude models only,
// passed through to Anthropic's own. It is its own exchange.
type messagesAPI struct{}

func (messagesAPI) spec() apiSpec {
	return apiSpec{name: "messages", path: "/v1/messages", shape: shapeAnthropic, billed: true, serverTools: true}
}

func (messagesAPI) accept(m catalog.Model) *apiError { return acceptClaude(m) }

func (a messagesAPI) exchange(catalog.Model) exchange { return a }

func (messagesAPI) dialect() dialect { return anthropicDialect{} }

// path keeps the client's query (Claude Code sends ?beta=true).
func (messagesAPI) path(r *http.Request) string { return withQuery("/messages", r) }

func (messagesAPI) request(body []byte, info reqbody.Info, m catalog.Model, limit int64) ([]byte, error) {
	return anthropicRequest(body, info, m, limit)
}

func (messagesAPI) answer(body []byte, res *result, bill *biller) []byte {
	var u usage.Anthropic
	if ok, err := usage.TopLevel(body, &u); err != nil || !ok || !u.Seen() {
		return body
	}
	res.bill(u.Usage(), bill)
	if bill == nil {
		return body
	}
	return withCost(body, res.charge)
}

func (messagesAPI) stream(_ reqbody.Info, bill *biller) streamReader {
	return &messagesStream{bill: bill}
}

// countTokensAPI is Anthropic's count_tokens: free to the caller, passed
// through to Anthropic's own.
type countTokensAPI struct{}

func (countTokensAPI) spec() apiSpec {
	return apiSpec{name: "count_tokens", path: "/v1/messages/count_tokens", shape: shapeAnthropic}
}

func (countTokensAPI) accept(m catalog.Model) *apiError { return acceptClaude(m) }

func (a countTokensAPI) exchange(catalog.Model) exchange { return a }

func (countTokensAPI) dialect() dialect { return anthropicDialect{} }

func (countTokensAPI) path(r *http.Request) string { return withQuery("/messages/count_tokens", r) }

func (countTokensAPI) request(body []byte, info reqbody.Info, m catalog.Model, limit int64) ([]byte, error) {
	return anthropicRequest(body, info, m, limit)
}

func (countTokensAPI) answer(body []byte, _ *result, _ *biller) []byte { return body }

func (countTokensAPI) stream(_ reqbody.Info, _ *biller) streamReader { return &messagesStream{} }

func acceptClaude(m catalog.Model) *apiError {
	if m.Provider != catalog.Anthropic {
		return errBadRequest(fmt.Sprintf("`%s` is not an Anthropic model; /v1/messages serves Claude models only. Use /v1/chat/completions for the others.", m.ID))
	}
	return nil
}

func withQuery(path string, r *http.Request) string {
	if r.URL.RawQuery != "" {
		return path + "?" + r.URL.RawQuery
	}
	return path
}

func anthropicRequest(body []byte, info reqbody.Info, m catalog.Model, limit int64) ([]byte, error) {
	if limit > 0 {
		info.SetOutputLimit("max_tokens", limit)
	}
	return reqbody.Rewrite(body, info, m.UpstreamID, false)
}

// messagesStream reads a Messages stream: message_start carries the input
// counts, message_delta the final output count (and lately the input ones
// again), content_block_start the server tools Anthropic runs.
type messagesStream struct {
	anth usage.Anthropic
	bill *biller
}

// anthropicTypes are the events whose name the reader needs, with the type
// member that names them in their data.
var anthropicTypes = [...]struct{ name, mark []byte }{
	{[]byte("message_start"), []byte(`"type":"message_start"`)},
	{[]byte("message_delta"), []byte(`"type":"message_delta"`)},
	{[]byte("content_block_delta"), []byte(`"type":"content_block_delta"`)},
	{[]byte("content_block_start"), []byte(`"type":"content_block_start"`)},
}

func (a *messagesStream) event(ev, name, data []byte, res *result) []byte {
	if len(name) == 0 {
		// Every Anthropic event names itself in an "event:" line; be
		// lenient with a relay that drops them.
		for _, t := range anthropicTypes {
			if bytes.Contains(data, t.mark) {
				name = t.name
				break
			}
		}
	}
	switch string(name) {
	case "message_start":
		var v struct {
			Message struct {
				Usage usage.Anthropic `json:"usage"`
			} `json:"message"`
		}
		if json.Unmarshal(data, &v) == nil {
			a.anth.Merge(v.Message.Usage)
		}
	case "message_delta":
		var v struct {
			Usage usage.Anthropic `json:"usage"`
		}
		if json.Unmarshal(data, &v) == nil {
			a.anth.Merge(v.Usage)
			if a.bill != nil && a.anth.Seen() {
				// The last usage of a Messages stream: its charge goes in
				// the event's usage. end bills the same usage.
				c := a.bill.charge(res.toolUses.floor(a.anth.Usage()))
				return sseEvent(name, withCost(data, c))
			}
		}
	case "content_block_delta":
		res.chunks++
	case "content_block_start":
		res.toolUses.count(data)
	}
	return ev
}

// end: a Messages stream has no end marker the gateway needs; its usage is
// final unless it broke off, when it is the floor of an estimate.
func (a *messagesStream) end(res *result) []byte {
	if !a.anth.Seen() {
		return nil
	}
	u := res.toolUses.floor(a.anth.Usage())
	if res.aborted {
		// message_start's output count is from the stream's start: the
		// content deltas seen since are a better floor.
		u.OutputTokens = max(u.OutputTokens, res.chunks)
		res.partial = &u
		return nil
	}
	res.bill(u, a.bill)
	return nil
}
