package payments

import (
	"net/url"
	"time"

	"github.com/onekey-oss/onekey/api/cryptopay"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/pkg/config"
)

// Config is everything payments reads from its environment.
type Config struct {
	// Addr serves POST /webhooks/stripe (PAYMENTS_ADDR; "127.0.0.1:0" for
	// any free port). Empty: no HTTP listener (Handler still serves).
	Addr string
	// NATSURL, MongoURI and MongoDB are used by main to build Deps.
	NATSURL  string
	MongoURI string
	MongoDB  string

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
	// pending at once (PAYMENTS_MAX_PENDING_CLAIMS; 0: the default, 10).
	// It bounds the work made-up claims can make for chainwatcher.
	MaxPendingClaims int
}

// ConfigFromEnv reads Config, reporting every problem together.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	r := config.NewReader(getenv)
	c := Config{
		Addr:                r.String("PAYMENTS_ADDR", "127.0.0.1:8082"),
		NATSURL:             r.Required("NATS_URL"),
		MongoURI:            r.Required("MONGODB_URI"),
		MongoDB:             r.String("MONGODB_DB", "onekey"),
		StripeSecretKey:     r.String("STRIPE_SECRET_KEY", ""),
		StripeWebhookSecret: r.String("STRIPE_WEBHOOK_SECRET", ""),
		StripeAPIBase:       r.String("STRIPE_API_BASE", ""),
		CheckoutMin:         r.Money("CHECKOUT_MIN_USD", 5*money.Dollar),
		CheckoutMax:         r.Money("CHECKOUT_MAX_USD", 1000*money.Dollar),
		NonceTTL:            r.Duration("WALLET_NONCE_TTL", 15*time.Minute),
		OutboxInterval:      r.Duration("PAYMENTS_OUTBOX_INTERVAL", 30*time.Second),
		DevTopUp:            r.Bool("PAYMENTS_DEV_TOPUP", false),
		PublicURL:           r.String("PAYMENTS_PUBLIC_URL", ""),
		MaxPendingClaims:    r.Int("PAYMENTS_MAX_PENDING_CLAIMS", DefaultMaxPendingClaims),
	}
	chains, err := cryptopay.ChainsFromEnv(getenv)
	if err != nil {
		r.Fail("%v", err)
	}
	c.Chains = chains
	if err := c.validate(); err != nil {
		r.Fail("%v", err)
	}
	return c, r.Err()
}

type configError string

func (e configError) Error() string { return string(e) }

func (c Config) validate() error {
	switch {
	case c.CheckoutMin <= 0 || c.CheckoutMax < c.CheckoutMin:
		return configError("CHECKOUT_MIN_USD must be positive and at most CHECKOUT_MAX_USD")
	case c.CheckoutMin%money.Cent != 0 || c.CheckoutMax%money.Cent != 0:
		return configError("CHECKOUT_MIN_USD and CHECKOUT_MAX_USD must be whole cents")
	case c.DevTopUp && c.StripeSecretKey != "":
		return configError("PAYMENTS_DEV_TOPUP is for machines without STRIPE_SECRET_KEY; unset one of them")
	case c.MaxPendingClaims < 0 || c.MaxPendingClaims > 1000:
		return configError("PAYMENTS_MAX_PENDING_CLAIMS must be between 1 and 1000")
	case c.PublicURL != "" && !absoluteHTTP(c.PublicURL):
		return configError("PAYMENTS_PUBLIC_URL must be an http(s) URL")
	case c.StripeAPIBase != "":
		if u, err := url.Parse(c.StripeAPIBase); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return configError("STRIPE_API_BASE must be an http(s) URL")
		}
	}
	return nil
}
