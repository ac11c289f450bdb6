package dashboard_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/onekey-oss/onekey/e2e/browser"
	"github.com/onekey-oss/onekey/e2e/internal/e2estack"
	"github.com/onekey-oss/onekey/services/auth/auth"
)

// fakeTagManager stands in for www.googletagmanager.com: its gtm.js sets
// Google Analytics' cookies on the page's origin, as the real one does,
// and reports the data layer's events to /collect, as a tag would. It
// records every request it gets.
type fakeTagManager struct {
	srv *httptest.Server

	mu       sync.Mutex
	requests []string // request URIs, in order
}

const fakeTagScript = `(function () {
  var keep = "; path=/; max-age=63072000";
  document.cookie = "_ga=GA1.1.424242.1700000000" + keep;
  document.cookie = "_ga_E2ETEST=GS1.1.1700000000.1.0.1700000000.0.0.0" + keep;
  var events = (window.dataLayer || []).filter(function (e) { return e && e.event; });
  fetch(%q + "/collect?dl=" + encodeURIComponent(JSON.stringify(events)), { mode: "no-cors", credentials: "omit" });
})();
`

func startFakeTagManager(t *testing.T) *fakeTagManager {
	t.Helper()
	f := &fakeTagManager{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.requests = append(f.requests, r.URL.RequestURI())
		f.mu.Unlock()
		switch r.URL.Path {
		case "/gtm.js":
			w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
			fmt.Fprintf(w, fakeTagScript, "http://"+r.Host)
		case "/collect":
			w.WriteHeader(http.StatusNoContent)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeTagManager) Origin() string { return f.srv.URL }

// Requests returns the request URIs the fake got so far.
func (f *fakeTagManager) Requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests...)
}

// collected returns the data-layer events reported to /collect, decoded.
func (f *fakeTagManager) collected() string {
	var out []string
	for _, r := range f.Requests() {
		if u, err := url.Parse(r); err == nil && u.Path == "/collect" {
			out = append(out, u.Query().Get("dl"))
		}
	}
	return strings.Join(out, "\n")
}

// gaCookies lists the page's cookies named _ga or _ga_*.
func gaCookies(p *browser.Page) []string {
	return browser.Eval[[]string](p, `document.cookie.split(";").map(c => c.trim()).filter(c => c.startsWith("_ga=") || c.startsWith("_ga_"))`)
}

// tagScripts counts the page's script elements that load from origin.
func tagScripts(p *browser.Page, origin string) int {
	return browser.Eval[int](p, fmt.Sprintf(`Array.from(document.scripts).filter(s => s.src.startsWith(%q)).length`, origin))
}

func analyticsStack(t *testing.T, tags *fakeTagManager) *stack {
	return newStack(t, stackOptions{Analytics: auth.AnalyticsConfig{GTMID: "GTM-E2ETEST", TagURL: tags.Origin()}})
}

