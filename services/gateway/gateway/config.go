package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/pkg/config"
	"github.com/onekey-oss/onekey/services/gateway/internal/channel"
)

// Config is the gateway's configuration: DefaultConfig, changed by
// ConfigFromEnv from the environment, or by tests and devstack directly (New
// takes what they leave zero from DefaultConfig and validates the result).
type Config struct {
	// Addr to listen on ("127.0.0.1:0" for any free port; "" for no
	// listener, when only Handler is used).
	Addr string
	// AdminAddr is where main's admin server (pkg/boot) serves /metrics,
	// /healthz and /readyz; New does not listen on it. /metrics is never on
	// Addr, the public port, so the two must differ.
	AdminAddr string
	// CatalogFile, when set, extends or overrides the built-in catalog
	// (api/catalog.Load describes the format).
	CatalogFile string
	// MarkupBasisPoints is added to every cost (100 = 1%).
	MarkupBasisPoints int64
	// Channels are the upstreams, from the providers' env vars and
	// ChannelsFile.
	Channels []ChannelConfig
	// OutboxDir holds usage events waiting for the bus.
	OutboxDir string
	// OutboxMaxBytes bounds OutboxDir; when it is full the gateway answers
	// 503 rather than serve requests it could not bill.
	OutboxMaxBytes int64
	// PublishTimeout is how long a usage event may wait for the bus's ack
	// before it is written to the outbox on disk.
	PublishTimeout time.Duration
	// MaxBodyBytes bounds a request body (413 beyond).
	MaxBodyBytes int64
	// MaxInflightBodyBytes bounds the request body bytes held in memory
	// across all requests (503 beyond). At least MaxBodyBytes.
	MaxInflightBodyBytes int64
	// HeaderTimeout bounds how long a client may take to send its headers;
	// BodyTimeout its body.
	HeaderTimeout time.Duration
	BodyTimeout   time.Duration
	// ConnectTimeout bounds the upstream TCP+TLS connect; FirstByteTimeout
	// the wait for the upstream's response headers; IdleTimeout the silence
	// allowed inside an upstream response.
	ConnectTimeout   time.Duration
	FirstByteTimeout time.Duration
	IdleTimeout      time.Duration
	// Retries is how many times a request moves on to another channel
	// before its first byte (connect error, 429, 5xx), at most 5. 0 takes
	// the default (New fills zero fields); a negative value disables
	// retries (ConfigFromEnv turns GATEWAY_RETRIES=0 into -1).
	Retries int
	// Cooldown is how long a failed channel is skipped (doubling with each
	// failure in a row, up to 16×).
	Cooldown time.Duration
	// ShutdownTimeout bounds the drain of in-flight requests.
	ShutdownTimeout time.Duration
	// CountTokensRPM is how many /v1/messages/count_tokens requests one key
	// may make per minute (429 beyond): they are free to the caller but
	// spend the operator's provider quota.
	CountTokensRPM int
	// GenerationRPM is how many /v1/generation lookups one key may make
	// per minute (429 beyond): each costs the ledger a read.
	GenerationRPM int
	// FreeRequestMaxMicros is the most one free request may cost at
	// catalog prices: a request whose worst case is above it is paid (or
	// its output limit is lowered to fit).
	FreeRequestMaxMicros money.Micros
	// LeaseValidity is how long a credit lease is used after the request
	// that last renewed it was sent; it must be shorter than the ledger's
	// LEDGER_LEASE_TTL.
	LeaseValidity time.Duration
	// LeaseTimeout bounds one lease request to the ledger; past it a
	// request the lease does not cover gets 503.
	LeaseTimeout time.Duration
	// ResponsesStore lets OpenAI and xAI store Responses API responses
	// (GATEWAY_RESPONSES_STORE, off by default): the gateway then passes the
	// client's store through (the providers default it to true), binds each
	// stored response's id to the account that created it in KV responses,
	// and serves previous_response_id and GET/DELETE /v1/responses/{id} to
	// that account only. Off, it sends store: false upstream and refuses
	// those with a 400 naming the variable: stored responses are content
	// kept at the provider under the operator's organization.
	ResponsesStore bool
}

