package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// An upstream error answer is about the operator's provider account: an
// OpenAI 429 names the organization ("Rate limit reached for gpt-4o in
// organization org-… on tokens per min"), a 401 shows part of the
// operator's provider key. So a non-2xx answer is never relayed as it came:
// the gateway reads the provider's error (OpenAI's
// {"error":{"message","type","param","code"}} or Anthropic's
// {"type":"error","error":{"type","message"}}) and writes its own error in
// the client API's shape with the same status, type and code, and the
// message with account identifiers removed.

// upstreamErrorLimit bounds how much of an error body is read.
const upstreamErrorLimit = 64 << 10

// maxErrorMessage bounds the relayed message.
const maxErrorMessage = 2000

// providerError is the error object of either provider's error body.
type providerError struct {
	Message string          `json:"message"`
	Type    string          `json:"type"`
	Param   json.RawMessage `json:"param"`
	Code    json.RawMessage `json:"code"`
}

// relayError answers the client for a non-2xx upstream response.
func (s *Service) relayError(w http.ResponseWriter, shape errorShape, resp *http.Response, idle *idleWatch, res *result) {
	raw, err := io.ReadAll(io.LimitReader(touchReader{resp.Body, idle}, upstreamErrorLimit))
	if err != nil {
		res.aborted = true
	}
	writeError(w, shape, upstreamError(resp.StatusCode, raw))
}

// touchReader bumps the idle watch on every read.
type touchReader struct {
	r    io.Reader
	idle *idleWatch
}

func (t touchReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		t.idle.touch()
	}
	return n, err
}

// upstreamError reads a provider's error body (whatever its shape, or none)
// into the gateway's own error with the same status.
func upstreamError(status int, body []byte) *apiError {
	e := &apiError{status: status, upstream: true}
	pe, ok := parseProviderError(body)
	if ok {
		e.typ, e.message = pe.Type, scrubMessage(pe.Message)
		e.code = jsonScalar(pe.Code)
		e.param = jsonScalar(pe.Param)
	}
	if strings.TrimSpace(e.message) == "" {
		e.message = fmt.Sprintf("The provider answered with HTTP %d.", status)
	}
	return e
}

// parseProviderError finds the error object in OpenAI's and Anthropic's
// error bodies, and in the one-element array Google's OpenAI-compatible
// endpoint sometimes answers with.
func parseProviderError(body []byte) (providerError, bool) {
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '[' {
		var arr []json.RawMessage
		if json.Unmarshal(body, &arr) != nil || len(arr) == 0 {
			return providerError{}, false
		}
		body = arr[0]
	}
	var doc struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &doc) != nil || len(doc.Error) == 0 {
		return providerError{}, false
	}
	var pe providerError
	if json.Unmarshal(doc.Error, &pe) != nil {
		// {"error":"some text"}
		var msg string
		if json.Unmarshal(doc.Error, &msg) != nil {
			return providerError{}, false
		}
		pe.Message = msg
	}
	return pe, true
}

// jsonScalar is a string or number JSON value as text ("" for null, an
// object or an array).
func jsonScalar(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return truncate(scrubMessage(s), 100)
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		if i, err := strconv.ParseInt(n.String(), 10, 64); err == nil {
			return strconv.FormatInt(i, 10)
		}
	}
	return ""
}

const redacted = "[redacted]"

var (
	emails = regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+`)
	// API keys, masked or not ("sk-proj-****abcd").
	apiKeys = regexp.MustCompile(`\b(?:sk|pk|rk)-[A-Za-z0-9*_.-]{4,}`)
	// OpenAI's organization, project and user ids and the like: a known
	// prefix and a random tail (told from words like "user-provided" by a
	// digit or a capital letter in the tail).
	prefixedIDs = regexp.MustCompile(`\b(?:org|proj|prj|wrkspc|workspace|user|usr|acct|req)[_-][A-Za-z0-9_-]{6,}`)
	// UUIDs: Anthropic's organization ids.
	uuids = regexp.MustCompile(`(?i)\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b`)
	// An account name or id after its noun: quoted, an id with a digit, or
	// one already redacted.
	accountName = `(?:\[redacted\]|'[^']*'|"[^"]*"|` + "`[^`]*`" + `|[A-Za-z0-9_-]*[0-9][A-Za-z0-9_-]*)`
	accountNoun = `(?:organization|organisation|org|project|workspace|account)`
	// "in organization org-abc123": the whole phrase goes.
	accountPhrase = regexp.MustCompile(`(?i)\s*\b(?:in|for|of|from|under|within)\s+(?:the\s+|your\s+)?` + accountNoun + `\s+` + accountName)
	// "organization 'Acme'" elsewhere: the name goes.
	accountNamed = regexp.MustCompile(`(?i)\b(` + accountNoun + `)(?:\s+|:\s*)(?:'[^']*'|"[^"]*"|` + "`[^`]*`" + `|[A-Za-z0-9_-]*[0-9][A-Za-z0-9_-]*)`)
	spaces       = regexp.MustCompile(`[ \t]{2,}`)
)

// scrubMessage removes the provider account's identifiers from a message:
// e-mail addresses, keys, organization, project, user and request ids, and
// the phrases that name them.
func scrubMessage(m string) string {
	m = emails.ReplaceAllString(m, redacted)
	m = apiKeys.ReplaceAllString(m, redacted)
	m = prefixedIDs.ReplaceAllStringFunc(m, func(id string) string {
		tail := id[strings.IndexAny(id, "_-")+1:]
		if strings.ContainsAny(tail, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
			return redacted
		}
		return id
	})
	m = uuids.ReplaceAllString(m, redacted)
	m = accountPhrase.ReplaceAllString(m, "")
	m = accountNamed.ReplaceAllString(m, "${1} "+redacted)
	m = strings.TrimSpace(spaces.ReplaceAllString(m, " "))
	return truncate(m, maxErrorMessage)
}
