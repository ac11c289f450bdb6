package auth_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/onekey-oss/onekey/services/auth/internal/accounts"
)

func TestSession_ExpiresAfter7DaysAndIsThenPurged(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c, _ := h.signIn("jo@example.com")
	h.clock.Advance(7*24*time.Hour - time.Second)
	c.Must(http.MethodGet, "/api/me", nil, http.StatusOK)
	if _, err := h.svc.SweepOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := h.count(accounts.CollSessions, bson.D{}); n != 1 {
		t.Fatalf("a live session was swept (%d left)", n)
	}
	h.clock.Advance(time.Second)
	c.Must(http.MethodGet, "/api/me", nil, http.StatusUnauthorized)
	h.clock.Advance(time.Second)
	if _, err := h.svc.SweepOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := h.count(accounts.CollSessions, bson.D{}); n != 0 {
		t.Fatalf("%d expired sessions left after a sweep", n)
	}
}

func TestSession_SignOutRevokesTheSessionServerSide(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c, _ := h.signIn("kim@example.com")
	other, _ := h.signIn("kim@example.com")
	stolen := c.Cookies["__Host-onekey_session"]
	r := c.Must(http.MethodPost, "/api/auth/sign-out", nil, http.StatusNoContent)
	cleared := false
	for _, ck := range r.Cookies {
		if ck.Name == "__Host-onekey_session" && ck.MaxAge < 0 {
			cleared = true
		}
	}
	if !cleared {
		t.Error("sign-out did not clear the cookie")
	}
	// Replaying the old cookie fails: the session is gone server-side.
	replay := h.client()
	replay.Cookies["__Host-onekey_session"] = stolen
	replay.Must(http.MethodGet, "/api/me", nil, http.StatusUnauthorized)
	// Only that session ended.
	other.Must(http.MethodGet, "/api/me", nil, http.StatusOK)
}

func TestSession_UnknownOrMissingCookieIsUnauthenticated(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.client()
	for _, path := range []string{"/api/me", "/api/projects", "/api/balance", "/api/usage", "/api/account/export"} {
		c.Must(http.MethodGet, path, nil, http.StatusUnauthorized)
	}
	c.Cookies["__Host-onekey_session"] = accounts.NewToken()
	c.Must(http.MethodGet, "/api/me", nil, http.StatusUnauthorized)
}

func TestCSRF_StateChangingRequestsNeedTokenAndSameOrigin(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c, _ := h.signIn("lu@example.com")
	body := map[string]string{"name": "p"}
	token := c.CSRF

	c.CSRF = ""
	if r := c.Do(http.MethodPost, "/api/projects", body); r.Status != http.StatusForbidden {
		t.Errorf("no CSRF token: %d %s", r.Status, r.Body)
	}
	wrong := "x"
	if token[0] == 'x' { // else the "wrong" token is the right one (1 run in 64)
		wrong = "y"
	}
	c.CSRF = wrong + token[1:]
	if r := c.Do(http.MethodPost, "/api/projects", body); r.Status != http.StatusForbidden {
		t.Errorf("wrong CSRF token: %d", r.Status)
	}
	// Another session's token is no good either.
	other, _ := h.signIn("lu@example.com")
	c.CSRF = other.CSRF
	if r := c.Do(http.MethodPost, "/api/projects", body); r.Status != http.StatusForbidden {
		t.Errorf("another session's CSRF token: %d", r.Status)
	}
	c.CSRF = token
	c.Header.Set("Origin", "https://evil.example")
	if r := c.Do(http.MethodPost, "/api/projects", body); r.Status != http.StatusForbidden {
		t.Errorf("foreign Origin: %d", r.Status)
	}
	c.Header.Del("Origin")
	c.Header.Set("Sec-Fetch-Site", "cross-site")
	if r := c.Do(http.MethodPost, "/api/projects", body); r.Status != http.StatusForbidden {
		t.Errorf("Sec-Fetch-Site cross-site: %d", r.Status)
	}
	c.Header.Set("Origin", "null")
	if r := c.Do(http.MethodPost, "/api/projects", body); r.Status != http.StatusForbidden {
		t.Errorf("Origin null without fetch metadata: %d", r.Status)
	}
	c.Header.Set("Sec-Fetch-Site", "same-origin") // a browser's own form POST under a strict referrer policy
	c.Must(http.MethodPost, "/api/projects", body, http.StatusCreated)
	c.Header.Del("Origin")
	c.Header.Del("Sec-Fetch-Site")
	c.Must(http.MethodPost, "/api/projects", body, http.StatusCreated)
	if n := h.count(accounts.CollProjects, bson.D{}); n != 3 {
		t.Errorf("%d projects: a refused request changed something", n)
	}

	// Login CSRF: another site cannot post a magic link form or request.
	anon := h.client()
	anon.Header.Set("Origin", "https://evil.example")
	anon.Must(http.MethodPost, "/api/auth/magic-link", map[string]string{"email": "lu@example.com"}, http.StatusForbidden)
	anon.Must(http.MethodPost, "/api/auth/magic-link/verify", map[string]string{"token": accounts.NewToken()}, http.StatusForbidden)
	// Sign-out is state-changing too.
	c.CSRF = ""
	c.Must(http.MethodPost, "/api/auth/sign-out", nil, http.StatusForbidden)
}

func TestMe_NameCanBeCorrectedAndRemoved(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c, _ := h.signIn("al@example.com")
	var m me
	c.Must(http.MethodPatch, "/api/me", map[string]string{"name": "  Al Smith "}, http.StatusOK).JSON(t, &m)
	if m.Name != "Al Smith" {
		t.Fatalf("name = %q", m.Name)
	}
	c.Must(http.MethodPatch, "/api/me", map[string]string{"name": ""}, http.StatusOK)
	var after me
	c.Must(http.MethodGet, "/api/me", nil, http.StatusOK).JSON(t, &after)
	if after.Name != "" {
		t.Fatalf("name not removed: %q", m.Name)
	}
	c.Must(http.MethodPatch, "/api/me", map[string]string{"name": strings.Repeat("x", 101)}, http.StatusBadRequest)
	c.CSRF = ""
	c.Must(http.MethodPatch, "/api/me", map[string]string{"name": "x"}, http.StatusForbidden)
}

func TestProviders_ListsOnlyConfiguredSignInMethods(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var p struct{ Providers []string }
	h.client().Must(http.MethodGet, "/api/auth/providers", nil, http.StatusOK).JSON(t, &p)
	if strings.Join(p.Providers, ",") != "email" {
		t.Fatalf("providers = %v", p.Providers)
	}
	o := newOAuthHarness(t)
	o.client().Must(http.MethodGet, "/api/auth/providers", nil, http.StatusOK).JSON(t, &p)
	if strings.Join(p.Providers, ",") != "email,google,github" {
		t.Fatalf("providers = %v", p.Providers)
	}
}
