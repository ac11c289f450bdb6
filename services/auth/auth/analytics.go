package auth

import (
	"net/url"
	"regexp"

	"github.com/onekey-oss/onekey/pkg/config"
	"github.com/onekey-oss/onekey/services/auth/internal/web"
)

// AnalyticsConfig turns on consent-based analytics in the dashboard. Off
// (the default: no id) the pages have no banner, no analytics code and no
// other origin. With an id, the tag loads only for visitors who granted
// consent in the banner (ours, or Cookiebot's when CookiebotID is set).
type AnalyticsConfig struct {
	// GTMID is a Google Tag Manager container id, GTM-XXXX
	// (AUTH_ANALYTICS_GTM_ID); GA4ID a GA4 measurement id, G-XXXX
	// (AUTH_ANALYTICS_GA4_ID). At most one.
	GTMID, GA4ID string
	// TagURL is the tag manager's base URL (AUTH_ANALYTICS_TAG_URL,
	// default https://www.googletagmanager.com; a first-party tagging
	// server, or a local fake in tests).
	TagURL string
	// CookiebotID is a Cookiebot domain group id (AUTH_COOKIEBOT_ID):
	// Cookiebot's banner instead of the first-party one. CookiebotURL is
	// its script's base URL (AUTH_COOKIEBOT_URL, default
	// https://consent.cookiebot.com; https://consent.cookiebot.eu for its
	// EU CDN).
	CookiebotID, CookiebotURL string
}

func analyticsFromEnv(r *config.Reader) AnalyticsConfig {
	return AnalyticsConfig{
		GTMID:        r.String("AUTH_ANALYTICS_GTM_ID", ""),
		GA4ID:        r.String("AUTH_ANALYTICS_GA4_ID", ""),
		TagURL:       r.String("AUTH_ANALYTICS_TAG_URL", web.DefaultTagURL),
		CookiebotID:  r.String("AUTH_COOKIEBOT_ID", ""),
		CookiebotURL: r.String("AUTH_COOKIEBOT_URL", web.DefaultCookiebotURL),
	}
}

var (
	gtmID       = regexp.MustCompile(`^GTM-[A-Z0-9]{4,12}$`)
	ga4ID       = regexp.MustCompile(`^G-[A-Z0-9]{4,16}$`)
	cookiebotID = regexp.MustCompile(`^[0-9a-fA-F-]{36}$`)
)

func (a AnalyticsConfig) problems() []string {
	var out []string
	if a.GTMID != "" && a.GA4ID != "" {
		out = append(out, "AUTH_ANALYTICS_GTM_ID and AUTH_ANALYTICS_GA4_ID: set one (GA4 can be loaded by the GTM container)")
	}
	if a.GTMID != "" && !gtmID.MatchString(a.GTMID) {
		out = append(out, "AUTH_ANALYTICS_GTM_ID: want GTM-XXXX")
	}
	if a.GA4ID != "" && !ga4ID.MatchString(a.GA4ID) {
		out = append(out, "AUTH_ANALYTICS_GA4_ID: want G-XXXX")
	}
	if a.CookiebotID != "" && !cookiebotID.MatchString(a.CookiebotID) {
		out = append(out, "AUTH_COOKIEBOT_ID: want the domain group id, a UUID")
	}
	if a.CookiebotID != "" && a.GTMID == "" && a.GA4ID == "" {
		out = append(out, "AUTH_COOKIEBOT_ID needs AUTH_ANALYTICS_GTM_ID or AUTH_ANALYTICS_GA4_ID: without analytics there is nothing to consent to")
	}
	for name, v := range map[string]string{"AUTH_ANALYTICS_TAG_URL": a.TagURL, "AUTH_COOKIEBOT_URL": a.CookiebotURL} {
		if v == "" {
			continue
		}
		if u, err := url.Parse(v); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			out = append(out, name+": want an absolute http(s) URL")
		}
	}
	return out
}

func (a AnalyticsConfig) web() web.Analytics {
	return web.Analytics{GTMID: a.GTMID, GA4ID: a.GA4ID, TagURL: a.TagURL, CookiebotID: a.CookiebotID, CookiebotURL: a.CookiebotURL}
}
