package auth_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/services/auth/auth"
	"github.com/onekey-oss/onekey/services/auth/internal/accounts"
)

func TestMagicLink_LinkPageThenPostSignsInWithHostCookie(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.client()
	c.Must(http.MethodPost, "/api/auth/magic-link", map[string]string{"email": "Ann@Example.com "}, http.StatusAccepted)
	tok := h.linkFor("ann@example.com", 1)
	if len(tok) < 43 {
		t.Fatalf("token %q is shorter than 256 bits in base64url", tok)
	}

	// A link scanner's GETs show the page and spend nothing.
	for range 3 {
		r := c.Must(http.MethodGet, "/api/auth/magic-link/verify?token="+tok, nil, http.StatusOK)
		if !strings.Contains(string(r.Body), `method="post"`) || len(r.Cookies) != 0 {
			t.Fatalf("GET gave no form or set a cookie: %s", r.Body)
		}
		if p := r.Header.Get("Referrer-Policy"); p != "same-origin" && p != "no-referrer" && p != "strict-origin" {
			t.Errorf("link page Referrer-Policy = %q", r.Header.Get("Referrer-Policy"))
		}
	}

	r := c.Must(http.MethodPost, "/api/auth/magic-link/verify", url.Values{"token": {tok}}, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc != h.srv.URL+"/" {
		t.Errorf("redirect to %q, want the app", loc)
	}
	var sess *http.Cookie
	for _, ck := range r.Cookies {
		if ck.Name == "__Host-onekey_session" {
			sess = ck
		}
	}
	if sess == nil {
		t.Fatalf("no __Host-onekey_session cookie in %v", r.Header["Set-Cookie"])
	}
	if !sess.Secure || !sess.HttpOnly || sess.SameSite != http.SameSiteLaxMode || sess.Path != "/" || sess.Domain != "" {
		t.Errorf("cookie flags: %s", sess.String())
	}
	if sess.MaxAge != int((7 * 24 * time.Hour).Seconds()) {
		t.Errorf("cookie Max-Age = %d, want 7 days", sess.MaxAge)
	}

	var m me
	c.Must(http.MethodGet, "/api/me", nil, http.StatusOK).JSON(t, &m)
	if m.Email != "ann@example.com" || !strings.HasPrefix(m.AccountID, "acc_") || m.CSRFToken == "" {
		t.Fatalf("me = %+v", m)
	}

	// The new user has a default project and the ledger was told.
	var ps struct {
		Projects []struct{ ID, Name string } `json:"projects"`
	}
	c.Must(http.MethodGet, "/api/projects", nil, http.StatusOK).JSON(t, &ps)
	if len(ps.Projects) != 1 || ps.Projects[0].ID != m.DefaultProjectID {
		t.Fatalf("projects = %+v, want the default project %s", ps.Projects, m.DefaultProjectID)
	}
	msg, err := h.bus.JetStream().Stream(context.Background(), events.StreamAccounts)
	if err != nil {
		t.Fatal(err)
	}
	last, err := msg.GetLastMsgForSubject(context.Background(), events.FamilyAccountCreated+"."+m.AccountID)
	if err != nil {
		t.Fatalf("no account.created for %s: %v", m.AccountID, err)
	}
	if got := last.Header.Get("Nats-Msg-Id"); got != "account.created:"+m.AccountID {
		t.Errorf("account.created Nats-Msg-Id = %q", got)
	}

	// The link is spent.
	c2 := h.client()
	c2.Must(http.MethodPost, "/api/auth/magic-link/verify", url.Values{"token": {tok}}, http.StatusBadRequest)
}

func TestMagicLink_SecondSignInKeepsAccountWithNewSession(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c1, m1 := h.signIn("bo@example.com")
	c2, m2 := h.signIn("bo@example.com")
	if m1.AccountID != m2.AccountID {
		t.Fatalf("two accounts for one address: %s, %s", m1.AccountID, m2.AccountID)
	}
	if c1.Cookies["__Host-onekey_session"] == c2.Cookies["__Host-onekey_session"] {
		t.Fatal("second sign-in reused the session token")
	}
	c1.Must(http.MethodGet, "/api/me", nil, http.StatusOK)
	c2.Must(http.MethodGet, "/api/me", nil, http.StatusOK)
	if n := h.count(accounts.CollProjects, bson.D{}); n != 1 {
		t.Errorf("%d projects, want the one default project", n)
	}
}

func TestMagicLink_DatabaseHoldsOnlyHashesOfTokens(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.client()
	c.Must(http.MethodPost, "/api/auth/magic-link", map[string]string{"email": "cy@example.com"}, http.StatusAccepted)
	used := h.linkFor("cy@example.com", 1)
	c.Must(http.MethodPost, "/api/auth/magic-link", map[string]string{"email": "cy@example.com"}, http.StatusAccepted)
	pending := h.linkFor("cy@example.com", 2)
	c.Must(http.MethodPost, "/api/auth/magic-link/verify", map[string]string{"token": used}, http.StatusOK)
	var m me
	c.Must(http.MethodGet, "/api/me", nil, http.StatusOK).JSON(t, &m)
	c.CSRF = m.CSRFToken
	var k struct {
		Key string `json:"key"`
	}
	c.Must(http.MethodPost, "/api/projects/"+m.DefaultProjectID+"/keys", map[string]any{"name": "ci"}, http.StatusCreated).JSON(t, &k)
	session := c.Cookies["__Host-onekey_session"]

	dump := h.dump()
	for name, secret := range map[string]string{"used link": used, "pending link": pending, "session": session, "api key": k.Key, "csrf": m.CSRFToken} {
		if secret == "" {
			t.Fatalf("%s: empty", name)
		}
		if strings.Contains(dump, secret) {
			t.Errorf("the database holds the %s token in clear", name)
		}
	}
	for name, secret := range map[string]string{"pending link": pending, "session": session} {
		if !strings.Contains(dump, accounts.HashToken(secret)) {
			t.Errorf("the database has no hash of the %s token: is it stored at all?", name)
		}
	}
}

func TestMagicLink_ExpiresAfter15Minutes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.client()
	c.Must(http.MethodPost, "/api/auth/magic-link", map[string]string{"email": "di@example.com"}, http.StatusAccepted)
	early := h.linkFor("di@example.com", 1)
	h.clock.Advance(14*time.Minute + 59*time.Second)
	c.Must(http.MethodPost, "/api/auth/magic-link/verify", map[string]string{"token": early}, http.StatusOK)

	c.Must(http.MethodPost, "/api/auth/magic-link", map[string]string{"email": "di@example.com"}, http.StatusAccepted)
	late := h.linkFor("di@example.com", 2)
	h.clock.Advance(15*time.Minute + time.Second)
	r := h.client().Must(http.MethodPost, "/api/auth/magic-link/verify", map[string]string{"token": late}, http.StatusBadRequest)
	if !strings.Contains(string(r.Body), "link_invalid") {
		t.Errorf("answer %s", r.Body)
	}
	if _, err := h.svc.SweepOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := h.count(accounts.CollMagicLinks, bson.D{}); n != 0 {
		t.Errorf("%d expired links left after a sweep", n)
	}
}

