package payments

import (
	"errors"
	"net/url"
	"time"

	"github.com/onekey-oss/onekey/api/cryptopay"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/pkg/config"
)

// Config is payments' configuration: DefaultConfig, changed by
// ConfigFromEnv from the environment, or by tests and devstack directly (New
// takes what they leave zero from DefaultConfig and validates the result).
type Config struct {
	// Addr serves POST /webhooks/stripe (PAYMENTS_ADDR; "127.0.0.1:0" for
	// any free port). Empty: no HTTP listener (Handler still serves).
	Addr string
	// AdminAddr is where main's admin server (pkg/boot) serves /healthz,
	// /readyz and /metrics (PAYMENTS_ADMIN_ADDR); New does not listen on it.
	AdminAddr string

	// StripeSecretKey (STRIPE_SECRET_KEY) creates Checkout Sessions and
	// lists events for reconcile. Empty: checkout answers "unavailable".
	StripeSecretKey string
	// StripeWebhookSecret (STRIPE_WEBHOOK_SECRET) verifies webhook
	// signatures. Empty: the webhook answers 503.
	StripeWebhookSecret string
	// StripeAPIBase (STRIPE_API_BASE) overrides https://api.stripe.com,
	// e.g. for stripe-mock.
	StripeAPIBase string

	// CheckoutMin and CheckoutMax bound a top-up (CHECKOUT_MIN_USD,
	// CHECKOUT_MAX_USD).
	CheckoutMin money.Micros
	CheckoutMax money.Micros

	// Chains are the supported crypto chains (see cryptopay.ChainsFromEnv).
	Chains []cryptopay.Chain
	// NonceTTL is how long a wallet-link message may be signed
	// (WALLET_NONCE_TTL).
	NonceTTL time.Duration
	// DevTopUp (PAYMENTS_DEV_TOPUP, devstack only) makes checkout, when no
	// Stripe key is set, answer with a page of this service that credits
	// the amount at the press of a button clearly labelled as not a
	// payment: the credit path can be tried on a fresh machine. Refused
	// together with a Stripe key.
	DevTopUp bool
	// PublicURL is where browsers reach this service (PAYMENTS_PUBLIC_URL;
	// empty: http:// + the address listened on); the dev top-up page lives
	// under it.
	PublicURL string
	// OutboxInterval is how often stored but unpublished payments are
	// published again (PAYMENTS_OUTBOX_INTERVAL).
	OutboxInterval time.Duration
	// MaxPendingClaims is how many crypto claims one account may have
	// pending at once (PAYMENTS_MAX_PENDING_CLAIMS). It bounds the work made-up claims can make for chainwatcher.
	MaxPendingClaims int
}

// DefaultConfig is payments' configuration with nothing set: every
// default, written here once. Without Stripe keys and chains.
func DefaultConfig() Config {
	return Config{
		Addr:             "127.0.0.1:8082",
		AdminAddr:        "127.0.0.1:9092",
		CheckoutMin:      5 * money.Dollar,
		CheckoutMax:      1000 * money.Dollar,
		NonceTTL:         15 * time.Minute,
		OutboxInterval:   30 * time.Second,
		MaxPendingClaims: 10,
	}
}

// ConfigFromEnv reads Config on top of DefaultConfig, reporting every
// problem together (Validate's included). NATS_URL, MONGODB_URI and the
// other variables common to every service are pkg/boot's.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	r := config.NewReader(getenv)
	d := DefaultConfig()
	c := Config{
		Addr:                r.String("PAYMENTS_ADDR", d.Addr),
		AdminAddr:           r.String("PAYMENTS_ADMIN_ADDR", d.AdminAddr),
		StripeSecretKey:     r.String("STRIPE_SECRET_KEY", d.StripeSecretKey),
		StripeWebhookSecret: r.String("STRIPE_WEBHOOK_SECRET", d.StripeWebhookSecret),
		StripeAPIBase:       r.String("STRIPE_API_BASE", d.StripeAPIBase),
		CheckoutMin:         r.Money("CHECKOUT_MIN_USD", d.CheckoutMin),
		CheckoutMax:         r.Money("CHECKOUT_MAX_USD", d.CheckoutMax),
		NonceTTL:            r.Duration("WALLET_NONCE_TTL", d.NonceTTL),
		OutboxInterval:      r.Duration("PAYMENTS_OUTBOX_INTERVAL", d.OutboxInterval),
		DevTopUp:            r.Bool("PAYMENTS_DEV_TOPUP", d.DevTopUp),
		PublicURL:           r.String("PAYMENTS_PUBLIC_URL", d.PublicURL),
		MaxPendingClaims:    r.Int("PAYMENTS_MAX_PENDING_CLAIMS", d.MaxPendingClaims),
	}
	chains, err := cryptopay.ChainsFromEnv(getenv)
	if err != nil {
		r.Fail("%v", err)
	}
	c.Chains = chains
	if err := errors.Join(r.Err(), c.Validate()); err != nil {
		return Config{}, err
	}
	return c, nil
}

type configError string

func (e configError) Error() string { return string(e) }

// Validate reports every problem of c together, each named by its
// variable. New calls it after taking the zero fields from DefaultConfig.
func (c Config) Validate() error {
	var errs []error
	bad := func(msg string) { errs = append(errs, configError(msg)) }
	if c.CheckoutMin <= 0 || c.CheckoutMax < c.CheckoutMin {
		bad("CHECKOUT_MIN_USD must be positive and at most CHECKOUT_MAX_USD")
	}
	if c.CheckoutMin%money.Cent != 0 || c.CheckoutMax%money.Cent != 0 {
		bad("CHECKOUT_MIN_USD and CHECKOUT_MAX_USD must be whole cents")
	}
	if c.DevTopUp && c.StripeSecretKey != "" {
		bad("PAYMENTS_DEV_TOPUP is for machines without STRIPE_SECRET_KEY; unset one of them")
	}
	if c.MaxPendingClaims < 1 || c.MaxPendingClaims > 1000 {
		bad("PAYMENTS_MAX_PENDING_CLAIMS must be between 1 and 1000")
	}
	if c.PublicURL != "" && !absoluteHTTP(c.PublicURL) {
		bad("PAYMENTS_PUBLIC_URL must be an http(s) URL")
	}
	if c.StripeAPIBase != "" {
		if u, err := url.Parse(c.StripeAPIBase); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("STRIPE_API_BASE must be an http(s) URL")
		}
	}
	if c.NonceTTL <= 0 {
		bad("WALLET_NONCE_TTL must be positive")
	}
	if c.OutboxInterval <= 0 {
		bad("PAYMENTS_OUTBOX_INTERVAL must be positive")
	}
	return errors.Join(errs...)
}
