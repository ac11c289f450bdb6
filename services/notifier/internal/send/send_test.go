package send_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	netmail "net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/services/notifier/internal/mail"
	"github.com/onekey-oss/onekey/services/notifier/internal/send"
	"github.com/onekey-oss/onekey/services/notifier/resendtest"
)

func message(id string) mail.Message {
	return mail.Message{
		ID: id, Time: time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC), Kind: mail.KindReceipt, AccountID: "acc_1",
		To: "ada@example.com", Subject: "Receipt: $10.00 — thank you", Text: "Hello,\nthanks.\n", HTML: "<p>Hello, thanks.</p>",
	}
}

func newResend(t *testing.T, rs *resendtest.Server, key string) *send.Resend {
	t.Helper()
	// The base URL without its trailing slash, as an operator might write
	// it: the sender must add it.
	s, err := send.NewResend(send.ResendConfig{
		APIKey: key, BaseURL: strings.TrimSuffix(rs.URL(), "/"), From: "onekey <noreply@onekey.example>",
		Attempts: 3, Backoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestResend_SendsTheMailWithTheEventIDAsIdempotencyKey(t *testing.T) {
	t.Parallel()
	rs := resendtest.Start(t)
	s := newResend(t, rs, resendtest.APIKey)
	id, err := s.Send(context.Background(), message("applied:evt_1"))
	if err != nil {
		t.Fatal(err)
	}
	got := rs.Mails()
	if len(got) != 1 || got[0].ID != id {
		t.Fatalf("mails %+v, id %q", got, id)
	}
	m := got[0]
	if m.IdempotencyKey != "applied:evt_1" || m.From != "onekey <noreply@onekey.example>" || len(m.To) != 1 || m.To[0] != "ada@example.com" ||
		m.Subject != "Receipt: $10.00 — thank you" || m.Text != "Hello,\nthanks.\n" || m.HTML != "<p>Hello, thanks.</p>" || m.Tag("kind") != "receipt" ||
		m.Headers["X-Entity-Ref-ID"] != "applied:evt_1" {
		t.Errorf("Resend got %+v", m)
	}
	// The same mail again (a redelivery): Resend answers the first send.
	again, err := s.Send(context.Background(), message("applied:evt_1"))
	if err != nil || again != id || len(rs.Mails()) != 1 {
		t.Errorf("second send: id %q err %v, %d mails", again, err, len(rs.Mails()))
	}
}

func TestResend_ServerErrorsAndRateLimitsAreRetriedWithBackoff(t *testing.T) {
	t.Parallel()
	for _, status := range []int{500, 502, 503, 429} {
		rs := resendtest.Start(t)
		s := newResend(t, rs, resendtest.APIKey)
		rs.FailNext(2, status)
		if _, err := s.Send(context.Background(), message("e1")); err != nil {
			t.Fatalf("status %d: %v", status, err)
		}
		if rs.Requests() != 3 || len(rs.Mails()) != 1 {
			t.Errorf("status %d: %d requests and %d mails, want 3 and 1", status, rs.Requests(), len(rs.Mails()))
		}
	}
}

func TestResend_LostResponseIsRetriedWithoutASecondMail(t *testing.T) {
	t.Parallel()
	rs := resendtest.Start(t)
	s := newResend(t, rs, resendtest.APIKey)
	rs.LoseNextResponses(1)
	id, err := s.Send(context.Background(), message("e1"))
	if err != nil {
		t.Fatal(err)
	}
	if rs.Requests() != 2 || len(rs.Mails()) != 1 || rs.Mails()[0].ID != id {
		t.Errorf("%d requests, mails %+v, id %q: want 2 requests and the one mail", rs.Requests(), rs.Mails(), id)
	}
}

func TestResend_PersistentServerErrorIsRetryableAfterTheAttempts(t *testing.T) {
	t.Parallel()
	rs := resendtest.Start(t)
	s := newResend(t, rs, resendtest.APIKey)
	rs.FailNext(10, 503)
	_, err := s.Send(context.Background(), message("e1"))
	var se *send.Error
	if !errors.As(err, &se) || se.Permanent() || se.Status != 503 || se.Attempts != 3 {
		t.Fatalf("err %v (%+v), want a retryable 503 after 3 attempts", err, se)
	}
	if rs.Requests() != 3 {
		t.Errorf("%d requests, want 3", rs.Requests())
	}
}

func TestResend_InvalidMailIsPermanentAndNotRetried(t *testing.T) {
	t.Parallel()
	rs := resendtest.Start(t)
	s := newResend(t, rs, resendtest.APIKey)
	rs.FailNext(1, 422)
	_, err := s.Send(context.Background(), message("e1"))
	var se *send.Error
	if !errors.As(err, &se) || !se.Permanent() || se.Status != 422 {
		t.Fatalf("err %v, want a permanent 422", err)
	}
	if strings.Contains(err.Error(), "ada@example.com") {
		t.Errorf("the error repeats the address: %v", err)
	}
	// The same key with another payload is refused for good.
	if _, err := s.Send(context.Background(), message("e2")); err != nil {
		t.Fatal(err)
	}
	other := message("e2")
	other.Subject = "something else"
	if _, err := s.Send(context.Background(), other); !errors.As(err, &se) || !se.Permanent() || !se.KeyUsed || se.Name != "invalid_idempotent_request" {
		t.Fatalf("err %v, want a permanent invalid_idempotent_request that says the key was used", err)
	}
}

func TestResend_RefusedAPIKeyIsRetryableLaterNotNow(t *testing.T) {
	t.Parallel()
	rs := resendtest.Start(t)
	s := newResend(t, rs, "re_wrong")
	_, err := s.Send(context.Background(), message("e1"))
	var se *send.Error
	if !errors.As(err, &se) || se.Permanent() || se.Status != 403 {
		t.Fatalf("err %v, want a retryable 403", err)
	}
	if rs.Requests() != 1 {
		t.Errorf("%d requests, want 1 (no point retrying a refused key at once)", rs.Requests())
	}
}

func TestResend_NoAnswerIsRetryable(t *testing.T) {
	t.Parallel()
	s, err := send.NewResend(send.ResendConfig{APIKey: "k", BaseURL: "http://127.0.0.1:1/", From: "a@example.com", Attempts: 2, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Send(context.Background(), message("e1"))
	var se *send.Error
	if !errors.As(err, &se) || se.Permanent() || se.Status != 0 || se.Attempts != 2 {
		t.Fatalf("err %v, want a retryable error without status after 2 attempts", err)
	}
}

func TestResend_LongEventIDsAreHashedToAValidKey(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 300)
	k := send.IdempotencyKey(long)
	if len(k) > 256 || k == send.IdempotencyKey(long+"y") {
		t.Fatalf("key %q", k)
	}
	if send.IdempotencyKey("applied:evt_1") != "applied:evt_1" {
		t.Fatal("a short id must be the key itself")
	}
}

func TestOutbox_WritesOneReadableFilePerMailAndPrintsTheSignInLink(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var console bytes.Buffer
	var mu sync.Mutex
	o, err := send.NewOutbox(dir, "", writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return console.Write(p) }))
	if err != nil {
		t.Fatal(err)
	}
	m := message("mail_1")
	m.Kind, m.Link = mail.KindMagicLink, "http://127.0.0.1:8081/auth/magic?token=t0k"
	m.Text = "Open this link to sign in:\n\n" + m.Link + "\n"
	for range 3 { // a redelivered event leaves one file
		if _, err := o.Send(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := o.Send(context.Background(), message("applied:../../etc/passwd")); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) != 2 {
		t.Fatalf("outbox holds %v, want 2 files", files)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "mail_1.eml"))
	if err != nil {
		t.Fatal(err)
	}
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	dec := new(mime.WordDecoder)
	subj, _ := dec.DecodeHeader(msg.Header.Get("Subject"))
	if msg.Header.Get("To") != "ada@example.com" || subj != m.Subject {
		t.Errorf("headers %v", msg.Header)
	}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var parts []string
	for {
		p, err := mr.NextPart() // decodes quoted-printable
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		parts = append(parts, p.Header.Get("Content-Type")+"|"+string(b))
	}
	if len(parts) != 2 || !strings.Contains(parts[0], m.Link) || !strings.HasPrefix(parts[1], "text/html") {
		t.Errorf("parts %q", parts)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(console.String(), "sign-in link: "+m.Link) {
		t.Errorf("console: %q", console.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestResend_BaseURLWithAPathKeepsItWithOrWithoutTheTrailingSlash(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"re_1"}`)
	}))
	t.Cleanup(srv.Close)
	for _, base := range []string{srv.URL + "/proxy/resend", srv.URL + "/proxy/resend/"} {
		s, err := send.NewResend(send.ResendConfig{APIKey: "k", BaseURL: base, From: "a@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Send(context.Background(), message("e1")); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(paths) != 2 || paths[0] != "/proxy/resend/emails" || paths[1] != "/proxy/resend/emails" {
		t.Errorf("paths %q, want /proxy/resend/emails twice", paths)
	}
}