func TestMagicLink_TwentyParallelUsesGiveOneSession(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.client().Must(http.MethodPost, "/api/auth/magic-link", map[string]string{"email": "eve@example.com"}, http.StatusAccepted)
	tok := h.linkFor("eve@example.com", 1)
	var wg sync.WaitGroup
	statuses := make([]int, 20)
	start := make(chan struct{})
	for i := range statuses {
		wg.Go(func() {
			c := h.client()
			<-start
			statuses[i] = c.Do(http.MethodPost, "/api/auth/magic-link/verify", map[string]string{"token": tok}).Status
		})
	}
	close(start)
	wg.Wait()
	ok := 0
	for _, s := range statuses {
		switch s {
		case http.StatusOK:
			ok++
		case http.StatusBadRequest:
		default:
			t.Errorf("unexpected status %d", s)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of 20 parallel uses signed in, want exactly 1 (%v)", ok, statuses)
	}
	if n := h.count(accounts.CollSessions, bson.D{}); n != 1 {
		t.Fatalf("%d sessions, want 1", n)
	}
}

func TestMagicLink_SameAnswerForKnownAndUnknownAddress(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.signIn("known@example.com")
	users := h.count(accounts.CollUsers, bson.D{})
	links := h.count(accounts.CollMagicLinks, bson.D{})
	known := h.client().Must(http.MethodPost, "/api/auth/magic-link", map[string]string{"email": "known@example.com"}, http.StatusAccepted)
	unknown := h.client().Must(http.MethodPost, "/api/auth/magic-link", map[string]string{"email": "nobody@example.com"}, http.StatusAccepted)
	if string(known.Body) != string(unknown.Body) {
		t.Errorf("bodies differ:\n%s\n%s", known.Body, unknown.Body)
	}
	for k := range known.Header {
		if k == "Date" {
			continue
		}
		if known.Header.Get(k) != unknown.Header.Get(k) {
			t.Errorf("header %s differs: %q vs %q", k, known.Header.Get(k), unknown.Header.Get(k))
		}
	}
	if len(known.Header) != len(unknown.Header) {
		t.Errorf("header sets differ: %v vs %v", known.Header, unknown.Header)
	}
	// The same work for both: one stored link each, and no account made
	// for the unknown address until its link is used.
	if n := h.count(accounts.CollMagicLinks, bson.D{}); n != links+2 {
		t.Errorf("%d links stored for two requests", n-links)
	}
	if n := h.count(accounts.CollUsers, bson.D{}); n != users {
		t.Errorf("a request made an account")
	}
	// Both get a mail (the unknown address signs up by using it).
	h.linkFor("known@example.com", 2)
	h.linkFor("nobody@example.com", 1)
}

func TestMagicLink_RateLimitedPerAddressAndPerIP(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *auth.Config, _ *auth.Deps) { c.MagicLinksPerAddress = 3; c.MagicLinksPerIP = 5 })
	c := h.client()
	for range 3 {
		c.Must(http.MethodPost, "/api/auth/magic-link", map[string]string{"email": "fay@example.com"}, http.StatusAccepted)
	}
	r := c.Must(http.MethodPost, "/api/auth/magic-link", map[string]string{"email": "FAY@example.com"}, http.StatusTooManyRequests)
	if r.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	// Another address from the same IP still works, until the IP's limit
	// (the refused request did not count against the IP).
	c.Must(http.MethodPost, "/api/auth/magic-link", map[string]string{"email": "gil@example.com"}, http.StatusAccepted)
	c.Must(http.MethodPost, "/api/auth/magic-link", map[string]string{"email": "hal@example.com"}, http.StatusAccepted)
	c.Must(http.MethodPost, "/api/auth/magic-link", map[string]string{"email": "ida@example.com"}, http.StatusTooManyRequests)
	// The window passes.
	h.clock.Advance(15*time.Minute + time.Second)
	c.Must(http.MethodPost, "/api/auth/magic-link", map[string]string{"email": "fay@example.com"}, http.StatusAccepted)
}

