package chainwatcher

import (
	"time"

	"github.com/onekey-oss/onekey/api/cryptopay"
	"github.com/onekey-oss/onekey/pkg/config"
)

// Config is everything chainwatcher reads from its environment.
type Config struct {
	// Addr serves GET /healthz and /metrics (CHAINWATCHER_ADDR); empty:
	// none.
	Addr     string
	NATSURL  string
	MongoURI string
	MongoDB  string
	// Chains to watch, with their RPC URLs (cryptopay.ChainsFromEnv).
	Chains []cryptopay.Chain
	// PollInterval between passes over pending claims
	// (CHAINWATCHER_POLL_INTERVAL).
	PollInterval time.Duration
	// ClaimTimeout rejects a claim whose transfer was not found, or not
	// final, this long after it was made (CHAINWATCHER_CLAIM_TIMEOUT).
	ClaimTimeout time.Duration
}

// ConfigFromEnv reads Config, reporting every problem together.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	r := config.NewReader(getenv)
	c := Config{
		Addr:         r.String("CHAINWATCHER_ADDR", ""),
		NATSURL:      r.Required("NATS_URL"),
		MongoURI:     r.Required("MONGODB_URI"),
		MongoDB:      r.String("MONGODB_DB", "onekey"),
		PollInterval: r.Duration("CHAINWATCHER_POLL_INTERVAL", 15*time.Second),
		ClaimTimeout: r.Duration("CHAINWATCHER_CLAIM_TIMEOUT", 24*time.Hour),
	}
	chains, err := cryptopay.ChainsFromEnv(getenv)
	if err != nil {
		r.Fail("%v", err)
	}
	for _, ch := range chains {
		if ch.RPCURL == "" {
			r.Fail("CHAIN_%s_RPC_URL is required by chainwatcher", upper(ch.Name))
		}
	}
	c.Chains = chains
	return c, r.Err()
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z':
			b[i] = c - 'a' + 'A'
		case c == '-':
			b[i] = '_'
		}
	}
	return string(b)
}
