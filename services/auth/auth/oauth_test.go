package auth_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/onekey-oss/onekey/services/auth/auth"
	"github.com/onekey-oss/onekey/services/auth/internal/accounts"
)

type oauthHarness struct {
	*harness
	google *mockoidc.MockOIDC
	github *fakeGitHub
}

func newOAuthHarness(t *testing.T) *oauthHarness {
	t.Helper()
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	gh := startFakeGitHub(t)
	h := newHarness(t, func(c *auth.Config, _ *auth.Deps) {
		c.Google = auth.GoogleConfig{ClientID: m.ClientID, ClientSecret: m.ClientSecret, Issuer: m.Issuer()}
		c.GitHub = auth.GitHubConfig{
			ClientID: gh.clientID, ClientSecret: gh.clientSecret,
			AuthURL: gh.srv.URL + "/login/oauth/authorize", TokenURL: gh.srv.URL + "/login/oauth/access_token", APIURL: gh.srv.URL,
		}
	})
	return &oauthHarness{harness: h, google: m, github: gh}
}

// start begins a sign-in with provider and returns the provider's redirect
// back to us (path and query), having "signed in" at the provider.
func (h *oauthHarness) start(c *client, provider string) string {
	h.t.Helper()
	r := c.Must(http.MethodGet, "/api/auth/"+provider+"/start", nil, http.StatusFound)
	loc := r.Header.Get("Location")
	if !strings.Contains(loc, "code_challenge_method=S256") || !strings.Contains(loc, "state=") {
		h.t.Fatalf("authorize URL without PKCE or state: %s", loc)
	}
	if provider == "google" && !strings.Contains(loc, "nonce=") {
		h.t.Fatalf("OIDC authorize URL without nonce: %s", loc)
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get(loc)
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		h.t.Fatalf("provider answered %d", resp.StatusCode)
	}
	back, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		h.t.Fatal(err)
	}
	if !strings.HasPrefix(back.String(), h.srv.URL+"/api/auth/"+provider+"/callback") {
		h.t.Fatalf("provider redirected to %s", back)
	}
	return back.RequestURI()
}

func TestOAuth_GoogleSignInLinksOnVerifiedEmail(t *testing.T) {
	t.Parallel()
	h := newOAuthHarness(t)
	_, byLink := h.signIn("gwen@example.com")

	h.google.QueueUser(&mockoidc.MockUser{Subject: "google-gwen", Email: "Gwen@example.com", EmailVerified: true})
	c := h.client()
	r := c.Must(http.MethodGet, h.start(c, "google"), nil, http.StatusSeeOther)
	if r.Header.Get("Location") != h.srv.URL+"/" {
		t.Errorf("after sign-in, redirect to %s", r.Header.Get("Location"))
	}
	var m me
	c.Must(http.MethodGet, "/api/me", nil, http.StatusOK).JSON(t, &m)
	if m.AccountID != byLink.AccountID || m.Email != "gwen@example.com" {
		t.Fatalf("google sign-in gave %+v, want the account %s", m, byLink.AccountID)
	}
	// Next time the identity is known.
	h.google.QueueUser(&mockoidc.MockUser{Subject: "google-gwen", Email: "gwen@example.com", EmailVerified: true})
	c2 := h.client()
	c2.Must(http.MethodGet, h.start(c2, "google"), nil, http.StatusSeeOther)
	c2.Must(http.MethodGet, "/api/me", nil, http.StatusOK).JSON(t, &m)
	if m.AccountID != byLink.AccountID {
		t.Fatalf("second google sign-in: %s", m.AccountID)
	}
	if n := h.count(accounts.CollIdentities, bson.D{}); n != 1 {
		t.Errorf("%d identities", n)
	}
}

func TestOAuth_GitHubSignInCreatesAccountFromPrimaryVerifiedEmail(t *testing.T) {
	t.Parallel()
	h := newOAuthHarness(t)
	h.github.signInAs(ghUser{ID: 4242, Login: "hopper", Name: "Grace Hopper", Emails: []ghEmail{
		{Email: "old@example.com", Verified: false},
		{Email: "grace@example.com", Primary: true, Verified: true},
	}})
	c := h.client()
	c.Must(http.MethodGet, h.start(c, "github"), nil, http.StatusSeeOther)
	var m me
	c.Must(http.MethodGet, "/api/me", nil, http.StatusOK).JSON(t, &m)
	if m.Email != "grace@example.com" || m.Name != "Grace Hopper" || m.DefaultProjectID == "" {
		t.Fatalf("me = %+v", m)
	}
}

