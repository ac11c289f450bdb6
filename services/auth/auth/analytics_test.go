package auth_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/onekey-oss/onekey/pkg/config"
	"github.com/onekey-oss/onekey/services/auth/auth"
)

// With analytics on, the sign-in that makes an account lands on
// /?signed_up=<method> (the dashboard's sign_up event, sent only with
// the visitor's consent); a later sign-in does not.
func TestAnalytics_OnlyTheSignInThatMakesTheAccountLandsWithSignedUp(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *auth.Config, _ *auth.Deps) { c.Dashboard.Analytics = auth.AnalyticsConfig{GA4ID: "G-TEST1"} })
	for i, want := range []string{h.srv.URL + "/?signed_up=email", h.srv.URL + "/"} {
		c := h.client()
		c.Must(http.MethodPost, "/api/auth/magic-link", map[string]string{"email": "ida@example.com"}, http.StatusAccepted)
		tok := h.linkFor("ida@example.com", i+1)
		r := c.Must(http.MethodPost, "/api/auth/magic-link/verify", url.Values{"token": {tok}}, http.StatusSeeOther)
		if loc := r.Header.Get("Location"); loc != want {
			t.Errorf("sign-in %d: redirect to %q, want %q", i+1, loc, want)
		}
	}
}

func TestAnalytics_ConfigRefusesMalformedIDsAndCookiebotWithoutAnalytics(t *testing.T) {
	t.Parallel()
	base := map[string]string{"NATS_URL": "nats://x", "MONGODB_URI": "mongodb://y", "AUTH_FREE_GRANT_SECRET": strings.Repeat("s", 32), "MAIL_SEAL_KEY": harnessMailKey}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	c, err := auth.ConfigFromEnv(config.MapEnv(with("AUTH_ANALYTICS_GTM_ID", "GTM-ABC123")))
	if err != nil || c.Dashboard.Analytics.TagURL != "https://www.googletagmanager.com" {
		t.Fatalf("a GTM id: %v, tag URL %q", err, c.Dashboard.Analytics.TagURL)
	}
	for name, env := range map[string]map[string]string{
		"both ids":         with("AUTH_ANALYTICS_GTM_ID", "GTM-ABC123", "AUTH_ANALYTICS_GA4_ID", "G-ABC123"),
		"bad GTM id":       with("AUTH_ANALYTICS_GTM_ID", "UA-1234"),
		"bad GA4 id":       with("AUTH_ANALYTICS_GA4_ID", "G-<script>"),
		"cookiebot alone":  with("AUTH_COOKIEBOT_ID", "00000000-0000-4000-8000-000000000000"),
		"relative tag URL": with("AUTH_ANALYTICS_GA4_ID", "G-ABC123", "AUTH_ANALYTICS_TAG_URL", "/tags"),
		"bad cookiebot id": with("AUTH_ANALYTICS_GA4_ID", "G-ABC123", "AUTH_COOKIEBOT_ID", "x"),
	} {
		if _, err := auth.ConfigFromEnv(config.MapEnv(env)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
