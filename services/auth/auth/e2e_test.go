package auth_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/services/notifier/notifier"
	"github.com/onekey-oss/onekey/services/notifier/resendtest"
)

var linkRE = regexp.MustCompile(`https?://[^\s"'<>]+/api/auth/magic-link/verify\?token=[A-Za-z0-9_-]+`)

// TestE2E_MagicLinkThroughNotifierAndResendToSession is the whole sign-in
// by mail on the embedded stack: request → mail.requested → the notifier →
// Resend (a local fake that records the mail) → the link in the mail → the
// page → its POST → the session cookie → GET /api/me.
func TestE2E_MagicLinkThroughNotifierAndResendToSession(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.clock.Set(time.Now().UTC()) // the notifier drops sign-in mails whose link has expired by its own clock

	rs := resendtest.Start(t)
	n, err := notifier.New(notifier.Config{
		ResendAPIKey: resendtest.APIKey, ResendBaseURL: rs.URL(), From: "onekey <login@onekey.test>",
		SiteURL: h.srv.URL,
	}, notifier.Deps{Bus: h.nats.ConnectAs(t, bus.UserNotifier), Store: h.store})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("notifier: %v", err)
		}
	})

	c := h.client()
	c.must(http.MethodPost, "/api/auth/magic-link", map[string]string{"email": "yan@example.com"}, http.StatusAccepted)
	m := rs.WaitForMail(t, func(m resendtest.Mail) bool { return len(m.To) == 1 && m.To[0] == "yan@example.com" })
	link := linkRE.FindString(m.Text)
	if link == "" {
		t.Fatalf("no sign-in link in the mail's text:\n%s", m.Text)
	}
	if linkRE.FindString(m.HTML) != link {
		t.Errorf("the HTML part links elsewhere than the text part")
	}
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	c.must(http.MethodGet, u.RequestURI(), nil, http.StatusOK)
	c.must(http.MethodPost, "/api/auth/magic-link/verify", url.Values{"token": {u.Query().Get("token")}}, http.StatusSeeOther)
	var me me
	c.must(http.MethodGet, "/api/me", nil, http.StatusOK).json(t, &me)
	if me.Email != "yan@example.com" {
		t.Fatalf("me = %+v", me)
	}
}
