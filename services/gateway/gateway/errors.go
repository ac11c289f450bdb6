package gateway

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// apiError is a failure the gateway answers itself, before or instead of an
// upstream response. It is written in OpenAI's error shape, or Anthropic's
// on the Messages API, by writeError: the one place that maps errors to the
// wire.
type apiError struct {
	status  int
	typ     string // OpenAI "type"
	code    string // OpenAI "code"
	param   string
	message string
	// retryAfter, when set, is sent as Retry-After (whole seconds, rounded up).
	retryAfter time.Duration
	// upstream marks an error read from a provider's answer: its type is
	// the provider's own, kept in either shape (when it has one).
	upstream bool
}

func (e *apiError) Error() string { return e.message }

// openAIType is the type of an error that has none of its own.
func openAIType(status int) string {
	switch {
	case status == http.StatusTooManyRequests:
		return "requests"
	case status >= 500:
		return "server_error"
	}
	return "invalid_request_error"
}

// anthropicType maps a status to Anthropic's error type names.
func anthropicType(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "invalid_request_error"
	case http.StatusUnauthorized:
		return "authentication_error"
	case http.StatusPaymentRequired:
		return "billing_error"
	case http.StatusForbidden:
		return "permission_error"
	case http.StatusNotFound:
		return "not_found_error"
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case http.StatusTooManyRequests:
		return "rate_limit_error"
	case http.StatusServiceUnavailable, 529:
		return "overloaded_error"
	}
	if status >= 500 {
		return "api_error"
	}
	return "invalid_request_error"
}

type openAIErrorBody struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

type anthropicErrorBody struct {
	Type  string `json:"type"`
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
	RequestID string `json:"request_id,omitempty"`
}

// An errorShape is a client API's error body. writeError is the one place
// that writes an error; the shape only says how it looks.
type errorShape interface {
	// errorBody is e as the API's JSON error body; requestID is the
	// response's X-Request-Id.
	errorBody(e *apiError, requestID string) any
}

// The shapes of the APIs the gateway serves: OpenAI's (chat completions,
// embeddings, models, credits; Responses too) and Anthropic's (Messages).
var (
	shapeOpenAI    errorShape = openAIErrors{}
	shapeAnthropic errorShape = anthropicErrors{}
)

type openAIErrors struct{}

func (openAIErrors) errorBody(e *apiError, _ string) any {
	var b openAIErrorBody
	b.Error.Message, b.Error.Type = e.message, e.typ
	if b.Error.Type == "" {
		b.Error.Type = openAIType(e.status)
	}
	if e.param != "" {
		b.Error.Param = &e.param
	}
	if e.code != "" {
		b.Error.Code = &e.code
	}
	return b
}

type anthropicErrors struct{}

func (anthropicErrors) errorBody(e *apiError, requestID string) any {
	var b anthropicErrorBody
	b.Type, b.RequestID = "error", requestID
	b.Error.Type, b.Error.Message = anthropicType(e.status), e.message
	if e.upstream && e.typ != "" {
		b.Error.Type = e.typ
	}
	return b
}

func writeError(w http.ResponseWriter, shape errorShape, e *apiError) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if e.retryAfter > 0 {
		h.Set("Retry-After", strconv.FormatInt(int64((e.retryAfter+time.Second-1)/time.Second), 10))
	}
	raw, _ := json.Marshal(shape.errorBody(e, h.Get("X-Request-Id")))
	w.WriteHeader(e.status)
	_, _ = w.Write(append(raw, '\n'))
}

func errBadRequest(msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, typ: "invalid_request_error", message: msg}
}

func errUnauthorized(msg string) *apiError {
	return &apiError{status: http.StatusUnauthorized, typ: "invalid_request_error", code: "invalid_api_key", message: msg}
}

// errKeySuspended refuses a key its operator suspended: distinct from an
// invalid key (401), so a client knows a new key is not the fix.
func errKeySuspended() *apiError {
	return &apiError{status: http.StatusForbidden, typ: "invalid_request_error", code: "key_suspended",
		message: "This API key is suspended by the operator of this service; requests with it are refused until they restore it."}
}

func errNotFound(msg string) *apiError {
	return &apiError{status: http.StatusNotFound, typ: "invalid_request_error", code: "not_found", message: msg}
}

func errUnavailable(code, msg string) *apiError {
	return &apiError{status: http.StatusServiceUnavailable, typ: "server_error", code: code, message: msg, retryAfter: time.Second}
}
