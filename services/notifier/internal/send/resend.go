// Package send delivers rendered mails: through Resend in production, or
// into an outbox folder (and the console) in devstack.
package send

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/resend/resend-go/v2"

	"github.com/onekey-oss/onekey/services/notifier/internal/mail"
)

// DefaultResendURL is Resend's API. A base URL must end with a slash:
// resend-go resolves "emails" against it, so "http://host/v1" would send to
// "http://host/emails".
const DefaultResendURL = "https://api.resend.com/"

// ResendConfig configures the Resend sender.
type ResendConfig struct {
	APIKey  string
	BaseURL string // DefaultResendURL when empty; a missing trailing slash is added
	From    string // "onekey <noreply@example.com>", on a domain verified at Resend
	ReplyTo string // optional
	// Attempts is how many times one Send tries when Resend answers 429 or
	// 5xx, or the connection fails (default 3). Beyond that the error is
	// returned as retryable, and the bus redelivers later.
	Attempts int
	// Backoff is the first pause between attempts, doubled after each
	// (default 500ms); a Retry-After from Resend is honoured up to
	// MaxBackoff (default 5s).
	Backoff    time.Duration
	MaxBackoff time.Duration
	// Timeout bounds one HTTP attempt (default 10s).
	Timeout time.Duration
	// Budget bounds one Send, attempts and pauses included (default 25s,
	// inside the bus consumers' 30 s ack wait, so a slow Resend does not
	// also make the bus hand the event out again meanwhile).
	Budget time.Duration
	// Transport is the HTTP transport (http.DefaultTransport when nil).
	Transport http.RoundTripper
}

// Resend sends mails through the Resend API with the mail's event id as
// Idempotency-Key, so a repeated send of the same mail within Resend's
// 24-hour window is answered with the first send's result instead of a
// second mail. It is safe for concurrent use.
type Resend struct {
	cfg    ResendConfig
	client *resend.Client
	sleep  func(context.Context, time.Duration) error
}

// NewResend builds the sender.
func NewResend(cfg ResendConfig) (*Resend, error) {
	if cfg.APIKey == "" {
		return nil, errors.New("resend: no API key")
	}
	if cfg.From == "" {
		return nil, errors.New("resend: no From address")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultResendURL
	}
	if !strings.HasSuffix(cfg.BaseURL, "/") {
		cfg.BaseURL += "/"
	}
	base, err := url.Parse(cfg.BaseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("resend: base URL %q is not an absolute http(s) URL", cfg.BaseURL)
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 3
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Budget <= 0 {
		cfg.Budget = 25 * time.Second
	}
	tr := cfg.Transport
	if tr == nil {
		tr = http.DefaultTransport
	}
	c := resend.NewCustomClient(&http.Client{Timeout: cfg.Timeout, Transport: capture{tr}}, cfg.APIKey)
	c.BaseURL = base
	return &Resend{cfg: cfg, client: c, sleep: sleep}, nil
}

// Send sends m and returns Resend's email id. Errors are *Error; see
// [Error.Permanent].
func (r *Resend) Send(ctx context.Context, m mail.Message) (string, error) {
	req := &resend.SendEmailRequest{
		From:    r.cfg.From,
		To:      []string{m.To},
		Subject: m.Subject,
		Html:    m.HTML,
		Text:    m.Text,
		ReplyTo: r.cfg.ReplyTo,
		Tags:    []resend.Tag{{Name: "kind", Value: m.Kind}},
		// A distinct reference per mail keeps mail clients from threading
		// receipts of the same subject into one conversation.
		Headers: map[string]string{"X-Entity-Ref-ID": IdempotencyKey(m.ID)},
	}
	opts := &resend.SendEmailOptions{IdempotencyKey: IdempotencyKey(m.ID)}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Budget)
	defer cancel()
	pause := r.cfg.Backoff
	for attempt := 1; ; attempt++ {
		out := &outcome{}
		resp, err := r.client.Emails.SendWithOptions(context.WithValue(ctx, outcomeKey{}, out), req, opts)
		if err == nil {
			return resp.Id, nil
		}
		serr, now := classify(out, err)
		if !now || attempt >= r.cfg.Attempts || ctx.Err() != nil {
			serr.Attempts = attempt
			return "", serr
		}
		wait := pause
		if serr.RetryAfter > 0 {
			if serr.RetryAfter > r.cfg.MaxBackoff {
				// Resend asks for more patience than one delivery has:
				// let the bus redeliver later.
				serr.Attempts = attempt
				return "", serr
			}
			wait = serr.RetryAfter
		}
		if err := r.sleep(ctx, wait); err != nil {
			serr.Attempts = attempt
			return "", serr
		}
		pause = min(2*pause, r.cfg.MaxBackoff)
	}
}

