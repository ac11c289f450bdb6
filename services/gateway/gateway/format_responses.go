package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/ids"
	"github.com/onekey-oss/onekey/services/gateway/internal/jsonscan"
	"github.com/onekey-oss/onekey/services/gateway/internal/reqbody"
	"github.com/onekey-oss/onekey/services/gateway/internal/responses"
	"github.com/onekey-oss/onekey/services/gateway/internal/usage"
)

// responsesAPI is OpenAI's Responses API (POST /v1/responses), served for
// every provider's chat models: passed through to OpenAI's and xAI's own
// (responsesNative), translated to Anthropic's Messages API and to the chat
// completions of Gemini's OpenAI-compatible endpoint (responsesTranslated,
// by internal/responses). Its error shape is OpenAI's.
//
// Unlike the other APIs, its exchange keeps request state (the stored
// response binding, the translation): exchange makes a new one for every
// request.
type responsesAPI struct{ store *responseStore }

// responsesClientTools are the Responses API's tools the client runs (Codex
// CLI's shell and patch tools): the provider bills their calls as tokens.
// Translated models refuse them (internal/responses translates function
// tools only).
var responsesClientTools = map[string]bool{"local_shell": true, "shell": true, "apply_patch": true}

func (responsesAPI) spec() apiSpec {
	return apiSpec{name: "responses", path: "/v1/responses", shape: shapeOpenAI, billed: true, clientTools: responsesClientTools}
}

func (responsesAPI) accept(m catalog.Model) *apiError {
	if m.Kind != catalog.Chat {
		return errBadRequest(fmt.Sprintf("`%s` is an embedding model; use /v1/embeddings.", m.ID))
	}
	return nil
}

func (a responsesAPI) exchange(m catalog.Model) exchange {
	switch m.Provider {
	case catalog.OpenAI, catalog.XAI:
		return &responsesNative{store: a.store}
	case catalog.Anthropic:
		return &responsesTranslated{anthropic: true}
	}
	return &responsesTranslated{}
}

// A preparer is an exchange that reads and checks a request before any
// credit is held: what it refuses costs nothing and reaches no provider.
type preparer interface {
	prepare(ctx context.Context, key events.APIKeyV1, body []byte, info reqbody.Info, m catalog.Model) (preparation, *apiError)
}

// preparation is what prepare found.
type preparation struct {
	// holdContext: the request's input is more than its body (it continues
	// a stored response), so it is held at the model's whole context.
	holdContext bool
	// channel, when set, is the only channel the request may go to (the
	// one whose provider organization holds the stored response).
	channel string
}

// wholeAnswer is an exchange whose non-streamed answers are kept whole
// however long (up to maxWholeAnswer), because the client cannot get the
// upstream's bytes as they come: they are translated.
type wholeAnswer interface{ whole() bool }

// maxWholeAnswer bounds a non-streamed answer kept whole.
const maxWholeAnswer = 64 << 20

// responseCost is what the client is told a request cost: the charge the
// usage event carries.
func responseCost(bill *biller, u catalog.Usage) (responses.Cost, bool) {
	if bill == nil {
		return responses.Cost{}, false
	}
	c := bill.charge(u)
	return responses.Cost{Micros: int64(c.charged()), Free: c.free}, true
}

// responsesNative passes the Responses API through to OpenAI or xAI. It
// rewrites the model id and the output limit and, with stored responses
// off, sets store: false; with them on, it binds the id of a response the
// provider stores to the account.
type responsesNative struct {
	store    *responseStore
	account  string
	model    string
	provider string
	// storing: the provider stores this response (store not false).
	storing bool
	// forceNoStore: the body's store is set to false.
	forceNoStore bool
}

// whole: a stored response's id is bound before it reaches the client,
// however long the answer (up to maxWholeAnswer).
func (x *responsesNative) whole() bool { return x.storing }

func (x *responsesNative) dialect() dialect { return openAIDialect{} }