// ChannelConfig is one upstream channel. In a channels file the key may be
// given indirectly as api_key_env, the name of a variable holding it.
type ChannelConfig struct {
	Name      string           `json:"name"`
	Provider  catalog.Provider `json:"provider"`
	BaseURL   string           `json:"base_url"`
	APIKey    string           `json:"api_key,omitempty"`
	APIKeyEnv string           `json:"api_key_env,omitempty"`
	Priority  int              `json:"priority"`
	Weight    int              `json:"weight"`
}

// Default base URLs, in each provider SDK's own convention.
const (
	DefaultOpenAIBaseURL    = "https://api.openai.com/v1"
	DefaultAnthropicBaseURL = "https://api.anthropic.com"
	DefaultGeminiBaseURL    = "https://generativelanguage.googleapis.com/v1beta/openai"
	DefaultXAIBaseURL       = "https://api.x.ai/v1"
)

// DefaultConfig is the gateway's configuration with nothing set: every
// default, written here once. No channels: ConfigFromEnv adds them.
func DefaultConfig() Config {
	return Config{
		Addr: "127.0.0.1:8080",
		// On the loopback interface, so metrics are private unless an
		// operator opens them.
		AdminAddr: "127.0.0.1:9090",
		OutboxDir: "gateway-outbox",
		// 64 MiB of usage events waiting for the bus.
		OutboxMaxBytes: 64 << 20,
		PublishTimeout: 5 * time.Second,
		// 32 MB (decimal, as Anthropic counts): the most Anthropic's
		// Messages and count_tokens endpoints accept. OpenAI documents up
		// to 50 MB of image bytes per request, but Google's
		// OpenAI-compatible endpoint takes 20 MB, and a body is better
		// refused here than buffered, forwarded and refused upstream.
		MaxBodyBytes: 32_000_000,
		// Eight bodies of the largest size.
		MaxInflightBodyBytes: 256 << 20,
		HeaderTimeout:        10 * time.Second,
		BodyTimeout:          60 * time.Second,
		ConnectTimeout:       10 * time.Second,
		FirstByteTimeout:     300 * time.Second,
		IdleTimeout:          120 * time.Second,
		Retries:              2,
		Cooldown:             30 * time.Second,
		ShutdownTimeout:      30 * time.Second,
		CountTokensRPM:       60,
		GenerationRPM:        600,
		FreeRequestMaxMicros: 50_000, // $0.05
		LeaseValidity:        30 * time.Second,
		LeaseTimeout:         3 * time.Second,
	}
}

// ConfigFromEnv reads the gateway's variables on top of DefaultConfig,
// reporting every problem together (Validate's included). NATS_URL and the
// other variables common to every service are pkg/boot's.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	r := config.NewReader(getenv)
	d := DefaultConfig()
	c := Config{
		Addr:                 r.String("GATEWAY_ADDR", d.Addr),
		AdminAddr:            r.String("GATEWAY_ADMIN_ADDR", d.AdminAddr),
		CatalogFile:          r.String("GATEWAY_CATALOG_FILE", d.CatalogFile),
		MarkupBasisPoints:    r.Int64("GATEWAY_MARKUP_BPS", d.MarkupBasisPoints),
		OutboxDir:            r.String("GATEWAY_OUTBOX_DIR", d.OutboxDir),
		OutboxMaxBytes:       r.Int64("GATEWAY_OUTBOX_MAX_BYTES", d.OutboxMaxBytes),
		PublishTimeout:       r.Duration("GATEWAY_PUBLISH_TIMEOUT", d.PublishTimeout),
		MaxBodyBytes:         r.Int64("GATEWAY_MAX_BODY_BYTES", d.MaxBodyBytes),
		MaxInflightBodyBytes: r.Int64("GATEWAY_MAX_INFLIGHT_BODY_BYTES", d.MaxInflightBodyBytes),
		HeaderTimeout:        r.Duration("GATEWAY_HEADER_TIMEOUT", d.HeaderTimeout),
		BodyTimeout:          r.Duration("GATEWAY_BODY_TIMEOUT", d.BodyTimeout),
		ConnectTimeout:       r.Duration("UPSTREAM_CONNECT_TIMEOUT", d.ConnectTimeout),
		FirstByteTimeout:     r.Duration("UPSTREAM_FIRST_BYTE_TIMEOUT", d.FirstByteTimeout),
		IdleTimeout:          r.Duration("UPSTREAM_IDLE_TIMEOUT", d.IdleTimeout),
		Retries:              r.Int("GATEWAY_RETRIES", d.Retries),
		Cooldown:             r.Duration("GATEWAY_CHANNEL_COOLDOWN", d.Cooldown),
		ShutdownTimeout:      r.Duration("GATEWAY_SHUTDOWN_TIMEOUT", d.ShutdownTimeout),
		FreeRequestMaxMicros: r.Money("GATEWAY_FREE_REQUEST_MAX_USD", d.FreeRequestMaxMicros),
		CountTokensRPM:       r.Int("GATEWAY_COUNT_TOKENS_RPM", d.CountTokensRPM),
		GenerationRPM:        r.Int("GATEWAY_GENERATION_RPM", d.GenerationRPM),
		LeaseValidity:        r.Duration("GATEWAY_LEASE_VALIDITY", d.LeaseValidity),
		LeaseTimeout:         r.Duration("GATEWAY_LEASE_TIMEOUT", d.LeaseTimeout),
		ResponsesStore:       r.Bool("GATEWAY_RESPONSES_STORE", d.ResponsesStore),
	}
	if c.Retries == 0 {
		c.Retries = -1 // an explicit 0 disables retries
	}
	chs, err := ChannelsFromEnv(getenv)
	if err != nil {
		r.Fail("%v", err)
	}
	c.Channels = chs
	if err := errors.Join(r.Err(), c.Validate()); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate reports every problem of c together, each named by its
