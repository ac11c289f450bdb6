package auth

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/config"
	"github.com/onekey-oss/onekey/services/auth/internal/accounts"
	"github.com/onekey-oss/onekey/services/auth/internal/assistant"
)

// AssistantConfig turns on the dashboard's assistant (Anthropic's Messages
// API with read-only tools over the signed-in user's own account). Without
// an APIKey it is off and the panel is not shown.
type AssistantConfig struct {
	// APIKey and BaseURL reach the Messages API
	// (ASSISTANT_ANTHROPIC_API_KEY, ASSISTANT_ANTHROPIC_BASE_URL: Anthropic,
	// or a onekey gateway with an operator's key).
	APIKey, BaseURL string
	// Model answers (ASSISTANT_MODEL): a Claude model of the catalog, whose
	// prices count the assistant's cost.
	Model string
	// QuestionsPerHour is what one user may ask per UTC hour
	// (ASSISTANT_QUESTIONS_PER_HOUR), for all auth replicas together.
	QuestionsPerHour int
	// DailyCap is what the assistant may spend per UTC day for all users
	// and replicas together (ASSISTANT_DAILY_CAP_USD).
	DailyCap money.Micros
	// MaxTokens bounds each answer (ASSISTANT_MAX_TOKENS).
	MaxTokens int64
}

// Assistant defaults.
const (
	DefaultAssistantBaseURL    = "https://api.anthropic.com"
	DefaultAssistantModel      = "claude-sonnet-5"
	DefaultAssistantPerHour    = 30
	DefaultAssistantDailyCap   = 5 * money.Dollar
	DefaultAssistantMaxTokens  = 1024
	assistantKVTimeout         = 3 * time.Second // one try to bind bucket assistant
	assistantHTTPTimeout       = 2 * time.Minute
	maxAssistantQuestionsPerHr = 10_000
	maxAssistantOutputTokens   = 16_000
)

func assistantFromEnv(r *config.Reader) AssistantConfig {
	return AssistantConfig{
		APIKey:           r.String("ASSISTANT_ANTHROPIC_API_KEY", ""),
		BaseURL:          r.String("ASSISTANT_ANTHROPIC_BASE_URL", DefaultAssistantBaseURL),
		Model:            r.String("ASSISTANT_MODEL", DefaultAssistantModel),
		QuestionsPerHour: r.Int("ASSISTANT_QUESTIONS_PER_HOUR", DefaultAssistantPerHour),
		DailyCap:         r.Money("ASSISTANT_DAILY_CAP_USD", DefaultAssistantDailyCap),
		MaxTokens:        r.Int64("ASSISTANT_MAX_TOKENS", DefaultAssistantMaxTokens),
	}
}

// withDefaults fills what a Config built in code left zero.
func (c AssistantConfig) withDefaults() AssistantConfig {
	if c.BaseURL == "" {
		c.BaseURL = DefaultAssistantBaseURL
	}
	if c.Model == "" {
		c.Model = DefaultAssistantModel
	}
	if c.QuestionsPerHour == 0 {
		c.QuestionsPerHour = DefaultAssistantPerHour
	}
	if c.DailyCap == 0 {
		c.DailyCap = DefaultAssistantDailyCap
	}
	if c.MaxTokens == 0 {
		c.MaxTokens = DefaultAssistantMaxTokens
	}
	return c
}

func (c AssistantConfig) problems() []string {
	if c.APIKey == "" {
		return nil
	}
	c = c.withDefaults()
	var out []string
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		out = append(out, "ASSISTANT_ANTHROPIC_BASE_URL: want an absolute http(s) URL")
	}
	cat, err := catalog.Default()
	if err != nil {
		out = append(out, "catalog: "+err.Error())
	} else if m, ok := cat.Lookup(c.Model); !ok || m.Provider != catalog.Anthropic {
		out = append(out, fmt.Sprintf("ASSISTANT_MODEL: %q is not a Claude model of the catalog", c.Model))
	}
	if c.QuestionsPerHour < 1 || c.QuestionsPerHour > maxAssistantQuestionsPerHr {
		out = append(out, fmt.Sprintf("ASSISTANT_QUESTIONS_PER_HOUR: want 1 to %d", maxAssistantQuestionsPerHr))
	}
	if c.DailyCap <= 0 {
		out = append(out, "ASSISTANT_DAILY_CAP_USD: want more than 0")
	}
	if c.MaxTokens < 256 || c.MaxTokens > maxAssistantOutputTokens {
		out = append(out, fmt.Sprintf("ASSISTANT_MAX_TOKENS: want 256 to %d", maxAssistantOutputTokens))
	}
	return out
}

// newAssistant builds the assistant when it is configured (nil when not).
func newAssistant(cfg Config, acc *accounts.Store, b *bus.Bus, d Deps, log *slog.Logger) (*assistant.Assistant, error) {
	c := cfg.Assistant
	if c.APIKey == "" {
		return nil, nil
	}
	c = c.withDefaults()
	// Bound on first use (the bucket may not be declared yet), each try
	// bounded so that a question is refused quickly rather than held.
	openKV := func(ctx context.Context) (jetstream.KeyValue, error) {
		ctx, cancel := context.WithTimeout(ctx, assistantKVTimeout)
		defer cancel()
		return b.KV(ctx, events.BucketAssistant)
	}
	// Its own client: answers stream for longer than the sign-in calls' timeout.
	client := &http.Client{Timeout: assistantHTTPTimeout}
	gw := cfg.Dashboard.GatewayPublicURL
	if gw == "" {
		gw = DefaultGatewayPublicURL
	}
	return assistant.New(assistant.Config{
		APIKey: c.APIKey, BaseURL: c.BaseURL, Model: c.Model, MaxTokens: c.MaxTokens,
		QuestionsPerHour: c.QuestionsPerHour, DailyCap: c.DailyCap, GatewayURL: gw,
	}, assistant.Deps{Accounts: acc, OpenKV: openKV, HTTPClient: client, Now: d.Now, Logger: log})
}

// AssistantSpent is what the assistant has spent today (UTC), in
// micro-USD, as counted in KV assistant for every replica; 0 when the
// assistant is off.
func (s *Service) AssistantSpent(ctx context.Context) (money.Micros, error) {
	if s.assistant == nil {
		return 0, nil
	}
	return s.assistant.Spent(ctx)
}
