// Package assistant is the dashboard's assistant: it answers a signed-in
// user's questions about their own account with Anthropic's Messages API
// (streamed, with tool use), through the official Go SDK.
//
// Its tools are read-only and take no account: they read the account of
// the session that asked (balance, usage, keys, payments), the gateway's
// model catalog and the product's documentation. It cannot change
// anything; for a change it links the page that makes it.
//
// Privacy: a conversation lives in the browser's page and in memory here
// for the time of one answer. It is sent to Anthropic and written nowhere
// else: no log line, database document, bus message or file. Only counts
// leave this package: questions per account per hour and micro-USD spent
// per day, in KV assistant.
package assistant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/services/auth/internal/accounts"
)

// Config is the assistant's behaviour.
type Config struct {
	// APIKey and BaseURL reach the Messages API (Anthropic, or a gateway
	// that speaks it).
	APIKey, BaseURL string
	// Model is the Claude model that answers; it must be in the catalog,
	// whose prices count the cost.
	Model string
	// MaxTokens bounds each answer's output.
	MaxTokens int64
	// QuestionsPerHour is what one account may ask per UTC hour.
	QuestionsPerHour int
	// DailyCap is what the assistant may spend per UTC day, for all users
	// and all replicas together.
	DailyCap money.Micros
	// GatewayURL is the gateway's public base URL (its /v1/models gives
	// the prices the assistant quotes; the docs show it).
	GatewayURL string
}

// Limits of one question.
const (
	MaxMessages      = 20   // messages of a conversation sent with a question
	MaxMessageChars  = 6000 // characters of one message
	maxRounds        = 6    // Messages API calls per question (tool use rounds)
	holdOverheadToks = 1000 // tokens Anthropic adds to a request (tool definitions' system prompt)
)

// Deps are what the assistant reads and counts with.
type Deps struct {
	Accounts *accounts.Store
	// OpenKV opens bucket assistant (events.BucketAssistant). It is called
	// on first use, and again after a failure: the bucket may not be
	// declared yet when auth starts.
	OpenKV func(context.Context) (jetstream.KeyValue, error)
	// HTTPClient reaches the Messages API and the gateway.
	HTTPClient *http.Client
	Now        func() time.Time
	Logger     *slog.Logger
}

// Assistant answers questions. Safe for concurrent use.
type Assistant struct {
	cfg    Config
	model  catalog.Model
	client anthropic.Client
	acc    *accounts.Store
	budget *budget
	models *modelList
	docs   func(string) (string, bool)
	now    func() time.Time
	log    *slog.Logger
}