// variable. New calls it after taking the zero fields from DefaultConfig.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.OutboxDir == "" {
		bad("GATEWAY_OUTBOX_DIR (OutboxDir) is required")
	}
	if c.MaxBodyBytes < 1 {
		bad("GATEWAY_MAX_BODY_BYTES=%d: want at least 1", c.MaxBodyBytes)
	}
	if c.MaxInflightBodyBytes < c.MaxBodyBytes {
		bad("GATEWAY_MAX_INFLIGHT_BODY_BYTES=%d: want at least GATEWAY_MAX_BODY_BYTES (%d)", c.MaxInflightBodyBytes, c.MaxBodyBytes)
	}
	if c.OutboxMaxBytes < 1 {
		bad("GATEWAY_OUTBOX_MAX_BYTES=%d: want at least 1", c.OutboxMaxBytes)
	}
	if c.CountTokensRPM < 1 {
		bad("GATEWAY_COUNT_TOKENS_RPM=%d: want at least 1", c.CountTokensRPM)
	}
	if c.GenerationRPM < 1 {
		bad("GATEWAY_GENERATION_RPM=%d: want at least 1", c.GenerationRPM)
	}
	if c.MarkupBasisPoints < 0 {
		bad("GATEWAY_MARKUP_BPS=%d: must not be negative", c.MarkupBasisPoints)
	}
	if c.FreeRequestMaxMicros < 0 {
		bad("GATEWAY_FREE_REQUEST_MAX_USD=%s: must not be negative", c.FreeRequestMaxMicros)
	}
	if c.AdminAddr != "" && c.AdminAddr == c.Addr && !strings.HasSuffix(c.Addr, ":0") {
		bad("GATEWAY_ADMIN_ADDR=%s: must differ from GATEWAY_ADDR (metrics are not served on the public port)", c.AdminAddr)
	}
	if c.Retries > 5 {
		bad("GATEWAY_RETRIES=%d: want 0 to 5", c.Retries)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"GATEWAY_PUBLISH_TIMEOUT", c.PublishTimeout}, {"GATEWAY_HEADER_TIMEOUT", c.HeaderTimeout},
		{"GATEWAY_BODY_TIMEOUT", c.BodyTimeout}, {"UPSTREAM_CONNECT_TIMEOUT", c.ConnectTimeout},
		{"UPSTREAM_FIRST_BYTE_TIMEOUT", c.FirstByteTimeout}, {"UPSTREAM_IDLE_TIMEOUT", c.IdleTimeout},
		{"GATEWAY_CHANNEL_COOLDOWN", c.Cooldown}, {"GATEWAY_SHUTDOWN_TIMEOUT", c.ShutdownTimeout},
		{"GATEWAY_LEASE_VALIDITY", c.LeaseValidity}, {"GATEWAY_LEASE_TIMEOUT", c.LeaseTimeout},
	} {
		if d.v <= 0 {
			bad("%s=%s: want a positive duration", d.name, d.v)
		}
	}
	if c.LeaseTimeout > 0 && c.LeaseValidity > 0 && c.LeaseTimeout >= c.LeaseValidity {
		// A reply that comes after the wait would be a lease already past
		// its validity when the next request looks at it: every request
		// would ask again and be refused.
		bad("GATEWAY_LEASE_TIMEOUT=%s: want less than GATEWAY_LEASE_VALIDITY (%s)", c.LeaseTimeout, c.LeaseValidity)
	}
	if err := validateChannels(c.Channels); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// ChannelsFromEnv reads the upstream channels: the default channel of each