func (x *responsesNative) path(*http.Request) string { return "/responses" }

func (x *responsesNative) prepare(ctx context.Context, key events.APIKeyV1, body []byte, info reqbody.Info, m catalog.Model) (preparation, *apiError) {
	var p preparation
	store, background, prev := info.Raw(body, "store"), info.Raw(body, "background"), info.Raw(body, "previous_response_id")
	if string(background) == "true" {
		return p, refuse("background", "`background` is not supported by this gateway: a background response is polled later, which the gateway does not bill. Use `stream` instead.")
	}
	x.account, x.model, x.provider = key.AccountID, m.ID, string(m.Provider)
	if !x.store.on {
		if len(prev) > 0 && string(prev) != "null" {
			return p, errStoreOff("previous_response_id")
		}
		x.forceNoStore = true
		return p, nil
	}
	x.storing = string(store) != "false"
	if len(prev) > 0 && string(prev) != "null" {
		id, perr := strconv.Unquote(string(prev))
		if perr != nil {
			return p, errBadRequest("`previous_response_id` must be a string.")
		}
		b, ok, err := x.store.owned(ctx, id, key.AccountID)
		if err != nil {
			return p, errUnavailable("store_unavailable", "Stored responses cannot be looked up right now; try again shortly.")
		}
		if !ok {
			return p, &apiError{status: http.StatusNotFound, typ: "invalid_request_error", param: "previous_response_id", code: "previous_response_not_found",
				message: fmt.Sprintf("Previous response with id '%s' not found.", truncate(id, 100))}
		}
		if b.Provider != string(m.Provider) {
			return p, &apiError{status: http.StatusBadRequest, typ: "invalid_request_error", param: "previous_response_id", code: "invalid_value",
				message: fmt.Sprintf("Previous response with id '%s' was made by a %s model (`%s`); continue it with a %s model.", truncate(id, 100), b.Provider, b.Model, b.Provider)}
		}
		p.holdContext, p.channel = true, b.Channel
	}
	return p, nil
}

func (x *responsesNative) request(body []byte, info reqbody.Info, m catalog.Model, limit int64) ([]byte, error) {
	if limit > 0 {
		info.SetOutputLimit("max_output_tokens", limit)
	}
	if x.forceNoStore {
		info.SetMember("store", []byte("false"))
	}
	return reqbody.Rewrite(body, info, m.UpstreamID, false)
}

// bindID records a stored response's id for the account. It runs before
// the id reaches the client, so the client can use it at once.
func (x *responsesNative) bindID(id, channel string) {
	if !x.storing || id == "" {
		return
	}
	err := x.store.bind(context.Background(), id, events.StoredResponseV1{AccountID: x.account, Channel: channel, Provider: x.provider, Model: x.model, CreatedAt: time.Now().UTC()})
	if err != nil {
		x.store.log.Warn("stored response not bound: its owner will get 404 for it", "err", err)
	}
}

// answerKeys are the members of a Responses answer the gateway reads, found
// in one pass: usage, service_tier, id.
var answerKeys = []string{"usage", "service_tier", "id"}

func (x *responsesNative) answer(body []byte, res *result, bill *biller) []byte {
	var f [3]jsonscan.Span
	if jsonscan.Members(body, answerKeys, f[:]) != nil {
		return body
	}
	cu, ok := responsesUsage(body, f[0], f[1])
	if !ok {
		return body
	}
	res.bill(cu, bill)
	if f[2].Found {
		if id, ok := unquote(body[f[2].Start:f[2].End]); ok {
			x.bindID(id, res.channel)
		}
	}
	if res.charged {
		return insertCost(body, f[0].Start, f[0].End, res.charge)
	}
	return body
}

