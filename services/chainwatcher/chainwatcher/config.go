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
	// RPCTimeout bounds each JSON-RPC call (CHAINWATCHER_RPC_TIMEOUT), so a
	// slow or hanging answer about one claim cannot hold up a pass.
	RPCTimeout time.Duration
	// Concurrency is how many claims one pass checks at once
	// (CHAINWATCHER_CONCURRENCY).
	Concurrency int
	// NotFoundBackoffMax caps the wait before a claim whose transaction
	// was never found is looked up again (CHAINWATCHER_NOT_FOUND_BACKOFF_MAX):
	// the wait starts at two poll intervals and doubles per miss.
	NotFoundBackoffMax time.Duration
}

// defaults fills what is unset.
func (c *Config) defaults() {
	if c.PollInterval <= 0 {
		c.PollInterval = 15 * time.Second
	}
	if c.ClaimTimeout <= 0 {
		c.ClaimTimeout = 24 * time.Hour
	}
	if c.RPCTimeout <= 0 {
		c.RPCTimeout = 10 * time.Second
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 8
	}
	if c.NotFoundBackoffMax <= 0 {
		c.NotFoundBackoffMax = 5 * time.Minute
	}
}

// ConfigFromEnv reads Config, reporting every problem together.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	r := config.NewReader(getenv)
	c := Config{
		Addr:               r.String("CHAINWATCHER_ADDR", ""),
		NATSURL:            r.Required("NATS_URL"),
		MongoURI:           r.Required("MONGODB_URI"),
		MongoDB:            r.String("MONGODB_DB", "onekey"),
		PollInterval:       r.Duration("CHAINWATCHER_POLL_INTERVAL", 15*time.Second),
		ClaimTimeout:       r.Duration("CHAINWATCHER_CLAIM_TIMEOUT", 24*time.Hour),
		RPCTimeout:         r.Duration("CHAINWATCHER_RPC_TIMEOUT", 10*time.Second),
		Concurrency:        r.Int("CHAINWATCHER_CONCURRENCY", 8),
		NotFoundBackoffMax: r.Duration("CHAINWATCHER_NOT_FOUND_BACKOFF_MAX", 5*time.Minute),
	}
	if c.Concurrency < 1 || c.Concurrency > 256 {
		r.Fail("CHAINWATCHER_CONCURRENCY=%d: want 1..256", c.Concurrency)
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