// provider whose <PROVIDER>_API_KEY is set (OPENAI_, ANTHROPIC_, GEMINI_,
// XAI_; base URL from <PROVIDER>_BASE_URL), then those of the JSON file
// named by GATEWAY_CHANNELS_FILE.
func ChannelsFromEnv(getenv func(string) string) ([]ChannelConfig, error) {
	r := config.NewReader(getenv)
	var chs []ChannelConfig
	for _, p := range []struct {
		prefix, base string
		provider     catalog.Provider
	}{
		{"OPENAI", DefaultOpenAIBaseURL, catalog.OpenAI},
		{"ANTHROPIC", DefaultAnthropicBaseURL, catalog.Anthropic},
		{"GEMINI", DefaultGeminiBaseURL, catalog.Google},
		{"XAI", DefaultXAIBaseURL, catalog.XAI},
	} {
		key := r.String(p.prefix+"_API_KEY", "")
		if key == "" {
			continue
		}
		chs = append(chs, ChannelConfig{
			Name: string(p.provider), Provider: p.provider, APIKey: key,
			BaseURL: r.String(p.prefix+"_BASE_URL", p.base), Weight: 1,
		})
	}
	if path := r.String("GATEWAY_CHANNELS_FILE", ""); path != "" {
		more, err := readChannelsFile(path, getenv)
		if err != nil {
			r.Fail("GATEWAY_CHANNELS_FILE: %v", err)
		}
		chs = append(chs, more...)
	}
	if err := validateChannels(chs); err != nil {
		r.Fail("%v", err)
	}
	return chs, r.Err()
}

// readChannelsFile reads a JSON array of ChannelConfig.
func readChannelsFile(path string, getenv func(string) string) ([]ChannelConfig, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var chs []ChannelConfig
	if err := json.Unmarshal(raw, &chs); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for i := range chs {
		if chs[i].APIKey == "" && chs[i].APIKeyEnv != "" {
			chs[i].APIKey = getenv(chs[i].APIKeyEnv)
		}
	}
	return chs, nil
}

func validateChannels(chs []ChannelConfig) error {
	var bad []string
	names := map[string]bool{}
	for i, ch := range chs {
		switch ch.Provider {
		case catalog.OpenAI, catalog.Anthropic, catalog.Google, catalog.XAI:
		default:
			bad = append(bad, fmt.Sprintf("channel %d (%s): unknown provider %q", i, ch.Name, ch.Provider))
		}
		if u, err := url.Parse(ch.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad = append(bad, fmt.Sprintf("channel %d (%s): base URL %q is not an http(s) URL", i, ch.Name, ch.BaseURL))
		}
		if ch.APIKey == "" {
			bad = append(bad, fmt.Sprintf("channel %d (%s): no API key", i, ch.Name))
		}
		if ch.Name == "" || names[ch.Name] {
			bad = append(bad, fmt.Sprintf("channel %d: name %q is empty or repeated", i, ch.Name))
		}
		names[ch.Name] = true
	}
	if len(bad) > 0 {
		return fmt.Errorf("channels: %s", strings.Join(bad, "; "))
	}
	return nil
}

func buildChannels(cfgs []ChannelConfig) *channel.Set {
	chs := make([]*channel.Channel, 0, len(cfgs))
	for _, c := range cfgs {
		chs = append(chs, &channel.Channel{
			Name: c.Name, Provider: c.Provider, BaseURL: strings.TrimRight(c.BaseURL, "/"),
			APIKey: c.APIKey, Priority: c.Priority, Weight: c.Weight,
		})
	}
	return channel.NewSet(chs)
}
