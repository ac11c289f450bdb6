package auth

import (
	"log/slog"
	"net/url"

	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/pkg/config"
	"github.com/onekey-oss/onekey/services/auth/internal/accounts"
	"github.com/onekey-oss/onekey/services/auth/internal/httpapi"
	"github.com/onekey-oss/onekey/services/auth/internal/oauth"
	"github.com/onekey-oss/onekey/services/auth/internal/web"
)

// DashboardConfig is what the dashboard's pages show that is not per user.
type DashboardConfig struct {
	// GatewayPublicURL is the gateway's public base URL, shown in the
	// quickstart (GATEWAY_PUBLIC_URL, without /v1).
	GatewayPublicURL string
	// OperatorName and OperatorContact (an e-mail address) name who runs
	// the deployment, on the privacy page and in the footer
	// (OPERATOR_NAME, OPERATOR_CONTACT).
	OperatorName, OperatorContact string
	// CheckoutMin and CheckoutMax bound the card top-up amount picker
	// (CHECKOUT_MIN_USD, CHECKOUT_MAX_USD: the variables payments reads).
	CheckoutMin, CheckoutMax money.Micros
	// Analytics, off by default, load only after consent (analytics.go).
	Analytics AnalyticsConfig
}

// Dashboard defaults.
const (
	DefaultGatewayPublicURL = "http://127.0.0.1:8080"
	DefaultCheckoutMin      = 5 * money.Dollar
	DefaultCheckoutMax      = 1000 * money.Dollar
)

func dashboardFromEnv(r *config.Reader) DashboardConfig {
	return DashboardConfig{
		GatewayPublicURL: r.String("GATEWAY_PUBLIC_URL", DefaultGatewayPublicURL),
		OperatorName:     r.String("OPERATOR_NAME", ""),
		OperatorContact:  r.String("OPERATOR_CONTACT", ""),
		CheckoutMin:      r.Money("CHECKOUT_MIN_USD", DefaultCheckoutMin),
		CheckoutMax:      r.Money("CHECKOUT_MAX_USD", DefaultCheckoutMax),
		Analytics:        analyticsFromEnv(r),
	}
}

func (d DashboardConfig) problems() []string {
	var out []string
	if d.GatewayPublicURL != "" {
		if u, err := url.Parse(d.GatewayPublicURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			out = append(out, "GATEWAY_PUBLIC_URL: want an absolute http(s) URL")
		}
	}
	if d.CheckoutMin < 0 || d.CheckoutMax < d.CheckoutMin {
		out = append(out, "CHECKOUT_MIN_USD and CHECKOUT_MAX_USD: want 0 ≤ min ≤ max")
	}
	return append(out, d.Analytics.problems()...)
}

func dashboard(cfg Config, acc *accounts.Store, providers []oauth.Provider, withAssistant bool, log *slog.Logger) (*web.Pages, error) {
	d := cfg.Dashboard
	if d.GatewayPublicURL == "" {
		d.GatewayPublicURL = DefaultGatewayPublicURL
	}
	wc := web.Config{
		GatewayURL: d.GatewayPublicURL, OperatorName: d.OperatorName, OperatorContact: d.OperatorContact,
		CheckoutMin: d.CheckoutMin, CheckoutMax: d.CheckoutMax, CSRFToken: httpapi.CSRFToken,
		Analytics: d.Analytics.web(),
		Assistant: withAssistant,
	}
	for _, p := range providers {
		wc.Providers = append(wc.Providers, p.Name())
	}
	return web.New(wc, acc, log)
}