func TestOAuth_Refusals(t *testing.T) {
	t.Parallel()
	h := newOAuthHarness(t)
	refused := func(t *testing.T, r response) {
		t.Helper()
		if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "sign_in_refused") {
			t.Fatalf("want a refusal, got %d %s", r.Status, r.Body)
		}
		if _, ok := r.CookieNamed("__Host-onekey_session"); ok {
			t.Fatal("a refused sign-in set a session cookie")
		}
	}

	t.Run("google unverified email", func(t *testing.T) {
		h.google.QueueUser(&mockoidc.MockUser{Subject: "g-unverified", Email: "mallory@example.com", EmailVerified: false})
		c := h.client()
		refused(t, c.Do(http.MethodGet, h.start(c, "google"), nil))
	})
	t.Run("github without a verified email", func(t *testing.T) {
		h.github.signInAs(ghUser{ID: 7, Login: "m", Emails: []ghEmail{{Email: "mallory@example.com", Primary: true}}})
		c := h.client()
		refused(t, c.Do(http.MethodGet, h.start(c, "github"), nil))
	})
	t.Run("github's answer on google's callback", func(t *testing.T) {
		h.github.signInAs(ghUser{ID: 8, Login: "x", Emails: []ghEmail{{Email: "x@example.com", Primary: true, Verified: true}}})
		c := h.client()
		back := h.start(c, "github")
		refused(t, c.Do(http.MethodGet, strings.Replace(back, "/github/", "/google/", 1), nil))
	})
	t.Run("google's answer on github's callback", func(t *testing.T) {
		h.google.QueueUser(&mockoidc.MockUser{Subject: "g-x", Email: "y@example.com", EmailVerified: true})
		c := h.client()
		back := h.start(c, "google")
		refused(t, c.Do(http.MethodGet, strings.Replace(back, "/google/", "/github/", 1), nil))
	})
	t.Run("state not bound to this browser", func(t *testing.T) {
		h.google.QueueUser(&mockoidc.MockUser{Subject: "g-y", Email: "z@example.com", EmailVerified: true})
		victim := h.client()
		back := h.start(h.client(), "google") // the attacker's own sign-in
		refused(t, victim.Do(http.MethodGet, back, nil))
	})
	t.Run("replayed callback", func(t *testing.T) {
		h.google.QueueUser(&mockoidc.MockUser{Subject: "g-z", Email: "r@example.com", EmailVerified: true})
		c := h.client()
		back := h.start(c, "google")
		state := c.Cookies["__Host-onekey_oauth"]
		c.Must(http.MethodGet, back, nil, http.StatusSeeOther)
		c.Cookies["__Host-onekey_oauth"] = state
		refused(t, c.Do(http.MethodGet, back, nil))
	})
	t.Run("provider error", func(t *testing.T) {
		c := h.client()
		c.Must(http.MethodGet, "/api/auth/github/start", nil, http.StatusFound)
		refused(t, c.Do(http.MethodGet, "/api/auth/github/callback?error=access_denied&state="+url.QueryEscape(c.Cookies["__Host-onekey_oauth"]), nil))
	})
	t.Run("PKCE verifier is checked by the provider", func(t *testing.T) {
		h.github.signInAs(ghUser{ID: 9, Login: "p", Emails: []ghEmail{{Email: "p@example.com", Primary: true, Verified: true}}})
		c := h.client()
		back := h.start(c, "github")
		h.tamperOAuthState(c.Cookies["__Host-onekey_oauth"], "verifier", "a-different-verifier-of-enough-length-0123456789")
		refused(t, c.Do(http.MethodGet, back, nil))
	})
	t.Run("OIDC nonce is checked", func(t *testing.T) {
		h.google.QueueUser(&mockoidc.MockUser{Subject: "g-n", Email: "n@example.com", EmailVerified: true})
		c := h.client()
		back := h.start(c, "google")
		h.tamperOAuthState(c.Cookies["__Host-onekey_oauth"], "nonce", "another-nonce")
		refused(t, c.Do(http.MethodGet, back, nil))
	})
	t.Run("state older than 10 minutes", func(t *testing.T) {
		h.google.QueueUser(&mockoidc.MockUser{Subject: "g-late", Email: "late@example.com", EmailVerified: true})
		c := h.client()
		back := h.start(c, "google")
		h.clock.Advance(10*time.Minute + time.Second)
		refused(t, c.Do(http.MethodGet, back, nil))
	})
	t.Run("unknown provider", func(t *testing.T) {
		h.client().Must(http.MethodGet, "/api/auth/facebook/start", nil, http.StatusNotFound)
	})

	var users []accounts.User
	cur, err := h.store.Collection(accounts.CollUsers).Find(context.Background(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cur.All(context.Background(), &users); err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if u.Email == "mallory@example.com" {
			t.Errorf("an unverified address got an account")
		}
	}
}

func (h *oauthHarness) tamperOAuthState(state, field, value string) {
	h.t.Helper()
	_, err := h.store.Collection(accounts.CollOAuthStates).UpdateOne(context.Background(),
		bson.D{{Key: "_id", Value: accounts.HashToken(state)}}, bson.D{{Key: "$set", Value: bson.D{{Key: field, Value: value}}}})
	if err != nil {
		h.t.Fatal(err)
	}
}
