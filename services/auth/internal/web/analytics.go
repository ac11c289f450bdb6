package web

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// Analytics is the optional, consent-based analytics of the dashboard.
// With no tag id (the default) nothing of it exists on any page: no
// banner, no script, no other origin in the CSP.
//
// With a tag id, analytics load only for a browser whose CookieConsent
// cookie grants "statistics": the server renders the page (and its CSP)
// from the cookie, so before consent the tag's origin is neither in the
// page nor allowed by the CSP. A choice made in the banner reloads the
// page when it changes what may load (a CSP is never loosened in place).
type Analytics struct {
	// GTMID (GTM-XXXX) loads Google Tag Manager; GA4ID (G-XXXX) loads
	// gtag.js for a GA4 property. At most one is set.
	GTMID, GA4ID string
	// TagURL is the tag manager's base URL (https://www.googletagmanager.com,
	// or a first-party tagging server; tests: a local fake).
	TagURL string
	// CookiebotID, when set, shows Cookiebot's banner instead of the
	// first-party one; CookiebotURL is its script's base URL
	// (https://consent.cookiebot.com).
	CookiebotID, CookiebotURL string
}

// ConsentCookie holds the visitor's choice. It has the name and the shape
// of Cookiebot's own cookie ({necessary:true,statistics:true,...},
// URL-encoded), so a switch between the first-party banner and Cookiebot
// keeps every visitor's choice.
const ConsentCookie = "CookieConsent"

// Default origins.
const (
	DefaultTagURL       = "https://www.googletagmanager.com"
	DefaultCookiebotURL = "https://consent.cookiebot.com"
)

// Google's collection origins, allowed (after consent) when the tags come
// from Google's own tag host; a first-party tagging server collects on its
// own origin.
var googleCollect = []string{"https://*.google-analytics.com", "https://*.analytics.google.com", "https://*.googletagmanager.com"}

// cookiebotOrigins are what Cookiebot's banner uses, per its CSP guide.
var cookiebotOrigins = []string{"https://consentcdn.cookiebot.com"}

// On reports whether analytics are configured at all.
func (a Analytics) On() bool { return a.GTMID != "" || a.GA4ID != "" }

// analyticsView is what the layout needs to render the consent parts.
type analyticsView struct {
	On                        bool   // configured: the banner (or Cookiebot) and the footer link
	Cookiebot                 bool   // Cookiebot's banner instead of ours
	Chosen                    bool   // the visitor has made a choice (our banner starts hidden)
	Granted                   bool   // statistics granted: the tag loads
	Kind                      string // "gtm" or "ga4"
	ID                        string // the tag id
	TagSrc                    string // the tag script's URL (only when Granted)
	CookiebotSrc, CookiebotID string
	// Events are the analytics events of this page view (besides the page
	// view itself): "sign_up" with a method, "payment_completed". Never
	// an amount, a key or anything tied to an e-mail address.
	Events []analyticsEvent
}

type analyticsEvent struct{ Name, Method string }

// consent reads the visitor's choice from the CookieConsent cookie.
func consent(r *http.Request) (chosen, granted bool) {
	ck, err := r.Cookie(ConsentCookie)
	if err != nil || ck.Value == "" {
		return false, false
	}
	v, err := url.QueryUnescape(ck.Value)
	if err != nil {
		v = ck.Value
	}
	v = strings.ReplaceAll(v, " ", "")
	return true, strings.Contains(v, "statistics:true")
}