func TestMagicLink_MalformedAddressIsRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, bad := range []string{"", "no-at", "a@b@c", "Ann <a@example.com>", strings.Repeat("a", 250) + "@x.io"} {
		h.client().Must(http.MethodPost, "/api/auth/magic-link", map[string]string{"email": bad}, http.StatusBadRequest)
	}
}

// from makes c's requests come from ip, as an ingress would say in
// X-Forwarded-For (the harness must trust the proxy).
func from(c *client, ip string) *client {
	c.Header.Set("X-Forwarded-For", ip)
	return c
}

func TestMagicLink_AttackerWithinOwnIPLimitCannotLockVictimOut(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *auth.Config, _ *auth.Deps) {
		c.TrustProxy = true
		c.MagicLinksPerAddress, c.MagicLinksPerIP = 3, 5
	})
	const victim = "vera@example.com"
	link := func(c *client, email string) int {
		return c.Do(http.MethodPost, "/api/auth/magic-link", map[string]string{"email": email}).Status
	}
	v := from(h.client(), "198.51.100.20")
	if s := link(v, victim); s != http.StatusAccepted {
		t.Fatalf("the victim's first request: %d", s)
	}
	sent := h.linkFor(victim, 1)

	// The attacker, from one IP, asks for links to the victim's address
	// until refused, then spends the rest of the IP's allowance elsewhere
	// and keeps asking (refused by the IP limit).
	a := from(h.client(), "203.0.113.66")
	accepted := 0
	for range 10 {
		if link(a, victim) == http.StatusAccepted {
			accepted++
		}
	}
	if accepted != 3 {
		t.Errorf("one IP got %d links to one address, want 3", accepted)
	}
	link(a, "other1@example.com")
	link(a, "other2@example.com")
	for range 10 {
		if s := link(a, victim); s != http.StatusTooManyRequests {
			t.Fatalf("the attacker's IP over its limit got %d", s)
		}
	}

	// The victim can still ask for a link from their own IP, and the link
	// already sent still signs in.
	if s := link(v, victim); s != http.StatusAccepted {
		t.Fatalf("the victim was locked out of e-mail sign-in by another IP's requests: %d", s)
	}
	v.Must(http.MethodPost, "/api/auth/magic-link/verify", map[string]string{"token": sent}, http.StatusOK)
}

func TestMagicLink_AddressWideCapStopsMailFlooding(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *auth.Config, _ *auth.Deps) {
		c.TrustProxy = true
		c.MagicLinksPerAddress, c.MagicLinksAddressCap = 3, 4
	})
	sent := 0
	for _, ip := range []string{"203.0.113.1", "203.0.113.2", "203.0.113.3"} {
		c := from(h.client(), ip)
		for range 3 {
			if c.Do(http.MethodPost, "/api/auth/magic-link", map[string]string{"email": "wu@example.com"}).Status == http.StatusAccepted {
				sent++
			}
		}
	}
	if sent != 4 {
		t.Fatalf("%d links mailed to one address from three IPs, want the cap of 4", sent)
	}
}
