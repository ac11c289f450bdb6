// Package auth_test checks the account API where it meets the other
// services: the gateway learning and forgetting keys, a sign-in mail through
// the notifier and Resend, wallets and crypto claims answered by payments.
// Each test runs the real services on one embedded bus and database, each
// connected as its own bus user; only the third parties are stand-ins.
package auth_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/e2e/internal/e2estack"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/bus/bustest"
	"github.com/onekey-oss/onekey/pkg/store"
	"github.com/onekey-oss/onekey/pkg/store/storetest"
	"github.com/onekey-oss/onekey/services/auth/auth"
	"github.com/onekey-oss/onekey/services/auth/authtest"
	"github.com/onekey-oss/onekey/services/notifier/notifier"
	"github.com/onekey-oss/onekey/services/notifier/resendtest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// harness is the auth service's account API (served by httptest) and the
// notifier that mails its sign-in links to a local Resend, on one embedded
// bus and database.
type harness struct {
	t      *testing.T
	nats   *bustest.Server
	store  *store.Store
	srv    *httptest.Server
	resend *resendtest.Server
	log    *slog.Logger
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, nats: bustest.Start(t), store: storetest.New(t), resend: resendtest.Start(t),
		log: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))}
	var handler http.Handler
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(h.srv.Close)
	mailKey := events.NewMailSealKey() // auth's and the notifier's MAIL_SEAL_KEY
	svc, err := auth.New(auth.Config{
		Addr: "127.0.0.1:0", PublicURL: h.srv.URL,
		MagicLinksPerAddress: 5, MagicLinksPerIP: 1000, MagicLinkWindow: 15 * time.Minute,
		FreeGrantSecret: "the e2e harness's secret, 32 characters or more", MailSealKey: mailKey,
	}, auth.Deps{Bus: h.nats.ConnectAs(t, bus.UserAuth), Store: h.store, Logger: h.log})
	if err != nil {
		t.Fatal(err)
	}
	handler = svc.Handler()

	n, err := notifier.New(notifier.Config{
		ResendAPIKey: resendtest.APIKey, ResendBaseURL: h.resend.URL(), From: "onekey <login@onekey.test>",
		SiteURL: h.srv.URL, RetryBackoff: 100 * time.Millisecond, MailSealKey: mailKey,
	}, notifier.Deps{Bus: h.nats.ConnectAs(t, bus.UserNotifier), Store: h.store, Logger: h.log})
	if err != nil {
		t.Fatal(err)
	}
	e2estack.Run(t, "notifier", n.Run)
	return h
}

var linkRE = regexp.MustCompile(`https?://[^\s"'<>]+/api/auth/magic-link/verify\?token=[A-Za-z0-9_-]+`)

// signInLinks are the links of the sign-in mails to addr that Resend has
// accepted, oldest first.
func (h *harness) signInLinks(addr string) []string {
	var links []string
	for _, m := range h.resend.Mails() {
		if len(m.To) == 1 && m.To[0] == addr {
			if link := linkRE.FindString(m.Text); link != "" {
				links = append(links, link)
			}
		}
	}
	return links
}

// linkFor waits for the n-th (1-based) sign-in mail to addr to reach
// Resend and returns the link in its text.
func (h *harness) linkFor(addr string, n int) string {
	h.t.Helper()
	var links []string
	e2estack.WaitWithin(h.t, 60*time.Second, "sign-in mail to "+addr, func() bool {
		links = h.signInLinks(addr)
		return len(links) >= n
	})
	return links[n-1]
}

// client is a browser of the harness's test.
type client = authtest.Browser

func (h *harness) client() *client {
	return authtest.New(h.t, h.srv.URL)
}

type response = authtest.Response

type me struct {
	AccountID        string `json:"account_id"`
	Email            string `json:"email"`
	DefaultProjectID string `json:"default_project_id"`
	CSRFToken        string `json:"csrf_token"`
}

type keyOut struct {
	Key    string `json:"key"`
	ID     string `json:"id"`
	Prefix string `json:"prefix"`
	Status string `json:"status"`
	RPM    int    `json:"rpm"`
}

// signIn signs a new browser in with the link of the sign-in mail the
// notifier sent, and returns it with /api/me.
func (h *harness) signIn(email string) (*client, me) {
	h.t.Helper()
	c := h.client()
	n := len(h.signInLinks(email))
	c.Must(http.MethodPost, "/api/auth/magic-link", map[string]string{"email": email}, http.StatusAccepted)
	u, err := url.Parse(h.linkFor(email, n+1))
	if err != nil {
		h.t.Fatal(err)
	}
	c.Must(http.MethodPost, "/api/auth/magic-link/verify", map[string]string{"token": u.Query().Get("token")}, http.StatusOK)
	var m me
	c.Must(http.MethodGet, "/api/me", nil, http.StatusOK).JSON(h.t, &m)
	c.CSRF = m.CSRFToken
	return c, m
}
