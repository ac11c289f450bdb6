package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/ids"
	"github.com/onekey-oss/onekey/services/gateway/internal/credit"
)

// GET /v1/generation?id=<request id> (OpenRouter's name and shape): the
// metadata of one of the caller's own requests, by the id every answer
// carries in x-request-id. The gateway has no database: it asks the ledger
// over NATS request/reply (ledger.generation.<account>, the account being
// the caller key's), and the ledger answers only with a usage row of that
// account, so another account's request is a 404 like an unknown one.
//
// The usage event reaches the ledger shortly after the answer has ended,
// so a lookup made right after it may find no row yet: an id the gateway
// could have made in the last generationRecent is asked about again, with
// a growing pause, for up to generationWait before it is a 404.
const (
	generationWait       = 5 * time.Second
	generationRecent     = time.Hour
	generationAskTimeout = 3 * time.Second
	// requestIDPrefix is newRequestID's.
	requestIDPrefix = "req"
)

// generations serves /v1/generation with its own per-key rate limit
// (GATEWAY_GENERATION_RPM): lookups cost the caller nothing and the ledger
// a database read each.
type generations struct {
	s       *Service
	limiter *credit.Limiter
}

func (s *Service) generationHandler() http.Handler {
	return &generations{s: s, limiter: credit.NewLimiter(nil)}
}

func (g *generations) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeError(w, shapeOpenAI, &apiError{status: http.StatusMethodNotAllowed, typ: "invalid_request_error", code: "method_not_allowed",
			message: fmt.Sprintf("%s is not allowed on %s.", r.Method, r.URL.Path)})
		return
	}
	key, aerr := g.s.authenticate(r)
	if aerr != nil {
		writeError(w, shapeOpenAI, aerr)
		return
	}
	id := r.URL.Query().Get("id")
	if id == "" {
		writeError(w, shapeOpenAI, &apiError{status: http.StatusBadRequest, typ: "invalid_request_error", param: "id", code: "missing_required_parameter",
			message: "You must provide the request id to look up: GET /v1/generation?id=<x-request-id of the request>."})
		return
	}
	if ok, wait := g.limiter.Allow(key.KeyID, g.s.cfg.GenerationRPM); !ok {
		writeError(w, shapeOpenAI, &apiError{status: http.StatusTooManyRequests, typ: "requests", code: "rate_limit_exceeded", retryAfter: wait,
			message: fmt.Sprintf("Rate limit reached for /v1/generation on this API key: %d requests per minute.", g.s.cfg.GenerationRPM)})
		return
	}
	gen, aerr := g.lookup(r.Context(), events.GenerationRequestV1{V: 1, ID: id, AccountID: key.AccountID})
	if aerr != nil {
		writeError(w, shapeOpenAI, aerr)
		return
	}
	raw, err := json.Marshal(struct {
		Data generationData `json:"data"`
	}{newGenerationData(id, gen)})
	if err != nil {
		writeError(w, shapeOpenAI, errUnavailable("internal_error", "The request's metadata could not be encoded."))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(raw, '\n'))
}

// lookup asks the ledger, and again while a recent id is not found yet.
func (g *generations) lookup(ctx context.Context, req events.GenerationRequestV1) (*events.Generation, *apiError) {
	recent := false
	if t, ok := ids.Time(requestIDPrefix, req.ID); ok {
		age := time.Since(t)
		recent = age < generationRecent && age > -time.Minute
	}
	deadline := time.Now().Add(generationWait)
	pause := 10 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, generationAskTimeout)
		rep, err := askGeneration(actx, g.s.bus.Conn(), req)
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil, errUnavailable("ledger_unavailable", "The request was cancelled.")
		case err != nil:
			g.s.log.Warn("generation lookup", "account", req.AccountID, "err", err)
			return nil, errUnavailable("ledger_unavailable", "The ledger cannot be asked right now; try again shortly.")
		case rep.Error != "":
			g.s.log.Warn("generation lookup refused", "account", req.AccountID, "err", rep.Error)
			return nil, errUnavailable("ledger_unavailable", "The ledger cannot answer right now; try again shortly.")
		case rep.Found && rep.Generation != nil && rep.ID == req.ID && rep.AccountID == req.AccountID:
			return rep.Generation, nil
		}
		left := time.Until(deadline)
		if !recent || left <= 0 {
			return nil, errNotFound(fmt.Sprintf("No request with id %q was found for this account.", truncate(req.ID, 100)))
		}
		select {
		case <-ctx.Done():
		case <-time.After(min(pause, left)):
		}
		pause = min(2*pause, 200*time.Millisecond)
	}
}

