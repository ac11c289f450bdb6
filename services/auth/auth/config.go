package auth

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/config"
)

// Config is the auth service's settings: DefaultConfig, changed by
// ConfigFromEnv from the environment, or built directly (devstack, tests;
// there a zero magic-link limit means none). New validates it.
type Config struct {
	// Addr is where the account API listens (AUTH_ADDR).
	Addr string
	// PublicURL is the origin browsers reach the API at (AUTH_PUBLIC_URL);
	// sign-in links, OAuth redirect URLs and the CSRF origin check use it.
	PublicURL string
	// AppURL is where a browser lands after signing in (AUTH_APP_URL,
	// default PublicURL + "/").
	AppURL string
	// TrustProxy takes client IPs from X-Forwarded-For (AUTH_TRUST_PROXY).
	TrustProxy bool
	// Magic-link requests allowed in MagicLinkWindow per address from one
	// client IP (AUTH_MAGIC_LINKS_PER_ADDRESS), per client IP
	// (AUTH_MAGIC_LINKS_PER_IP), and per address from all IPs together
	// (AUTH_MAGIC_LINKS_ADDRESS_CAP; 0 in a Config built in code means
	// DefaultMagicLinksAddressCap).
	MagicLinksPerAddress int
	MagicLinksPerIP      int
	MagicLinksAddressCap int
	MagicLinkWindow      time.Duration

	Google GoogleConfig
	GitHub GitHubConfig

	// FreeGrantSecret keys the hash under which addresses that received
	// free requests are recorded, so each address gets them once, ever
	// (AUTH_FREE_GRANT_SECRET, required, at least 32 characters). Changing
	// it forgets every address recorded so far.
	FreeGrantSecret string

	// MailSealKey seals the link of every sign-in mail for the notifier,
	// which holds the same key (MAIL_SEAL_KEY, required: standard base64
	// of 32 random bytes, `openssl rand -base64 32`). Nobody else reading
	// the MAIL stream can read the link.
	MailSealKey string

	// Dashboard is what the web pages show that is not per user.
	Dashboard DashboardConfig
	// Assistant is the dashboard's assistant (off without an API key).
	Assistant AssistantConfig

	// AdminAddr is where main's admin server (pkg/boot) serves /healthz,
	// /readyz and /metrics (AUTH_ADMIN_ADDR, or its older name
	// AUTH_METRICS_ADDR), apart from the API's public address; New does not
	// listen on it.
	AdminAddr string
}

// GoogleConfig enables sign-in with Google when ClientID is set.
type GoogleConfig struct {
	ClientID, ClientSecret string
	Issuer                 string // https://accounts.google.com
}

// GitHubConfig enables sign-in with GitHub when ClientID is set. The URLs
// default to GitHub's.
type GitHubConfig struct {
	ClientID, ClientSecret    string
	AuthURL, TokenURL, APIURL string
}

// MinFreeGrantSecret is the shortest AUTH_FREE_GRANT_SECRET accepted.
const MinFreeGrantSecret = 32

// DefaultConfig is the auth service's configuration with nothing set:
// every default, written here (or in the named constants it uses) once.
// PublicURL is left empty: ConfigFromEnv derives it from the address.
func DefaultConfig() Config {
	return Config{
		Addr:                 "127.0.0.1:8081",
		AdminAddr:            "127.0.0.1:9091",
		MagicLinksPerAddress: 5,
		MagicLinksPerIP:      30,
		// Bounds the links mailed to one address per window from all IPs
		// together.
		MagicLinksAddressCap: 20,
		MagicLinkWindow:      15 * time.Minute,
		Google:               GoogleConfig{Issuer: "https://accounts.google.com"},
		Dashboard:            DashboardConfig{GatewayPublicURL: DefaultGatewayPublicURL, CheckoutMin: DefaultCheckoutMin, CheckoutMax: DefaultCheckoutMax},
		Assistant:            AssistantConfig{}.withDefaults(),
	}
}

