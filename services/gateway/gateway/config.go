package gateway

import (
	"encoding/json"
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

// Config is the gateway's configuration. ConfigFromEnv reads it from the
// environment; tests and devstack fill it in directly.
type Config struct {
	// Addr to listen on ("127.0.0.1:0" for any free port; "" for no
	// listener, when only Handler is used).
	Addr string
	// AdminAddr is the operators' listener: /metrics, /healthz and /readyz
	// ("" for none; AdminHandler serves the same). /metrics is never on
	// Addr, the public port.
	AdminAddr string
	// NATSURL is where the bus is (read by main.go, which connects).
	NATSURL string
	// CatalogFile, when set, extends or overrides the built-in catalog
	// (api/catalog.Load describes the format).
	CatalogFile string
	// MarkupBasisPoints is added to every cost (100 = 1%). Default 0.
	MarkupBasisPoints int64
	// Channels are the upstreams, from the providers' env vars and
	// ChannelsFile.
	Channels []ChannelConfig
	// OutboxDir holds usage events waiting for the bus.
	OutboxDir string
	// OutboxMaxBytes bounds OutboxDir; when it is full the gateway answers
	// 503 rather than serve requests it could not bill. Default 64 MiB.
	OutboxMaxBytes int64
	// PublishTimeout is how long a usage event may wait for the bus's ack
	// before it is written to the outbox on disk. Default 5s.
	PublishTimeout time.Duration
	// MaxBodyBytes bounds a request body (413 beyond). Default 32 MB, the
	// most Anthropic's Messages API takes (DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// MaxInflightBodyBytes bounds the request body bytes held in memory
	// across all requests (503 beyond). At least MaxBodyBytes. Default
	// 256 MiB.
	MaxInflightBodyBytes int64
	// HeaderTimeout bounds how long a client may take to send its headers;
	// BodyTimeout its body. Defaults 10s and 60s.
	HeaderTimeout time.Duration
	BodyTimeout   time.Duration
	// ConnectTimeout bounds the upstream TCP+TLS connect; FirstByteTimeout
	// the wait for the upstream's response headers; IdleTimeout the silence
	// allowed inside an upstream response. Defaults 10s, 300s, 120s.
	ConnectTimeout   time.Duration
	FirstByteTimeout time.Duration
	IdleTimeout      time.Duration
	// Retries is how many times a request moves on to another channel
	// before its first byte (connect error, 429, 5xx). 0 means the default,
	// 2; a negative value disables retries.
	Retries int
	// Cooldown is how long a failed channel is skipped (doubling with each
	// failure in a row, up to 16×). Default 30s.
	Cooldown time.Duration
	// ShutdownTimeout bounds the drain of in-flight requests. Default 30s.
	ShutdownTimeout time.Duration
	// CountTokensRPM is how many /v1/messages/count_tokens requests one key
	// may make per minute (429 beyond): they are free to the caller but
	// spend the operator's provider quota. Default 60.
	CountTokensRPM int
	// GenerationRPM is how many /v1/generation lookups one key may make
	// per minute (429 beyond): each costs the ledger a read. Default 600.
	GenerationRPM int
	// FreeRequestMaxMicros is the most one free request may cost at
	// catalog prices: a request whose worst case is above it is paid (or
	// its output limit is lowered to fit). Default $0.05.
	FreeRequestMaxMicros money.Micros
	// LeaseValidity is how long a credit lease is used after the request
	// that last renewed it was sent; it must be shorter than the ledger's
	// LEDGER_LEASE_TTL. Default 30s.
	LeaseValidity time.Duration
	// LeaseTimeout bounds one lease request to the ledger; past it a
	// request the lease does not cover gets 503. Default 3s.
	LeaseTimeout time.Duration
	// ResponsesStore lets OpenAI and xAI store Responses API responses
	// (GATEWAY_RESPONSES_STORE, default off): the gateway then passes the
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

// DefaultAdminAddr is where ConfigFromEnv puts the admin listener: on the
// loopback interface, so metrics are private unless an operator opens them.
const DefaultAdminAddr = "127.0.0.1:9090"

// Default base URLs, in each provider SDK's own convention.
const (
	DefaultOpenAIBaseURL    = "https://api.openai.com/v1"
	DefaultAnthropicBaseURL = "https://api.anthropic.com"
	DefaultGeminiBaseURL    = "https://generativelanguage.googleapis.com/v1beta/openai"
	DefaultXAIBaseURL       = "https://api.x.ai/v1"
)

func (c *Config) defaults() {
	if c.OutboxMaxBytes <= 0 {
		c.OutboxMaxBytes = 64 << 20
	}
	if c.PublishTimeout <= 0 {
		c.PublishTimeout = 5 * time.Second
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxInflightBodyBytes <= 0 {
		c.MaxInflightBodyBytes = max(DefaultMaxInflightBodyBytes, c.MaxBodyBytes)
	}
	if c.HeaderTimeout <= 0 {
		c.HeaderTimeout = 10 * time.Second
	}
	if c.BodyTimeout <= 0 {
		c.BodyTimeout = 60 * time.Second
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 10 * time.Second
	}
	if c.FirstByteTimeout <= 0 {
		c.FirstByteTimeout = 300 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 120 * time.Second
	}
	switch {
	case c.Retries == 0:
		c.Retries = 2
	case c.Retries < 0:
		c.Retries = 0
	}
	if c.Cooldown <= 0 {
		c.Cooldown = 30 * time.Second
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.CountTokensRPM <= 0 {
		c.CountTokensRPM = DefaultCountTokensRPM
	}
	if c.GenerationRPM <= 0 {
		c.GenerationRPM = DefaultGenerationRPM
	}
	if c.FreeRequestMaxMicros <= 0 {
		c.FreeRequestMaxMicros = DefaultFreeRequestMaxMicros
	}
	if c.LeaseValidity <= 0 {
		c.LeaseValidity = 30 * time.Second
	}
	if c.LeaseTimeout <= 0 {
		c.LeaseTimeout = 3 * time.Second
	}
}

// DefaultMaxBodyBytes is 32 MB (decimal, as Anthropic counts): the most
// Anthropic's Messages and count_tokens endpoints accept. OpenAI documents
// up to 50 MB of image bytes per request, but Google's OpenAI-compatible
// endpoint takes 20 MB, and a body is better refused here than buffered,
// forwarded and refused upstream.
const DefaultMaxBodyBytes = 32_000_000

// DefaultMaxInflightBodyBytes bounds the bodies held at once: eight bodies
// of the largest size.
const DefaultMaxInflightBodyBytes = 256 << 20

// DefaultCountTokensRPM is the default per-key limit of count_tokens.
const DefaultCountTokensRPM = 60

// DefaultGenerationRPM is the default per-key limit of /v1/generation.
const DefaultGenerationRPM = 600

// DefaultFreeRequestMaxMicros is the default cap of one free request: $0.05.
const DefaultFreeRequestMaxMicros money.Micros = 50_000

// ConfigFromEnv reads the gateway's variables, reporting every problem
// together.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	r := config.NewReader(getenv)
	c := Config{
		Addr:                 r.String("GATEWAY_ADDR", "127.0.0.1:8080"),
		AdminAddr:            r.String("GATEWAY_ADMIN_ADDR", DefaultAdminAddr),
		NATSURL:              r.Required("NATS_URL"),
		CatalogFile:          r.String("GATEWAY_CATALOG_FILE", ""),
		MarkupBasisPoints:    r.Int64("GATEWAY_MARKUP_BPS", 0),
		OutboxDir:            r.String("GATEWAY_OUTBOX_DIR", "gateway-outbox"),
		OutboxMaxBytes:       r.Int64("GATEWAY_OUTBOX_MAX_BYTES", 64<<20),
		PublishTimeout:       r.Duration("GATEWAY_PUBLISH_TIMEOUT", 5*time.Second),
		MaxBodyBytes:         r.Int64("GATEWAY_MAX_BODY_BYTES", DefaultMaxBodyBytes),
		MaxInflightBodyBytes: r.Int64("GATEWAY_MAX_INFLIGHT_BODY_BYTES", DefaultMaxInflightBodyBytes),
		HeaderTimeout:        r.Duration("GATEWAY_HEADER_TIMEOUT", 10*time.Second),
		BodyTimeout:          r.Duration("GATEWAY_BODY_TIMEOUT", 60*time.Second),
		ConnectTimeout:       r.Duration("UPSTREAM_CONNECT_TIMEOUT", 10*time.Second),
		FirstByteTimeout:     r.Duration("UPSTREAM_FIRST_BYTE_TIMEOUT", 300*time.Second),
		IdleTimeout:          r.Duration("UPSTREAM_IDLE_TIMEOUT", 120*time.Second),
		Retries:              r.Int("GATEWAY_RETRIES", 2),
		Cooldown:             r.Duration("GATEWAY_CHANNEL_COOLDOWN", 30*time.Second),
		ShutdownTimeout:      r.Duration("GATEWAY_SHUTDOWN_TIMEOUT", 30*time.Second),
		FreeRequestMaxMicros: r.Money("GATEWAY_FREE_REQUEST_MAX_USD", DefaultFreeRequestMaxMicros),
		CountTokensRPM:       r.Int("GATEWAY_COUNT_TOKENS_RPM", DefaultCountTokensRPM),
		GenerationRPM:        r.Int("GATEWAY_GENERATION_RPM", DefaultGenerationRPM),
		LeaseValidity:        r.Duration("GATEWAY_LEASE_VALIDITY", 30*time.Second),
		LeaseTimeout:         r.Duration("GATEWAY_LEASE_TIMEOUT", 3*time.Second),
		ResponsesStore:       r.Bool("GATEWAY_RESPONSES_STORE", false),
	}
	if c.MaxBodyBytes < 1 {
		r.Fail("GATEWAY_MAX_BODY_BYTES=%d: want at least 1", c.MaxBodyBytes)
	}
	if c.MaxInflightBodyBytes < c.MaxBodyBytes {
		r.Fail("GATEWAY_MAX_INFLIGHT_BODY_BYTES=%d: want at least GATEWAY_MAX_BODY_BYTES (%d)", c.MaxInflightBodyBytes, c.MaxBodyBytes)
	}
	if c.CountTokensRPM < 1 {
		r.Fail("GATEWAY_COUNT_TOKENS_RPM=%d: want at least 1", c.CountTokensRPM)
	}
	if c.GenerationRPM < 1 {
		r.Fail("GATEWAY_GENERATION_RPM=%d: want at least 1", c.GenerationRPM)
	}
	if c.MarkupBasisPoints < 0 {
		r.Fail("GATEWAY_MARKUP_BPS=%d: must not be negative", c.MarkupBasisPoints)
	}
	if c.AdminAddr == c.Addr && !strings.HasSuffix(c.Addr, ":0") {
		r.Fail("GATEWAY_ADMIN_ADDR=%s: must differ from GATEWAY_ADDR (metrics are not served on the public port)", c.AdminAddr)
	}
	if c.Retries < 0 || c.Retries > 5 {
		r.Fail("GATEWAY_RETRIES=%d: want 0 to 5", c.Retries)
	}
	if c.Retries == 0 {
		c.Retries = -1 // an explicit 0 disables retries
	}
	chs, err := ChannelsFromEnv(getenv)
	if err != nil {
		r.Fail("%v", err)
	}
	c.Channels = chs
	if err := r.Err(); err != nil {
		return Config{}, err
	}
	return c, nil
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