func TestConsent_TagLoadsOnlyAfterAcceptAndWithdrawingDeletesItsCookiesAndStopsIt(t *testing.T) {
	t.Parallel()
	tags := startFakeTagManager(t)
	s := analyticsStack(t, tags)
	p := visitor(t).NewPage()

	// Before any choice: the banner, the footer link, and nothing of the
	// tag manager: no request, no script, no cookie, no CSP opening.
	p.Visit("sign-in-banner", s.AuthURL+"/sign-in")
	p.WaitVisible(tid("consent-banner"))
	p.WaitVisible(tid("cookie-settings"))
	for _, path := range []string{"/privacy", "/under-the-hood", "/sign-in"} {
		p.Visit("before-consent"+strings.ReplaceAll(path, "/", "-"), s.AuthURL+path)
		if n := tagScripts(p, tags.Origin()); n != 0 {
			t.Errorf("%s before consent: %d tag scripts", path, n)
		}
	}
	if got := tags.Requests(); len(got) != 0 {
		t.Fatalf("before consent the tag manager got %d requests: %v", len(got), got)
	}
	if c := gaCookies(p); len(c) != 0 {
		t.Fatalf("before consent the page has analytics cookies %v", c)
	}
	if csp := cspOf(t, s.AuthURL+"/sign-in", ""); strings.Contains(csp, tags.Origin()) {
		t.Fatalf("before consent the CSP allows the tag manager: %s", csp)
	}

	// Accept: the page reloads with the tag, which sets _ga.
	p.AllowOrigin(tags.Origin())
	p.ClickToLoad("accepted", tid("consent-accept"))
	e2estack.WaitWithin(t, browser.Timeout, "the tag manager script after accepting", func() bool { return len(gaCookies(p)) == 2 })
	if n := tagScripts(p, tags.Origin()); n != 1 {
		t.Errorf("after accepting the page has %d tag scripts, want 1", n)
	}
	if p.Visible(tid("consent-banner")) {
		t.Error("the banner is still shown after accepting")
	}

	// Signing up sends the sign-up event with its method, and no page view
	// carries the address or the link's token.
	signIn(t, s, p, "hedy@example.com")
	e2estack.WaitWithin(t, browser.Timeout, "the sign_up event", func() bool { return strings.Contains(tags.collected(), `"event":"sign_up","method":"email"`) })
	p.Visit("billing-paid", s.AuthURL+"/billing?checkout=success")
	e2estack.WaitWithin(t, browser.Timeout, "the payment_completed event", func() bool { return strings.Contains(tags.collected(), `"event":"payment_completed"`) })
	for _, r := range tags.Requests() {
		if strings.Contains(r, "hedy") || strings.Contains(r, "token") || strings.Contains(r, "checkout") {
			t.Errorf("the tag manager got %q: an address, a token or a query", r)
		}
	}
	if c := gaCookies(p); len(c) != 2 {
		t.Fatalf("signed in, with consent: analytics cookies %v", c)
	}

	// Withdraw in "Cookie settings": the _ga cookies go, the tag stops.
	p.Click(tid("cookie-settings"))
	p.WaitVisible(tid("consent-banner"))
	p.Check("cookie-settings-open")
	p.ClickToLoad("withdrawn", tid("consent-decline"))
	p.ForbidOrigin(tags.Origin())
	if c := gaCookies(p); len(c) != 0 {
		t.Fatalf("after withdrawing, analytics cookies remain: %v", c)
	}
	before := len(tags.Requests())
	for _, path := range []string{"/", "/keys", "/usage", "/billing", "/settings", "/privacy"} {
		p.Visit("after-withdrawal"+strings.ReplaceAll(path, "/", "-"), s.AuthURL+path)
		if n := tagScripts(p, tags.Origin()); n != 0 {
			t.Errorf("%s after withdrawing: %d tag scripts", path, n)
		}
	}
	if got := tags.Requests()[before:]; len(got) != 0 {
		t.Errorf("after withdrawing the tag manager got %v", got)
	}
	if c := gaCookies(p); len(c) != 0 {
		t.Errorf("after withdrawing and browsing: analytics cookies %v", c)
	}
}

func TestConsent_DeclineLoadsNothingAcrossPageLoads(t *testing.T) {
	t.Parallel()
	tags := startFakeTagManager(t)
	s := analyticsStack(t, tags)
	p := visitor(t).NewPage()

	p.Visit("sign-in-banner", s.AuthURL+"/sign-in")
	p.Click(tid("consent-decline"))
	p.WaitHidden(tid("consent-banner"))
	p.Check("declined")
	if got := browser.Eval[string](p, `document.cookie`); !strings.Contains(got, "CookieConsent=") || strings.Contains(got, "statistics%3Atrue") {
		t.Fatalf("after declining the cookies are %q, want a CookieConsent that grants no statistics", got)
	}
	signIn(t, s, p, "barbara@example.com")
	for _, path := range []string{"/", "/keys", "/usage", "/billing", "/settings", "/privacy", "/under-the-hood"} {
		p.Visit("declined"+strings.ReplaceAll(path, "/", "-"), s.AuthURL+path)
		if p.Visible(tid("consent-banner")) {
			t.Errorf("%s: the banner shows again after declining", path)
		}
		if n := tagScripts(p, tags.Origin()); n != 0 {
			t.Errorf("%s after declining: %d tag scripts", path, n)
		}
	}
	if got := tags.Requests(); len(got) != 0 {
		t.Errorf("after declining the tag manager got %v", got)
	}
	if c := gaCookies(p); len(c) != 0 {
		t.Errorf("after declining: analytics cookies %v", c)
	}

	// The settings panel records the same choice.
	p.Click(tid("cookie-settings"))
	p.Click(tid("consent-settings"))
	p.WaitVisible(tid("consent-analytics"))
	if browser.Eval[bool](p, `document.querySelector('[data-testid="consent-analytics"]').checked`) {
		t.Error("the settings panel shows analytics on after declining")
	}
	p.Check("settings-panel")
	p.Click(tid("consent-save"))
	p.WaitHidden(tid("consent-banner"))
	if got := tags.Requests(); len(got) != 0 {
		t.Errorf("after saving 'no analytics' the tag manager got %v", got)
	}
}