// ConfigFromEnv reads the environment on top of DefaultConfig; every
// problem is reported together (Validate's included). NATS_URL,
// MONGODB_URI and the other variables common to every service are
// pkg/boot's.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	r := config.NewReader(getenv)
	d := DefaultConfig()
	c := Config{
		Addr:                 r.String("AUTH_ADDR", d.Addr),
		AdminAddr:            r.String("AUTH_ADMIN_ADDR", r.String("AUTH_METRICS_ADDR", d.AdminAddr)),
		TrustProxy:           r.Bool("AUTH_TRUST_PROXY", d.TrustProxy),
		MagicLinksPerAddress: r.Int("AUTH_MAGIC_LINKS_PER_ADDRESS", d.MagicLinksPerAddress),
		MagicLinksPerIP:      r.Int("AUTH_MAGIC_LINKS_PER_IP", d.MagicLinksPerIP),
		MagicLinksAddressCap: r.Int("AUTH_MAGIC_LINKS_ADDRESS_CAP", d.MagicLinksAddressCap),
		MagicLinkWindow:      r.Duration("AUTH_MAGIC_LINK_WINDOW", d.MagicLinkWindow),
		Google: GoogleConfig{
			ClientID: r.String("GOOGLE_CLIENT_ID", ""), ClientSecret: r.String("GOOGLE_CLIENT_SECRET", ""),
			Issuer: r.String("GOOGLE_ISSUER", d.Google.Issuer),
		},
		GitHub: GitHubConfig{
			ClientID: r.String("GITHUB_CLIENT_ID", ""), ClientSecret: r.String("GITHUB_CLIENT_SECRET", ""),
			AuthURL: r.String("GITHUB_AUTH_URL", ""), TokenURL: r.String("GITHUB_TOKEN_URL", ""), APIURL: r.String("GITHUB_API_URL", ""),
		},
		FreeGrantSecret: r.String("AUTH_FREE_GRANT_SECRET", d.FreeGrantSecret),
		MailSealKey:     r.String("MAIL_SEAL_KEY", d.MailSealKey),
		Dashboard:       dashboardFromEnv(r),
		Assistant:       assistantFromEnv(r),
	}
	c.PublicURL = r.String("AUTH_PUBLIC_URL", "http://"+c.Addr)
	c.AppURL = r.String("AUTH_APP_URL", d.AppURL)
	if err := errors.Join(r.Err(), c.Validate()); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate reports every problem of c together, each named by its
// variable. New calls it.
func (c Config) Validate() error {
	var errs []error
	for _, p := range c.problems() {
		errs = append(errs, errors.New(p))
	}
	return errors.Join(errs...)
}

// problems lists what is wrong with c.
func (c Config) problems() []string {
	var out []string
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		out = append(out, "AUTH_PUBLIC_URL: want an absolute http(s) URL")
	}
	if c.AppURL != "" {
		if u, err := url.Parse(c.AppURL); err != nil || u.Host == "" {
			out = append(out, "AUTH_APP_URL: want an absolute URL")
		}
	}
	if (c.Google.ClientID == "") != (c.Google.ClientSecret == "") {
		out = append(out, "GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET go together")
	}
	if (c.GitHub.ClientID == "") != (c.GitHub.ClientSecret == "") {
		out = append(out, "GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET go together")
	}
	out = append(out, c.Dashboard.problems()...)
	out = append(out, c.Assistant.problems()...)
	if len(c.FreeGrantSecret) < MinFreeGrantSecret {
		out = append(out, fmt.Sprintf("AUTH_FREE_GRANT_SECRET: want a random secret of at least %d characters", MinFreeGrantSecret))
	}
	if _, err := events.ParseMailSealKey(c.MailSealKey); c.MailSealKey == "" {
		out = append(out, "MAIL_SEAL_KEY: required, the key sign-in links are sealed with for the notifier (standard base64 of 32 random bytes: `openssl rand -base64 32`)")
	} else if err != nil {
		out = append(out, fmt.Sprintf("MAIL_SEAL_KEY: %v", err))
	}
	if c.MagicLinksPerAddress < 0 || c.MagicLinksPerIP < 0 || c.MagicLinksAddressCap < 0 {
		out = append(out, "AUTH_MAGIC_LINKS_PER_ADDRESS, AUTH_MAGIC_LINKS_PER_IP and AUTH_MAGIC_LINKS_ADDRESS_CAP must not be negative")
	}
	return out
}

func (c Config) magicAddressCap() int {
	if c.MagicLinksAddressCap == 0 {
		return DefaultConfig().MagicLinksAddressCap
	}
	return c.MagicLinksAddressCap
}

func (c Config) callback(provider string) string {
	return strings.TrimSuffix(c.PublicURL, "/") + "/api/auth/" + provider + "/callback"
}
