package gateway

import (
	"net/http"

	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/services/gateway/internal/reqbody"
)

// API formats. Everything that differs between the APIs the gateway serves
// and the wires its providers speak is in the types behind these
// interfaces; proxy.go and relay.go hold the hot path they share (key,
// hold, channel plan, retries, relaying bytes, settlement) and know no
// format.
//
// Adding a client API (for example OpenAI's Responses) is one new file with
// a clientAPI and its exchanges, plus its line in clientAPIs. Adding an
// upstream wire for an existing API (Gemini's native API, say) is one new
// exchange and the case in that API's exchange method that picks it.
//
// The files: format_chat.go (chat completions), format_embeddings.go,
// format_messages.go (Anthropic's Messages and count_tokens),
// format_dialect.go (the upstream dialects: authorization, base paths).

// clientAPIs are the client APIs the gateway serves, in route order.
func (s *Service) clientAPIs() []clientAPI {
	return []clientAPI{chatAPI{}, embeddingsAPI{}, messagesAPI{}, countTokensAPI{}, responsesAPI{store: s.store}}
}

// A clientAPI is one API the gateway serves to clients.
//
// Its methods are called per request and must not keep request state: a
// clientAPI is a value shared by every request (its per-request state lives
// in the streamReader its exchange starts).
type clientAPI interface {
	// spec is what the API is: its name, routes, error shape, billing.
	spec() apiSpec
	// accept refuses, before any credit is held or byte sent upstream, a
	// model the API does not serve (an embedding model on chat, a GPT on
	// Messages): nil when it serves it.
	accept(m catalog.Model) *apiError
	// exchange is the (this API, upstream dialect) pair that carries a
	// request for m to m's provider. It is called only for an accepted
	// model and must return one.
	exchange(m catalog.Model) exchange
}

// apiSpec is a client API's fixed facts.
type apiSpec struct {
	// name labels the API in metrics ("op") and logs.
	name string
	// path is the API's route ("/v1/chat/completions"), served for POST;
	// other methods on it get a 405 in the API's error shape.
	path string
	// shape is the API's error body: every error the gateway answers on
	// this route, its own and the provider's, is written in it.
	shape errorShape
	// billed: the request costs tokens (credit is held, usage recorded).
	// An unbilled API (count_tokens) is free to the caller and limited per
	// key by Config.CountTokensRPM instead.
	billed bool
	// serverTools: the API may carry tools the provider runs and reports
	// in its usage (Anthropic's web search and fetch), allowed when the
	// catalog prices them; elsewhere every tool but function and custom
	// is refused (see checkCharges).
	serverTools bool
	// clientTools are the tool types besides function and custom that the
	// client runs and the provider bills as tokens only (the Responses
	// API's local_shell, shell and apply_patch): allowed.
	clientTools map[string]bool
}

// An exchange is one (client API, upstream dialect) pair: how a request of
// the API goes to a provider that speaks the dialect, and how the answer
// comes back to the client.
//
// A passthrough pair (chat completions to an OpenAI-compatible upstream,
// Messages to Anthropic) sends the client's bytes with only the model id,
// the output limit and the usage option rewritten, and relays the answer's
// bytes, adding only the request's charge (see charge). A translating pair
// (Responses to Anthropic Messages, say) rewrites the body to the dialect in
// request and the answer back to the client API in answer and in its
// streamReader; whatever it cannot translate it refuses in request with a
// 400 naming the parameter, never dropping it silently.
//
// An exchange is shared by every request and must not keep request state,
// unless its clientAPI's exchange method makes a new one per request (the
// Responses API's do).
type exchange interface {
	// dialect is the upstream wire the pair speaks: its authorization and
	// request headers.
	dialect() dialect
	// path is the upstream path (and query, if any) under the provider's
	// versioned base URL (see versionedBase), for the client's request r.
	path(r *http.Request) string
	// request returns the body to send upstream for the client's body:
	// m.UpstreamID as the model, limit as the output limit when limit > 0
	// (the hold covers no more; the client set none), and whatever the
	// upstream needs to report usage (OpenAI's stream_options). It may
	// return body itself when nothing changes. Its error is the client's:
	// it is answered 400 in the API's shape.
	request(body []byte, info reqbody.Info, m catalog.Model, limit int64) ([]byte, error)
	// answer reads a whole non-streamed 2xx answer: it records the
	// provider's usage in res (res.usage, res.haveUsage and, through bill,
	// res.charge) and returns the bytes the client gets: the answer in the
	// client API's format, with the charge in its usage. bill is nil for
	// an unbilled API. body may be only {"usage":…} when the answer was
	// too long to keep whole; the usage is still read from it.
	answer(body []byte, res *result, bill *biller) []byte
	// stream starts the reader of one streamed answer.
	stream(info reqbody.Info, bill *biller) streamReader
}

// A streamReader reads one streamed (server-sent events) answer, event by
// event, and decides what the client gets of each. It belongs to one
// request.
type streamReader interface {
	// event is one complete event: ev its raw bytes (its lines and the
	// blank line that ends it), name its "event:" name (may be empty),
	// data its "data:" payload. It returns the bytes to send the client:
	// ev itself to pass the event on, other bytes to rewrite or translate
	// it, nil to drop it. It records usage in res as it passes (and, once
	// the usage is final, the charge, which it adds to the event that
	// carries the usage). It runs on the hot path: an event passed on
	// unchanged must cost no allocation, and its slices are reused after
	// it returns.
	event(ev, name, data []byte, res *result) []byte
	// end is called once, after the last event. res.aborted is already set
	// when the stream broke off (not at EOF); end sets it too when the
	// stream ended without the dialect's end of a complete answer, and
	// sets the final usage (res.usage, res.haveUsage) or the partial one
	// (res.partial) of a stream that broke off. It returns the bytes still
	// owed to the client (a translation's closing events), usually none.
	end(res *result) []byte
}

// versionedBase is the path the gateway adds to a channel's base URL before
// an exchange's path: the SDK conventions put the API version in OpenAI's,
// xAI's and Gemini's base URLs, and not in Anthropic's.
func versionedBase(p catalog.Provider) string {
	if p == catalog.Anthropic {
		return "/v1"
	}
	return ""
}
