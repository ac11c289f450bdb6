package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

// get serves one public page of a dashboard configured with a and returns
// the response and its body.
func get(t *testing.T, a Analytics, path, cookie string) (*http.Response, string) {
	t.Helper()
	p, err := New(Config{Analytics: a}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	p.Register(e)
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Host = "app.example.com"
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	resp := rec.Result()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

const (
	granted  = "CookieConsent=%7Bnecessary%3Atrue%2Cstatistics%3Atrue%7D"
	declined = "CookieConsent=%7Bnecessary%3Atrue%2Cstatistics%3Afalse%7D"
)

func TestAnalytics_TagOriginIsInThePageAndTheCSPOnlyAfterConsent(t *testing.T) {
	gtm := Analytics{GTMID: "GTM-TEST1", TagURL: "https://tags.example.net"}
	cookiebot := Analytics{GA4ID: "G-TEST1", CookiebotID: "00000000-0000-0000-0000-000000000000"}
	for _, tc := range []struct {
		name         string
		a            Analytics
		cookie       string
		wantCSP      []string // origins the CSP must name
		wantNotCSP   []string
		wantInPage   []string
		wantNotPage  []string
		bannerHidden bool
	}{
		{name: "off", a: Analytics{}, cookie: granted, wantNotCSP: []string{"http"},
			wantNotPage: []string{"consent.js", "consent-banner", "Cookie settings", "googletagmanager", "_ga"}},
		{name: "no choice yet", a: gtm, wantNotCSP: []string{"tags.example.net"},
			wantInPage: []string{"consent.js", `data-testid="consent-banner">`, "Cookie settings"}, wantNotPage: []string{"tags.example.net"}},
		{name: "declined", a: gtm, cookie: declined, wantNotCSP: []string{"tags.example.net"},
			wantInPage: []string{`data-testid="consent-banner" hidden`}, wantNotPage: []string{"tags.example.net"}},
		{name: "granted", a: gtm, cookie: granted, wantCSP: []string{"script-src 'self' https://tags.example.net;"},
			wantNotCSP: []string{"google-analytics"}, wantInPage: []string{`data-src="https://tags.example.net/gtm.js?id=GTM-TEST1"`}},
		{name: "cookiebot, no choice", a: cookiebot, wantCSP: []string{"script-src 'self' https://consent.cookiebot.com;"},
			wantNotCSP: []string{"googletagmanager"}, wantInPage: []string{`src="https://consent.cookiebot.com/uc.js" data-cbid="00000000-0000-0000-0000-000000000000"`},
			wantNotPage: []string{"consent-banner", "googletagmanager"}},
		{name: "cookiebot, granted", a: cookiebot, cookie: "CookieConsent={stamp:%27x%27%2Cnecessary:true%2Cpreferences:false%2Cstatistics:true%2Cmarketing:false}",
			wantCSP:    []string{"https://consent.cookiebot.com https://www.googletagmanager.com", "https://*.google-analytics.com"},
			wantInPage: []string{`data-src="https://www.googletagmanager.com/gtag/js?id=G-TEST1"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := get(t, tc.a, "/privacy", tc.cookie)
			csp := resp.Header.Get("Content-Security-Policy")
			if tc.a == (Analytics{}) && csp != CSP {
				t.Errorf("CSP without analytics = %q, want the strict one", csp)
			}
			for _, w := range tc.wantCSP {
				if !strings.Contains(csp, w) {
					t.Errorf("CSP %q lacks %q", csp, w)
				}
			}
			for _, w := range tc.wantNotCSP {
				if strings.Contains(csp, w) {
					t.Errorf("CSP %q has %q", csp, w)
				}
			}
			for _, w := range tc.wantInPage {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, w := range tc.wantNotPage {
				if strings.Contains(body, w) {
					t.Errorf("page has %q", w)
				}
			}
		})
	}
}

func TestAnalytics_WithdrawnConsentDeletesTheGACookiesOnTheHostAndItsParentDomains(t *testing.T) {
	a := Analytics{GTMID: "GTM-TEST1"}
	resp, _ := get(t, a, "/privacy", declined+"; _ga=GA1.1.1.1; _ga_TEST1=GS1.1.1; other=1")
	deleted := map[string]bool{}
	for _, ck := range resp.Cookies() {
		if ck.MaxAge < 0 {
			deleted[ck.Name+"@"+ck.Domain] = true
		}
	}
	for _, want := range []string{"_ga@", "_ga@app.example.com", "_ga@example.com", "_ga_TEST1@", "_ga_TEST1@example.com"} {
		if !deleted[want] {
			t.Errorf("no deletion of %s; deleted: %v", want, deleted)
		}
	}
	if deleted["other@"] {
		t.Error("a cookie that is not Google Analytics' was deleted")
	}
	resp, _ = get(t, a, "/privacy", granted+"; _ga=GA1.1.1.1")
	if len(resp.Cookies()) != 0 {
		t.Errorf("with consent, cookies were set: %v", resp.Cookies())
	}
}