// responsesUsage reads a response object's usage (not null) and service
// tier, given their spans in doc.
func responsesUsage(doc []byte, us, tier jsonscan.Span) (catalog.Usage, bool) {
	if !us.Found || string(doc[us.Start:us.End]) == "null" {
		return catalog.Usage{}, false
	}
	var u usage.Responses
	if json.Unmarshal(doc[us.Start:us.End], &u) != nil {
		return catalog.Usage{}, false
	}
	cu := u.Usage()
	if tier.Found {
		cu.ServiceTier = usage.Tier(doc[tier.Start:tier.End])
	}
	return cu, true
}

func (x *responsesNative) stream(_ reqbody.Info, bill *biller) streamReader {
	return &responsesNativeStream{x: x, bill: bill}
}

// responsesNativeStream reads a Responses stream: the id from
// response.created, usage from the final response.completed (or
// .incomplete, .failed), to which it adds the cost.
type responsesNativeStream struct {
	x    *responsesNative
	bill *biller
	done bool
}

var (
	nativeDeltaSuffix = []byte(".delta")
	responseFinals    = map[string]bool{"response.completed": true, "response.incomplete": true, "response.failed": true}
)

// eventKeys are the members of a stream event the gateway reads: type (for
// an event without an event: line) and response; responseKeys those of the
// response object in it.
var (
	eventKeys    = []string{"type", "response"}
	responseKeys = []string{"usage", "service_tier", "id"}
)

func (s *responsesNativeStream) event(ev, name, data []byte, res *result) []byte {
	if len(data) == 0 {
		return ev
	}
	if bytes.HasSuffix(name, nativeDeltaSuffix) {
		res.chunks++
		return ev
	}
	typ := name
	var f [2]jsonscan.Span
	if len(name) == 0 || string(name) == "response.created" || responseFinals[string(name)] {
		if jsonscan.Members(data, eventKeys, f[:]) != nil {
			return ev
		}
		if len(typ) == 0 {
			if !f[0].Found {
				return ev
			}
			t, ok := unquoteBytes(data[f[0].Start:f[0].End])
			if !ok {
				return ev
			}
			typ = t
			if bytes.HasSuffix(typ, nativeDeltaSuffix) {
				// An unnamed delta is passed on uncounted, as before.
				return ev
			}
		}
	}
	switch {
	case string(typ) == "response.created":
		if s.x.storing && f[1].Found {
			r := data[f[1].Start:f[1].End]
			var rf [3]jsonscan.Span
			if jsonscan.Members(r, responseKeys, rf[:]) == nil && rf[2].Found {
				id, _ := unquote(r[rf[2].Start:rf[2].End])
				s.x.bindID(id, res.channel)
			} else {
				s.x.bindID("", res.channel)
			}
		}
	case responseFinals[string(typ)]:
		if !f[1].Found {
			return ev
		}
		rs := f[1].Start
		r := data[rs:f[1].End]
		var rf [3]jsonscan.Span
		if jsonscan.Members(r, responseKeys, rf[:]) != nil {
			return ev
		}
		cu, ok := responsesUsage(r, rf[0], rf[1])
		if !ok {
			return ev
		}
		s.done = true
		res.bill(cu, s.bill)
		if !res.charged {
			return ev
		}
		// The usage object inside the response object.
		return sseEvent(name, insertCost(data, rs+rf[0].Start, rs+rf[0].End, res.charge))
	}
	return ev
}

// end: a Responses stream is complete with its final response event.
func (s *responsesNativeStream) end(res *result) []byte {
	if !s.done {
		res.aborted = true
	}
	return nil
}

// responsesTranslated translates the Responses API to Anthropic's Messages
// API (anthropic) or to chat completions (Gemini's OpenAI-compatible
// endpoint), reading the upstream's usage as those APIs' own exchanges do.
type responsesTranslated struct {
	anthropic bool
	req       *responses.Request
	tr        *responses.Translation
}

func (x *responsesTranslated) whole() bool { return true }

func (x *responsesTranslated) provider() string {
	if x.anthropic {
		return "Anthropic"
	}
	return "Gemini"
}

