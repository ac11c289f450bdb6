package auth_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
)

// fakeGitHub speaks the parts of GitHub's OAuth app flow and REST API that
// sign-in uses, from GitHub's documentation: the authorize redirect, the
// token exchange (PKCE S256 checked; errors as 200 with an "error" field, as
// GitHub does), GET /user and GET /user/emails.
type fakeGitHub struct {
	srv          *httptest.Server
	clientID     string
	clientSecret string

	mu    sync.Mutex
	next  ghUser
	codes map[string]ghGrant
	toks  map[string]ghUser
	n     int
}

type ghUser struct {
	ID     int64     `json:"id"`
	Login  string    `json:"login"`
	Name   string    `json:"name"`
	Emails []ghEmail `json:"-"`
}

type ghEmail struct {
	Email    string `json:"email"`
	Primary  bool   `json:"primary"`
	Verified bool   `json:"verified"`
}

type ghGrant struct {
	user      ghUser
	challenge string
	redirect  string
}

func startFakeGitHub(t *testing.T) *fakeGitHub {
	t.Helper()
	g := &fakeGitHub{clientID: "gh-client", clientSecret: "gh-secret", codes: map[string]ghGrant{}, toks: map[string]ghUser{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login/oauth/authorize", g.authorize)
	mux.HandleFunc("POST /login/oauth/access_token", g.token)
	mux.HandleFunc("GET /user", g.user)
	mux.HandleFunc("GET /user/emails", g.emails)
	g.srv = httptest.NewServer(mux)
	t.Cleanup(g.srv.Close)
	return g
}

// signInAs sets who the next authorization signs in.
func (g *fakeGitHub) signInAs(u ghUser) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.next = u
}

func (g *fakeGitHub) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != g.clientID || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("state") == "" {
		http.Error(w, "bad authorize request", http.StatusBadRequest)
		return
	}
	g.mu.Lock()
	g.n++
	code := "code" + string(rune('a'+g.n))
	g.codes[code] = ghGrant{user: g.next, challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri")}
	g.mu.Unlock()
	u, _ := url.Parse(q.Get("redirect_uri"))
	v := u.Query()
	v.Set("code", code)
	v.Set("state", q.Get("state"))
	u.RawQuery = v.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

func (g *fakeGitHub) token(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	w.Header().Set("Content-Type", "application/json")
	fail := func(code string) {
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": code})
	}
	if r.PostForm.Get("client_id") != g.clientID || r.PostForm.Get("client_secret") != g.clientSecret {
		fail("incorrect_client_credentials")
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	grant, ok := g.codes[r.PostForm.Get("code")]
	delete(g.codes, r.PostForm.Get("code"))
	if !ok {
		fail("bad_verification_code")
		return
	}
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	if base64.RawURLEncoding.EncodeToString(sum[:]) != grant.challenge {
		fail("bad_verification_code")
		return
	}
	tok := "gho_" + r.PostForm.Get("code")
	g.toks[tok] = grant.user
	_ = json.NewEncoder(w).Encode(map[string]string{"access_token": tok, "token_type": "bearer", "scope": "read:user,user:email"})
}

func (g *fakeGitHub) bearer(w http.ResponseWriter, r *http.Request) (ghUser, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	const p = "Bearer "
	a := r.Header.Get("Authorization")
	if len(a) <= len(p) {
		http.Error(w, `{"message":"Requires authentication"}`, http.StatusUnauthorized)
		return ghUser{}, false
	}
	u, ok := g.toks[a[len(p):]]
	if !ok {
		http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
	}
	return u, ok
}

func (g *fakeGitHub) user(w http.ResponseWriter, r *http.Request) {
	if u, ok := g.bearer(w, r); ok {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(u)
	}
}

func (g *fakeGitHub) emails(w http.ResponseWriter, r *http.Request) {
	if u, ok := g.bearer(w, r); ok {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(u.Emails)
	}
}