func TestConsent_WithoutAnalyticsNoBannerNoScriptOnEveryPage(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	p := visitor(t).NewPage()

	check := func(path string) {
		t.Helper()
		for _, sel := range []string{tid("consent-banner"), tid("cookie-settings"), `meta[name="onekey-analytics"]`, `link[href$="consent.css"]`} {
			if p.Has(sel) {
				t.Errorf("%s without analytics has %s", path, sel)
			}
		}
		scripts := browser.Eval[[]string](p, `Array.from(document.scripts).map(s => s.src ? new URL(s.src).pathname : "(inline)")`)
		if len(scripts) != 1 || !strings.HasSuffix(scripts[0], "/app.js") {
			t.Errorf("%s without analytics has scripts %v, want app.js only", path, scripts)
		}
		if c := browser.Eval[string](p, `document.cookie`); c != "" {
			t.Errorf("%s: script-readable cookies %q, want none", path, c)
		}
	}
	for _, path := range []string{"/sign-in", "/privacy", "/under-the-hood"} {
		p.Visit("signed-out"+strings.ReplaceAll(path, "/", "-"), s.AuthURL+path)
		check(path)
		if csp := cspOf(t, s.AuthURL+path, ""); !strings.HasPrefix(csp, "default-src 'none'; script-src 'self'; style-src 'self';") || strings.Contains(csp, "http") {
			t.Errorf("%s: CSP %q", path, csp)
		}
	}
	p.Visit("privacy", s.AuthURL+"/privacy")
	list := p.Text(tid("cookie-list"))
	for _, want := range []string{"__Host-onekey_session", "__Host-onekey_oauth"} {
		if !strings.Contains(list, want) {
			t.Errorf("the privacy page's cookie list does not name %s:\n%s", want, list)
		}
	}
	if strings.Contains(list, "_ga") || strings.Contains(list, "CookieConsent") {
		t.Errorf("without analytics the cookie list names analytics cookies:\n%s", list)
	}
	signIn(t, s, p, "alan@example.com")
	check("/")
	for _, path := range []string{"/keys", "/usage", "/billing", "/settings", "/privacy", "/under-the-hood"} {
		p.Visit("signed-in"+strings.ReplaceAll(path, "/", "-"), s.AuthURL+path)
		check(path)
	}
}

// cspOf fetches url (with the Cookie header given) and returns its
// Content-Security-Policy.
func cspOf(t *testing.T, u, cookie string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Get("Content-Security-Policy")
}

// fakeCookiebot stands in for consent.cookiebot.com: its uc.js keeps the
// visitor's choice in the CookieConsent cookie in Cookiebot's format, shows
// a dialog ("Allow all", "Deny") when there is none or when renew() is
// called, and fires Cookiebot's CookiebotOnAccept / CookiebotOnDecline
// events, as its documented JavaScript API does.
const fakeCookiebotScript = `(function () {
  function stored() { var m = document.cookie.match(/(?:^|; )CookieConsent=([^;]*)/); return m ? decodeURIComponent(m[1]) : null; }
  var dialog = null;
  var cb = window.Cookiebot = { consent: { necessary: true, statistics: false }, renew: show };
  function decide(stats) {
    var v = "{stamp:'e2e',necessary:true,preferences:false,statistics:" + stats + ",marketing:false,method:'explicit',ver:1}";
    document.cookie = "CookieConsent=" + encodeURIComponent(v) + "; path=/; max-age=31536000";
    cb.consent.statistics = stats;
    if (dialog) { dialog.remove(); dialog = null; }
    window.dispatchEvent(new Event(stats ? "CookiebotOnAccept" : "CookiebotOnDecline"));
  }
  function button(id, text, stats) {
    var b = document.createElement("button"); b.type = "button"; b.id = id; b.textContent = text;
    b.addEventListener("click", function () { decide(stats); }); return b;
  }
  function show() {
    if (dialog) return;
    dialog = document.createElement("div"); dialog.id = "CybotCookiebotDialog"; dialog.setAttribute("role", "dialog"); dialog.setAttribute("aria-label", "Cookie consent (Cookiebot)");
    dialog.appendChild(button("CybotCookiebotDialogBodyLevelButtonLevelOptinAllowAll", "Allow all", true));
    dialog.appendChild(button("CybotCookiebotDialogBodyButtonDecline", "Deny", false));
    document.body.appendChild(dialog);
  }
  var v = stored();
  if (v === null) { document.readyState === "loading" ? document.addEventListener("DOMContentLoaded", show) : show(); }
  else cb.consent.statistics = v.indexOf("statistics:true") >= 0;
})();
`