func (x *responsesTranslated) dialect() dialect {
	if x.anthropic {
		return anthropicDialect{}
	}
	return openAIDialect{}
}

func (x *responsesTranslated) path(*http.Request) string {
	if x.anthropic {
		return "/messages"
	}
	return "/chat/completions"
}

func (x *responsesTranslated) prepare(_ context.Context, _ events.APIKeyV1, body []byte, _ reqbody.Info, _ catalog.Model) (preparation, *apiError) {
	r, err := responses.Parse(body, x.provider())
	if err != nil {
		return preparation{}, translationError(err)
	}
	x.req = r
	return preparation{}, nil
}

func translationError(err error) *apiError {
	var te *responses.Error
	if errors.As(err, &te) {
		return &apiError{status: http.StatusBadRequest, typ: "invalid_request_error", param: te.Param, code: te.Code, message: te.Message}
	}
	return errBadRequest(err.Error())
}

func (x *responsesTranslated) request(_ []byte, _ reqbody.Info, m catalog.Model, limit int64) ([]byte, error) {
	opt := responses.Options{ResponseID: ids.New("resp"), Model: m.ID, UpstreamModel: m.UpstreamID, MaxOutputTokens: limit, Now: time.Now()}
	if opt.MaxOutputTokens <= 0 && x.req.MaxOutputTokens != nil {
		opt.MaxOutputTokens = *x.req.MaxOutputTokens
	}
	var body []byte
	var err error
	if x.anthropic {
		if opt.MaxOutputTokens <= 0 {
			// Anthropic requires a limit: the model's maximum, which the
			// hold covers.
			opt.MaxOutputTokens = int64(m.MaxOutputTokens)
		}
		body, x.tr, err = responses.ToAnthropic(x.req, opt)
	} else {
		body, x.tr, err = responses.ToChat(x.req, opt)
	}
	if err != nil {
		return nil, translationError(err)
	}
	return body, nil
}

func (x *responsesTranslated) answer(body []byte, res *result, bill *biller) []byte {
	x.tr.OnUsage(func(u catalog.Usage) (responses.Cost, bool) { return responseCost(bill, u) })
	var out []byte
	var err error
	if x.anthropic {
		messagesAPI{}.answer(body, res, bill)
		out, err = x.tr.FromAnthropic(body)
	} else {
		chatAPI{}.answer(body, res, bill)
		out, err = x.tr.FromChat(body)
	}
	if err != nil {
		res.aborted = true
		return nil
	}
	return out
}

func (x *responsesTranslated) stream(info reqbody.Info, bill *biller) streamReader {
	x.tr.OnUsage(func(u catalog.Usage) (responses.Cost, bool) { return responseCost(bill, u) })
	if x.anthropic {
		return &translatedStream{usage: &messagesStream{bill: bill}, tr: x.tr.NewAnthropicStream()}
	}
	return &translatedStream{usage: &chatStream{bill: bill}, tr: x.tr.NewChatStream()}
}

// translatedStream reads the upstream's stream for its usage with the
// upstream API's own reader, and sends the client the translation.
type translatedStream struct {
	usage streamReader
	tr    interface {
		Event(data []byte) []byte
		End() []byte
	}
}

func (s *translatedStream) event(ev, name, data []byte, res *result) []byte {
	s.usage.event(ev, name, data, res)
	if len(data) == 0 {
		return nil
	}
	return s.tr.Event(data)
}

func (s *translatedStream) end(res *result) []byte {
	s.usage.end(res)
	return s.tr.End()
}

// JSON helpers for the native exchange.

// unquote decodes a raw JSON string value.
func unquote(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), true
	}
	s, err := strconv.Unquote(string(raw))
	return s, err == nil
}

// unquoteBytes is unquote without allocating for a string without escapes.
func unquoteBytes(raw []byte) ([]byte, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return nil, false
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return raw[1 : len(raw)-1], true
	}
	s, err := strconv.Unquote(string(raw))
	return []byte(s), err == nil
}