// New builds the assistant.
func New(cfg Config, d Deps) (*Assistant, error) {
	if cfg.APIKey == "" || d.Accounts == nil || d.OpenKV == nil {
		return nil, errors.New("assistant: APIKey, Accounts and OpenKV are required")
	}
	cat, err := catalog.Default()
	if err != nil {
		return nil, fmt.Errorf("assistant: %w", err)
	}
	m, ok := cat.Lookup(cfg.Model)
	if !ok || m.Provider != catalog.Anthropic {
		return nil, fmt.Errorf("assistant: model %q is not a Claude model of the catalog", cfg.Model)
	}
	if cfg.MaxTokens <= 0 {
		cfg.MaxTokens = 1024
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.HTTPClient == nil {
		d.HTTPClient = &http.Client{Timeout: 2 * time.Minute}
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	// Nothing from the process's environment (ANTHROPIC_API_KEY is the
	// gateway's upstream key in devstack): only this config.
	opts := []option.RequestOption{option.WithoutEnvironmentDefaults(), option.WithAPIKey(cfg.APIKey), option.WithHTTPClient(d.HTTPClient), option.WithMaxRetries(1)}
	if cfg.BaseURL != "" {
		opts = append(opts, option.WithBaseURL(cfg.BaseURL))
	}
	return &Assistant{
		cfg: cfg, model: m, client: anthropic.NewClient(opts...), acc: d.Accounts,
		budget: &budget{kv: &boundKV{open: d.OpenKV}, perHr: cfg.QuestionsPerHour, cap: cfg.DailyCap, nowFor: d.Now},
		models: &modelList{url: strings.TrimSuffix(cfg.GatewayURL, "/") + "/v1/models", client: d.HTTPClient, now: d.Now},
		docs:   docReader(cfg.GatewayURL), now: d.Now, log: d.Logger,
	}, nil
}

// Message is one turn of a conversation, as the page keeps it.
type Message struct {
	Role    string `json:"role"` // user or assistant
	Content string `json:"content"`
}

// Event is what the page is streamed while an answer is written.
type Event struct {
	// Type is "text" (Text is the next piece of the answer), "tool" (Tool
	// is the tool being run, Text what the page shows meanwhile), "done",
	// or "error" (Code, Text: the message for the user).
	Type string `json:"type"`
	Text string `json:"text,omitempty"`
	Tool string `json:"tool,omitempty"`
	Code string `json:"code,omitempty"`
}

// ErrInvalid is a conversation the assistant does not take.
var ErrInvalid = errors.New("assistant: invalid conversation")

// Spent is what the assistant has spent today, in micro-USD (holds of
// answers being written included).
func (a *Assistant) Spent(ctx context.Context) (money.Micros, error) { return a.budget.spent(ctx) }

// Answer answers the conversation's last (user) message for account,
// calling emit with each piece of the answer as it is written. Before
// anything is sent to Anthropic it may refuse with ErrInvalid,
// ErrRateLimited or ErrDailyCap; ErrDailyCap can also come between tool
// rounds. Every call's cost is counted from its usage, at catalog prices.
func (a *Assistant) Answer(ctx context.Context, account string, conv []Message, emit func(Event) error) error {
	msgs, err := params(conv)
	if err != nil {
		return err
	}
	if err := a.budget.ask(ctx, account); err != nil {
		return err
	}
	tl := tools{acc: a.acc, models: a.models, docs: a.docs, now: a.now, account: account}
	system := []anthropic.TextBlockParam{{Text: a.systemPrompt()}}
	defs := toolDefs()
	for round := 1; ; round++ {
		p := anthropic.MessageNewParams{Model: anthropic.Model(a.model.UpstreamID), MaxTokens: a.cfg.MaxTokens, System: system, Messages: msgs, Tools: defs}
		if round == maxRounds {
			p.ToolChoice = anthropic.ToolChoiceUnionParam{OfNone: &anthropic.ToolChoiceNoneParam{}}
		}
		msg, err := a.call(ctx, p, emit)
		if err != nil {
			return err
		}
		if msg.StopReason != anthropic.StopReasonToolUse {
			return emit(Event{Type: "done"})
		}
		var results []anthropic.ContentBlockParamUnion
		for _, b := range msg.Content {
			tu, ok := b.AsAny().(anthropic.ToolUseBlock)
			if !ok {
				continue
			}
			if err := emit(Event{Type: "tool", Tool: tu.Name, Text: toolLabels[tu.Name]}); err != nil {
				return err
			}
			out, isErr, err := tl.run(ctx, tu.Name, tu.Input)
			if err != nil {
				return err
			}
			results = append(results, anthropic.NewToolResultBlock(tu.ID, out, isErr))
		}
		msgs = append(msgs, msg.ToParam(), anthropic.NewUserMessage(results...))
		if hasText(msg) {
			// The next round's text is a new paragraph of the same answer.
			if err := emit(Event{Type: "text", Text: "\n\n"}); err != nil {
				return err
			}
		}
	}
}

// call makes one streamed Messages API call within the daily cap: it
// reserves the call's worst case, streams text to emit, and settles the
// reservation at the cost of the usage the API reported.
func (a *Assistant) call(ctx context.Context, p anthropic.MessageNewParams, emit func(Event) error) (anthropic.Message, error) {
	raw, err := json.Marshal(p)
	if err != nil {
		return anthropic.Message{}, fmt.Errorf("assistant: encode request: %w", err)
	}
	// Every byte of the request counts as a token: no tokenizer spends less.
	hold := a.model.WorstCaseCost(int64(len(raw))+holdOverheadToks, p.MaxTokens, 0)
	day, err := a.budget.reserve(ctx, hold)
	if err != nil {
		return anthropic.Message{}, err
	}
	msg, streamErr := a.stream(ctx, p, emit)
	cost := hold
	if msg.ID != "" || apiRefused(streamErr) {
		// message_start came with the input usage, message_delta with the
		// output's; a refusal by the API is not billed.
		cost = a.model.Cost(catalog.Usage{
			InputTokens: msg.Usage.InputTokens, CachedInputTokens: msg.Usage.CacheReadInputTokens,
			CacheWriteTokens: msg.Usage.CacheCreationInputTokens, OutputTokens: msg.Usage.OutputTokens,
		}, 0)
	}
	// Settled even when the page has gone: the cost was spent.
	if err := a.budget.settle(context.WithoutCancel(ctx), day, hold, cost); err != nil {
		a.log.Error("assistant: settle the day's spend", "err", err)
	}
	if streamErr != nil {
		return msg, streamErr
	}
	return msg, nil
}

func (a *Assistant) stream(ctx context.Context, p anthropic.MessageNewParams, emit func(Event) error) (anthropic.Message, error) {
	s := a.client.Messages.NewStreaming(ctx, p)
	defer s.Close()
	var msg anthropic.Message
	for s.Next() {
		ev := s.Current()
		if err := msg.Accumulate(ev); err != nil {
			return msg, &UpstreamError{Status: 0, Kind: "bad_stream"}
		}
		if ev.Type == "content_block_delta" && ev.Delta.Type == "text_delta" && ev.Delta.Text != "" {
			if err := emit(Event{Type: "text", Text: ev.Delta.Text}); err != nil {
				return msg, err
			}
		}
	}
	if err := s.Err(); err != nil {
		return msg, upstreamError(ctx, err)
	}
	return msg, nil
}

// UpstreamError is a failed Messages API call, described without its
// body: an error body may quote the request, which must never be logged.
type UpstreamError struct {
	Status int    // HTTP status, 0 when there was none
	Kind   string // Anthropic's error type, or "unreachable", "bad_stream"
}

func (e *UpstreamError) Error() string {
	return fmt.Sprintf("assistant: messages api: %s (status %d)", e.Kind, e.Status)
}

func upstreamError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ae *anthropic.Error
	if errors.As(err, &ae) {
		kind := "api_error"
		if ae.StatusCode == http.StatusTooManyRequests {
			kind = "rate_limit_error"
		}
		return &UpstreamError{Status: ae.StatusCode, Kind: kind}
	}
	return &UpstreamError{Kind: "unreachable"}
}

// apiRefused reports whether the API answered with an error status, for
// which it bills nothing.
func apiRefused(err error) bool {
	var ue *UpstreamError
	return errors.As(err, &ue) && ue.Status >= 400
}

// params checks a conversation from the page and turns it into the API's
// messages: plain text turns, alternating, starting and ending with the
// user.
func params(conv []Message) ([]anthropic.MessageParam, error) {
	if len(conv) == 0 || len(conv) > MaxMessages {
		return nil, fmt.Errorf("%w: send 1 to %d messages", ErrInvalid, MaxMessages)
	}
	out := make([]anthropic.MessageParam, 0, len(conv))
	for i, m := range conv {
		want := "user"
		if i%2 == 1 {
			want = "assistant"
		}
		text := strings.TrimSpace(m.Content)
		switch {
		case m.Role != want:
			return nil, fmt.Errorf("%w: messages alternate user and assistant, starting with user", ErrInvalid)
		case text == "":
			return nil, fmt.Errorf("%w: a message is empty", ErrInvalid)
		case len([]rune(text)) > MaxMessageChars:
			return nil, fmt.Errorf("%w: a message is longer than %d characters", ErrInvalid, MaxMessageChars)
		}
		if want == "user" {
			out = append(out, anthropic.NewUserMessage(anthropic.NewTextBlock(text)))
		} else {
			out = append(out, anthropic.NewAssistantMessage(anthropic.NewTextBlock(text)))
		}
	}
	if conv[len(conv)-1].Role != "user" {
		return nil, fmt.Errorf("%w: the last message must be the user's", ErrInvalid)
	}
	return out, nil
}

func hasText(m anthropic.Message) bool {
	for _, b := range m.Content {
		if t, ok := b.AsAny().(anthropic.TextBlock); ok && strings.TrimSpace(t.Text) != "" {
			return true
		}
	}
	return false
}
