package chainwatcher

import (
	"errors"
	"fmt"
	"time"

	"github.com/onekey-oss/onekey/api/cryptopay"
	"github.com/onekey-oss/onekey/pkg/config"
)

// Config is chainwatcher's configuration: DefaultConfig, changed by
// ConfigFromEnv from the environment, or by tests and devstack directly (New
// takes the numbers they leave zero from DefaultConfig and validates).
type Config struct {
	// AdminAddr is where main's admin server (pkg/boot) serves /healthz,
	// /readyz and /metrics (CHAINWATCHER_ADMIN_ADDR, or its older name
	// CHAINWATCHER_ADDR); New does not listen on it.
	AdminAddr string
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

// DefaultConfig is chainwatcher's configuration with nothing set: every
// default, written here once. No chains.
func DefaultConfig() Config {
	return Config{
		AdminAddr:          "127.0.0.1:9095",
		PollInterval:       15 * time.Second,
		ClaimTimeout:       24 * time.Hour,
		RPCTimeout:         10 * time.Second,
		Concurrency:        8,
		NotFoundBackoffMax: 5 * time.Minute,
	}
}

// ConfigFromEnv reads Config on top of DefaultConfig, reporting every
// problem together (Validate's included). NATS_URL, MONGODB_URI and the
// other variables common to every service are pkg/boot's.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	r := config.NewReader(getenv)
	d := DefaultConfig()
	c := Config{
		AdminAddr:          r.String("CHAINWATCHER_ADMIN_ADDR", r.String("CHAINWATCHER_ADDR", d.AdminAddr)),
		PollInterval:       r.Duration("CHAINWATCHER_POLL_INTERVAL", d.PollInterval),
		ClaimTimeout:       r.Duration("CHAINWATCHER_CLAIM_TIMEOUT", d.ClaimTimeout),
		RPCTimeout:         r.Duration("CHAINWATCHER_RPC_TIMEOUT", d.RPCTimeout),
		Concurrency:        r.Int("CHAINWATCHER_CONCURRENCY", d.Concurrency),
		NotFoundBackoffMax: r.Duration("CHAINWATCHER_NOT_FOUND_BACKOFF_MAX", d.NotFoundBackoffMax),
	}
	chains, err := cryptopay.ChainsFromEnv(getenv)
	if err != nil {
		r.Fail("%v", err)
	}
	for _, ch := range chains {
		// Required from the environment; New also takes a chain without
		// one when Deps.Clients has its client.
		if ch.RPCURL == "" {
			r.Fail("CHAIN_%s_RPC_URL is required by chainwatcher", upper(ch.Name))
		}
	}
	c.Chains = chains
	if err := errors.Join(r.Err(), c.Validate()); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate reports every problem of c together, each named by its
// variable. New calls it after taking the zero numbers from DefaultConfig.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Concurrency < 1 || c.Concurrency > 256 {
		bad("CHAINWATCHER_CONCURRENCY=%d: want 1..256", c.Concurrency)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"CHAINWATCHER_POLL_INTERVAL", c.PollInterval}, {"CHAINWATCHER_CLAIM_TIMEOUT", c.ClaimTimeout},
		{"CHAINWATCHER_RPC_TIMEOUT", c.RPCTimeout}, {"CHAINWATCHER_NOT_FOUND_BACKOFF_MAX", c.NotFoundBackoffMax},
	} {
		if d.v <= 0 {
			bad("%s=%s: want a positive duration", d.name, d.v)
		}
	}
	return errors.Join(errs...)
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
