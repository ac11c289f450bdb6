package auth_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/onekey-oss/onekey/services/notifier/resendtest"
)

// TestE2E_MagicLinkThroughNotifierAndResendToSession is the whole sign-in
// by mail on the embedded stack: request → mail.requested → the notifier →
// Resend (a local fake that records the mail) → the link in the mail → the
// page → its POST → the session cookie → GET /api/me. (The harness runs the
// notifier and the fake Resend.)
func TestE2E_MagicLinkThroughNotifierAndResendToSession(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.client()
	c.Must(http.MethodPost, "/api/auth/magic-link", map[string]string{"email": "yan@example.com"}, http.StatusAccepted)
	m := h.resend.WaitForMail(t, func(m resendtest.Mail) bool { return len(m.To) == 1 && m.To[0] == "yan@example.com" })
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
	c.Must(http.MethodGet, u.RequestURI(), nil, http.StatusOK)
	c.Must(http.MethodPost, "/api/auth/magic-link/verify", url.Values{"token": {u.Query().Get("token")}}, http.StatusSeeOther)
	var me me
	c.Must(http.MethodGet, "/api/me", nil, http.StatusOK).JSON(t, &me)
	if me.Email != "yan@example.com" {
		t.Fatalf("me = %+v", me)
	}
}