// analyticsFor builds the view of one page. The sign-in link's page never
// loads analytics: its URL holds a token.
func (p *Pages) analyticsFor(c echo.Context, name string) analyticsView {
	a := p.cfg.Analytics
	if !a.On() {
		return analyticsView{}
	}
	v := analyticsView{On: true, Kind: "ga4", ID: a.GA4ID}
	if a.GTMID != "" {
		v.Kind, v.ID = "gtm", a.GTMID
	}
	if a.CookiebotID != "" {
		v.Cookiebot, v.CookiebotID = true, a.CookiebotID
		v.CookiebotSrc = strings.TrimSuffix(a.CookiebotURL, "/") + "/uc.js"
	}
	v.Chosen, v.Granted = consent(c.Request())
	if name == "link" {
		v.Granted = false
	}
	if !v.Granted {
		return v
	}
	base := strings.TrimSuffix(a.TagURL, "/")
	if v.Kind == "gtm" {
		v.TagSrc = base + "/gtm.js?id=" + url.QueryEscape(v.ID)
	} else {
		v.TagSrc = base + "/gtag/js?id=" + url.QueryEscape(v.ID)
	}
	q := c.QueryParams()
	switch m := q.Get("signed_up"); m {
	case "email", "google", "github":
		v.Events = append(v.Events, analyticsEvent{Name: "sign_up", Method: m})
	}
	if name == "billing" && q.Get("checkout") == "success" {
		v.Events = append(v.Events, analyticsEvent{Name: "payment_completed"})
	}
	return v
}

// csp is the Content-Security-Policy of a page for this request: CSP
// without analytics; with Cookiebot, its origins (its banner injects
// styles, so style-src also allows inline styles); after consent, the tag
// manager's origins.
func (p *Pages) csp(r *http.Request) string {
	a := p.cfg.Analytics
	if !a.On() {
		return CSP
	}
	var script, connect, img, frame []string
	style := "'self'"
	if a.CookiebotID != "" {
		cb := origin(a.CookiebotURL)
		script = append(script, cb)
		connect = append(connect, cb)
		connect = append(connect, cookiebotOrigins...)
		frame = append(frame, cookiebotOrigins...)
		img = append(img, "https://imgsct.cookiebot.com")
		style = "'self' 'unsafe-inline'"
	}
	if _, granted := consent(r); granted {
		tag := origin(a.TagURL)
		script = append(script, tag)
		connect = append(connect, tag)
		img = append(img, tag)
		if strings.HasSuffix(hostOf(a.TagURL), "googletagmanager.com") {
			connect = append(connect, googleCollect...)
			img = append(img, googleCollect...)
		}
	}
	join := func(base string, extra []string) string {
		return strings.TrimSpace(base + " " + strings.Join(extra, " "))
	}
	out := "default-src 'none'; script-src " + join("'self'", script) + "; style-src " + style +
		"; img-src " + join("'self' data:", img) + "; connect-src " + join("'self'", connect) + "; font-src 'self'"
	if len(frame) > 0 {
		out += "; frame-src " + strings.Join(frame, " ")
	}
	return out + "; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
}

// clearAnalyticsCookies deletes Google Analytics' cookies (_ga, _ga_<id>)
// the browser sent when the visitor has not granted consent (a withdrawal):
// host-only and on each parent domain, where gtag.js puts them. The
// banner's script deletes them too; this covers a withdrawal made while
// the script could not run.
func (p *Pages) clearAnalyticsCookies(c echo.Context) {
	if !p.cfg.Analytics.On() {
		return
	}
	r := c.Request()
	if _, granted := consent(r); granted {
		return
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	var domains []string
	if net.ParseIP(host) == nil {
		for d := host; strings.Contains(d, "."); d = d[strings.IndexByte(d, '.')+1:] {
			domains = append(domains, d)
		}
	}
	for _, ck := range r.Cookies() {
		if ck.Name != "_ga" && !strings.HasPrefix(ck.Name, "_ga_") {
			continue
		}
		expire := func(domain string) {
			c.SetCookie(&http.Cookie{Name: ck.Name, Value: "", Path: "/", Domain: domain, MaxAge: -1, Expires: time.Unix(0, 0)})
		}
		expire("")
		for _, d := range domains {
			expire(d)
		}
	}
}

func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Hostname()
}