func askGeneration(ctx context.Context, nc *nats.Conn, r events.GenerationRequestV1) (events.GenerationV1, error) {
	subj, err := r.EventSubject()
	if err != nil {
		return events.GenerationV1{}, err
	}
	raw, err := json.Marshal(r)
	if err != nil {
		return events.GenerationV1{}, fmt.Errorf("encode generation lookup: %w", err)
	}
	msg, err := nc.RequestWithContext(ctx, subj, raw)
	if errors.Is(err, nats.ErrNoResponders) {
		return events.GenerationV1{}, fmt.Errorf("generation lookup for %s: no ledger is answering: %w", r.AccountID, err)
	}
	if err != nil {
		return events.GenerationV1{}, fmt.Errorf("generation lookup for %s: %w", r.AccountID, err)
	}
	var out events.GenerationV1
	if err := json.Unmarshal(msg.Data, &out); err != nil {
		return events.GenerationV1{}, fmt.Errorf("decode generation reply for %s: %w", r.AccountID, err)
	}
	return out, nil
}

// generationData is the answer's "data": OpenRouter's field names where
// they mean the same (id, created_at, model, provider_name, streamed,
// total_cost, native_tokens_*), onekey's usage-event names for the rest.
// Input tokens are split as the usage event splits them: input_tokens are
// the uncached ones; native_tokens_prompt is all of them.
type generationData struct {
	ID           string    `json:"id"`
	Object       string    `json:"object"`
	CreatedAt    time.Time `json:"created_at"`
	Model        string    `json:"model"`
	ProviderName string    `json:"provider_name"`
	ProjectID    string    `json:"project_id"`
	KeyID        string    `json:"key_id"`
	Streamed     bool      `json:"streamed"`
	Status       int       `json:"status"`
	LatencyMS    int64     `json:"latency_ms"`
	TTFBMS       int64     `json:"ttfb_ms"`
	// Estimated: the provider reported no usage (it never answered to its
	// end) and the tokens are the gateway's estimate.
	Estimated bool `json:"estimated"`

	InputTokens            int64 `json:"input_tokens"`
	CachedInputTokens      int64 `json:"cached_input_tokens"`
	CacheWriteTokens       int64 `json:"cache_write_tokens"`
	OutputTokens           int64 `json:"output_tokens"`
	ReasoningTokens        int64 `json:"reasoning_tokens"`
	NativeTokensPrompt     int64 `json:"native_tokens_prompt"`
	NativeTokensCompletion int64 `json:"native_tokens_completion"`
	NativeTokensReasoning  int64 `json:"native_tokens_reasoning"`
	NativeTokensCached     int64 `json:"native_tokens_cached"`

	// Cost (and OpenRouter's total_cost) is what the request was charged,
	// in dollars, exactly: 0 for a free request; CostMicros is the same in
	// micro-USD.
	Cost       json.Number `json:"cost"`
	TotalCost  json.Number `json:"total_cost"`
	CostMicros int64       `json:"cost_micros"`
	Free       bool        `json:"free"`
}

func newGenerationData(id string, g *events.Generation) generationData {
	return generationData{
		ID: id, Object: "generation", CreatedAt: g.Time.UTC(), Model: g.Model, ProviderName: g.Provider,
		ProjectID: g.ProjectID, KeyID: g.KeyID, Streamed: g.Streamed, Status: g.Status, LatencyMS: g.LatencyMS, TTFBMS: g.TTFBMS,
		Estimated:   g.Estimated,
		InputTokens: g.InputTokens, CachedInputTokens: g.CachedInputTokens, CacheWriteTokens: g.CacheWriteTokens,
		OutputTokens: g.OutputTokens, ReasoningTokens: g.ReasoningTokens,
		NativeTokensPrompt:     g.InputTokens + g.CachedInputTokens + g.CacheWriteTokens,
		NativeTokensCompletion: g.OutputTokens, NativeTokensReasoning: g.ReasoningTokens, NativeTokensCached: g.CachedInputTokens,
		Cost: json.Number(g.ChargedMicros.Decimal()), TotalCost: json.Number(g.ChargedMicros.Decimal()),
		CostMicros: int64(g.ChargedMicros), Free: g.Free,
	}
}