// IdempotencyKey is the Idempotency-Key sent for an event id: the id
// itself, or its SHA-256 when it is longer than the 256 characters Resend
// accepts.
func IdempotencyKey(eventID string) string {
	if len(eventID) <= 256 {
		return eventID
	}
	sum := sha256.Sum256([]byte(eventID))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Error is a failed send.
type Error struct {
	// Status is Resend's HTTP status, 0 when no answer came.
	Status int
	// Name is Resend's error name ("validation_error",
	// "concurrent_idempotent_requests", ...), when it gave one.
	Name string
	// Retryable means a later attempt may succeed: no answer, 429, 5xx,
	// a concurrent request with the same key, or a refused API key (an
	// operator can fix that; the mail itself is fine).
	Retryable bool
	// RetryAfter is Resend's Retry-After, when it sent one.
	RetryAfter time.Duration
	// Attempts made before giving up.
	Attempts int
	// KeyUsed: Resend already handled a request under this idempotency key
	// with another payload (409 invalid_idempotent_request), that is, a
	// mail for this event went out before, rendered differently (a
	// template changed between two deliveries). Not an error for the
	// caller's purpose of sending the event's mail once.
	KeyUsed bool
	err     error
}

// Permanent reports whether no retry can make the send succeed (Resend
// refused the mail itself: invalid, too large, or its idempotency key
// already used for another mail).
func (e *Error) Permanent() bool { return !e.Retryable }

func (e *Error) Error() string {
	// Resend's message is left out on purpose: it may quote the address.
	if e.Status == 0 {
		return fmt.Sprintf("resend: no answer after %d attempt(s): %v", e.Attempts, e.err)
	}
	return fmt.Sprintf("resend: HTTP %d %s after %d attempt(s)", e.Status, e.Name, e.Attempts)
}

func (e *Error) Unwrap() error { return e.err }

// classify tells whether a failed send may succeed later, and whether
// trying again at once (after a short pause) is worth it.
func classify(out *outcome, err error) (e *Error, now bool) {
	e = &Error{Status: out.status, Name: out.name, RetryAfter: out.retryAfter, err: err}
	switch {
	case out.status == 0:
		// No answer (connection refused or cut, timeout): the mail may or
		// may not have gone; the idempotency key makes a retry safe.
		e.Retryable, now = true, true
		e.err = redactURLError(err)
	case out.status == http.StatusTooManyRequests, out.status >= 500:
		e.Retryable, now = true, true
	case out.status == http.StatusConflict && out.name == "concurrent_idempotent_requests":
		e.Retryable, now = true, true
	case out.status == http.StatusConflict && out.name == "invalid_idempotent_request":
		e.KeyUsed = true
	case out.status == http.StatusUnauthorized, out.status == http.StatusForbidden:
		// A missing or wrong key, or an unverified sending domain: the
		// operator's to fix, after which the same mail goes through; not
		// in the next second, though.
		e.Retryable = true
	}
	return e, now
}

// redactURLError keeps the cause of a transport error without the request
// URL (harmless) or anything else of the request.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// outcome is what the transport saw of Resend's answer; resend-go keeps
// only the message of an error, not its status or name, and those decide
// whether to retry.
type outcome struct {
	status     int
	name       string
	retryAfter time.Duration
}

type outcomeKey struct{}

type capture struct{ base http.RoundTripper }

func (c capture) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	out, ok := req.Context().Value(outcomeKey{}).(*outcome)
	if !ok {
		return resp, nil
	}
	out.status = resp.StatusCode
	if s := resp.Header.Get("Retry-After"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n >= 0 {
			out.retryAfter = time.Duration(n) * time.Second
		}
	}
	if resp.StatusCode >= 300 {
		body, rerr := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
		if rerr != nil {
			return nil, rerr
		}
		var e struct {
			Name string `json:"name"`
		}
		_ = json.Unmarshal(body, &e) // a body that is not Resend's JSON leaves the name empty
		out.name = e.Name
		resp.Body = io.NopCloser(bytes.NewReader(body))
	}
	return resp, nil
}