func TestConsent_CookiebotBannerIsTheOnlyThirdPartyBeforeConsentAndDecidesTheTag(t *testing.T) {
	t.Parallel()
	tags := startFakeTagManager(t)
	var cbRequests sync.Map
	cookiebot := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cbRequests.Store(r.URL.Path, true)
		if r.URL.Path != "/uc.js" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		fmt.Fprint(w, fakeCookiebotScript)
	}))
	t.Cleanup(cookiebot.Close)
	s := newStack(t, stackOptions{Analytics: auth.AnalyticsConfig{GTMID: "GTM-E2ETEST", TagURL: tags.Origin(),
		CookiebotID: "00000000-0000-4000-8000-000000000000", CookiebotURL: cookiebot.URL}})
	p := visitor(t).NewPage()
	p.AllowOrigin(cookiebot.URL) // Cookiebot's script, before any consent

	p.Visit("cookiebot-dialog", s.AuthURL+"/sign-in")
	p.WaitVisible("#CybotCookiebotDialog")
	if _, ok := cbRequests.Load("/uc.js"); !ok {
		t.Fatal("Cookiebot's uc.js was not loaded")
	}
	if p.Has(tid("consent-banner")) {
		t.Error("with Cookiebot the first-party banner is shown too")
	}
	if n := len(tags.Requests()); n != 0 || tagScripts(p, tags.Origin()) != 0 {
		t.Fatalf("before consent: %d requests to the tag manager", n)
	}
	if csp := cspOf(t, s.AuthURL+"/sign-in", ""); !strings.Contains(csp, cookiebot.URL) || strings.Contains(csp, tags.Origin()) {
		t.Fatalf("before consent the CSP is %q: want Cookiebot's origin and not the tag manager's", csp)
	}

	// "Allow all": the page reloads with the tag.
	p.AllowOrigin(tags.Origin())
	p.ClickToLoad("cookiebot-accepted", "#CybotCookiebotDialogBodyLevelButtonLevelOptinAllowAll")
	e2estack.WaitWithin(t, browser.Timeout, "the tag after Cookiebot's consent", func() bool { return len(gaCookies(p)) == 2 })

	// "Cookie settings" reopens Cookiebot's dialog; "Deny" withdraws.
	p.Click(tid("cookie-settings"))
	p.WaitVisible("#CybotCookiebotDialog")
	p.ClickToLoad("cookiebot-withdrawn", "#CybotCookiebotDialogBodyButtonDecline")
	p.ForbidOrigin(tags.Origin())
	if c := gaCookies(p); len(c) != 0 {
		t.Fatalf("after withdrawing in Cookiebot, analytics cookies remain: %v", c)
	}
	before := len(tags.Requests())
	for _, path := range []string{"/privacy", "/under-the-hood", "/sign-in"} {
		p.Visit("cookiebot-declined"+strings.ReplaceAll(path, "/", "-"), s.AuthURL+path)
		if n := tagScripts(p, tags.Origin()); n != 0 {
			t.Errorf("%s after withdrawing: %d tag scripts", path, n)
		}
	}
	if got := tags.Requests()[before:]; len(got) != 0 {
		t.Errorf("after withdrawing in Cookiebot the tag manager got %v", got)
	}
}
