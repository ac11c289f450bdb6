// Package authtest is a browser for the tests of auth's account API: in
// auth's own tests and in the end-to-end tests that run it with the other
// services.
package authtest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Browser talks to the account API at URL as a browser does: it keeps
// cookies (by name, whatever their Secure flag, since a test server is
// plain HTTP), sends Origin on unsafe requests and, once CSRF is set, the
// X-CSRF-Token header; Header is sent on every request. It follows no
// redirect, and fails the test it was made for when a request cannot be
// made. Not safe for concurrent use.
type Browser struct {
	t       testing.TB
	URL     string
	Cookies map[string]string
	CSRF    string
	Header  http.Header
}

// New is a browser of t without cookies for the API at url.
func New(t testing.TB, url string) *Browser {
	return &Browser{t: t, URL: url, Cookies: map[string]string{}, Header: http.Header{}}
}

// At is the same browser (its cookies, headers and CSRF token) talking to
// the API at url: another replica behind the same name.
func (b *Browser) At(url string) *Browser {
	c := *b
	c.URL = url
	return &c
}

// T is the test the browser was made for.
func (b *Browser) T() testing.TB { return b.t }

// Response is an answer, read to its end.
type Response struct {
	Status  int
	Header  http.Header
	Body    []byte
	Cookies []*http.Cookie // set by this answer
}

// CookieNamed is the cookie the answer sets by that name (not one it
// deletes).
func (r Response) CookieNamed(name string) (*http.Cookie, bool) {
	for _, c := range r.Cookies {
		if c.Name == name && c.MaxAge >= 0 && c.Value != "" {
			return c, true
		}
	}
	return nil, false
}

// JSON decodes the body into v, failing the test when it cannot.
func (r Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// Do sends method path with body: none when nil, a form when url.Values,
// JSON otherwise; it keeps the cookies the answer sets and forgets those it
// deletes.
func (b *Browser) Do(method, path string, body any) Response {
	t := b.t
	t.Helper()
	var rd io.Reader
	ctype := ""
	switch v := body.(type) {
	case nil:
	case url.Values:
		rd, ctype = strings.NewReader(v.Encode()), "application/x-www-form-urlencoded"
	default:
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		rd, ctype = bytes.NewReader(raw), "application/json"
	}
	req, err := http.NewRequest(method, b.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if method != http.MethodGet && method != http.MethodHead {
		req.Header.Set("Origin", b.URL)
		if b.CSRF != "" {
			req.Header.Set("X-CSRF-Token", b.CSRF)
		}
	}
	for k, v := range b.Header {
		req.Header[k] = v
	}
	for k, v := range b.Cookies {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, ck := range resp.Cookies() {
		if ck.MaxAge < 0 || ck.Value == "" {
			delete(b.Cookies, ck.Name)
		} else {
			b.Cookies[ck.Name] = ck.Value
		}
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: raw, Cookies: resp.Cookies()}
}

// Must is Do, failing the test unless the answer's status is want.
func (b *Browser) Must(method, path string, body any, want int) Response {
	b.t.Helper()
	r := b.Do(method, path, body)
	if r.Status != want {
		b.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.Status, want, r.Body)
	}
	return r
}
