// Package resendtest is a local fake of Resend's send-email API
// (POST /emails), built from Resend's documented wire format, for tests of
// anything that sends mail through the notifier (auth's end-to-end sign-in
// test, payments' receipts).
//
// It checks the bearer key, records every request, and implements Resend's
// idempotency keys: the same key with the same payload within the window
// answers the first send's result without a second mail; the same key with a
// different payload is refused with 409 invalid_idempotent_request. Faults
// can be injected: error statuses, and responses lost after the mail was
// accepted (the case an idempotency key exists for).
//
//	rs := resendtest.Start(t)
//	cfg.ResendBaseURL, cfg.ResendAPIKey = rs.URL(), resendtest.APIKey
//	...
//	m := rs.WaitForMail(t, func(m resendtest.Mail) bool { return m.To[0] == "ada@example.com" })
package resendtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

// APIKey is the key the fake accepts.
const APIKey = "re_test_onekey"

// Mail is one mail the fake accepted (sent, for Resend).
type Mail struct {
	ID             string            `json:"-"`
	IdempotencyKey string            `json:"-"`
	From           string            `json:"from"`
	To             []string          `json:"to"`
	Subject        string            `json:"subject"`
	HTML           string            `json:"html"`
	Text           string            `json:"text"`
	ReplyTo        json.RawMessage   `json:"reply_to,omitempty"` // a string or a list of strings
	Headers        map[string]string `json:"headers,omitempty"`
	Tags           []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"tags,omitempty"`
}

// Tag returns the value of the named tag ("" if none).
func (m Mail) Tag(name string) string {
	for _, t := range m.Tags {
		if t.Name == name {
			return t.Value
		}
	}
	return ""
}

// Server is the fake. It is safe for concurrent use.
type Server struct {
	srv *httptest.Server

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced at every change
	mails    []Mail
	requests int
	keys     map[string]keyed
	faults   []fault
}

type keyed struct {
	payload [32]byte
	id      string
}

type fault struct {
	status     int    // an error status to answer, or 0
	lose       bool   // accept the mail, then cut the connection without answering
	name       string // Resend's error name
	retryAfter int    // seconds, for 429
}

// Start runs the fake on a random local port until the test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{changed: make(chan struct{}), keys: map[string]keyed{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	tb.Cleanup(s.srv.Close)
	return s
}

// URL is the base URL to configure, with the trailing slash resend-go
// needs.
func (s *Server) URL() string { return s.srv.URL + "/" }

// FailNext makes the next n requests fail with status (429 gets a
// Retry-After of 0 seconds), before any mail is accepted.
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := map[int]string{429: "rate_limit_exceeded", 422: "validation_error", 400: "validation_error", 401: "missing_api_key", 403: "invalid_api_key"}[status]
	if name == "" {
		name = "internal_server_error"
	}
	for range n {
		s.faults = append(s.faults, fault{status: status, name: name})
	}
}

// LoseNextResponses makes the next n requests accept their mail (as
// Resend would, idempotency key and all) and then cut the connection, so
// the client never learns the mail went out.
func (s *Server) LoseNextResponses(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults = append(s.faults, fault{lose: true})
	}
}

// Mails returns the mails accepted so far (a repeat under the same
// idempotency key is not a new mail).
func (s *Server) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...)
}

// Requests is how many requests reached the fake, faults and repeats
// included.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// WaitForMail waits (up to 60 s, polling on every change) for an accepted
// mail that match reports true for, and returns the first.
func (s *Server) WaitForMail(tb testing.TB, match func(Mail) bool) Mail {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		s.mu.Lock()
		for _, m := range s.mails {
			if match(m) {
				s.mu.Unlock()
				return m
			}
		}
		ch := s.changed
		n := len(s.mails)
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			tb.Fatalf("resendtest: no matching mail within 60s (%d mails accepted)", n)
		}
	}
}

// WaitForRequests waits (up to 60 s) until at least n requests arrived.
func (s *Server) WaitForRequests(tb testing.TB, n int) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		s.mu.Lock()
		got, ch := s.requests, s.changed
		s.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			tb.Fatalf("resendtest: %d requests within 60s, want %d", got, n)
		}
	}
}

// notify must be called with mu held.
func (s *Server) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func writeErr(w http.ResponseWriter, status int, name, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"statusCode": status, "name": name, "message": msg})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 40<<20))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	defer s.notify()
	if err != nil {
		writeErr(w, http.StatusBadRequest, "validation_error", "unreadable body")
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/emails" {
		writeErr(w, http.StatusNotFound, "not_found", "The requested endpoint does not exist.")
		return
	}
	switch r.Header.Get("Authorization") {
	case "":
		writeErr(w, http.StatusUnauthorized, "missing_api_key", "Missing API key in the authorization header.")
		return
	case "Bearer " + APIKey:
	default:
		writeErr(w, http.StatusForbidden, "invalid_api_key", "API key is invalid")
		return
	}
	var f fault
	if len(s.faults) > 0 {
		f, s.faults = s.faults[0], s.faults[1:]
	}
	if f.status != 0 {
		if f.status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", strconv.Itoa(f.retryAfter))
		}
		writeErr(w, f.status, f.name, "injected fault")
		return
	}
	var m Mail
	if err := json.Unmarshal(body, &m); err != nil {
		writeErr(w, http.StatusUnprocessableEntity, "validation_error", "body is not JSON")
		return
	}
	if m.From == "" || len(m.To) == 0 || m.Subject == "" || (m.HTML == "" && m.Text == "") {
		writeErr(w, http.StatusUnprocessableEntity, "validation_error", "from, to, subject and html or text are required")
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if len(key) > 256 {
		writeErr(w, http.StatusBadRequest, "invalid_idempotency_key", "The key must be between 1-256 chars.")
		return
	}
	sum := sha256.Sum256(bytes.TrimSpace(body))
	id := ""
	if prev, ok := s.keys[key]; key != "" && ok {
		if prev.payload != sum {
			writeErr(w, http.StatusConflict, "invalid_idempotent_request", "Same idempotency key used with a different request payload.")
			return
		}
		id = prev.id
	} else {
		id = fmt.Sprintf("re_%06d", len(s.mails)+1)
		m.ID, m.IdempotencyKey = id, key
		s.mails = append(s.mails, m)
		if key != "" {
			s.keys[key] = keyed{payload: sum, id: id}
		}
	}
	if f.lose {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		writeErr(w, http.StatusBadGateway, "internal_server_error", "response lost")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"id": id})
}
