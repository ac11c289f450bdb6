package assistant

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/onekey-oss/onekey/api/money"
)

// modelsTTL is how long the gateway's model list is reused.
const modelsTTL = time.Minute

// maxModelsShown bounds the models given to the model in one answer.
const maxModelsShown = 40

// modelList reads the model catalog the gateway serves (GET
// <gateway>/v1/models: its operator catalog and markup included), so the
// prices the assistant quotes are the ones users pay. Safe for concurrent
// use.
type modelList struct {
	url    string
	client *http.Client
	now    func() time.Time

	mu      sync.Mutex
	fetched time.Time
	models  []gatewayModel
}

// gatewayModel is the part of the gateway's model object the assistant
// reads; pricing is in micro-USD per million tokens.
type gatewayModel struct {
	ID            string   `json:"id"`
	Name          string   `json:"name"`
	Provider      string   `json:"provider"`
	Kind          string   `json:"kind"`
	ContextLength int      `json:"context_length"`
	MaxOutput     int      `json:"max_output_tokens"`
	Aliases       []string `json:"aliases"`
	Pricing       struct {
		Input       int64 `json:"input"`
		CachedInput int64 `json:"cached_input"`
		Output      int64 `json:"output"`
		CacheWrite  int64 `json:"cache_write"`
	} `json:"pricing"`
}

func (l *modelList) fetch(ctx context.Context) ([]gatewayModel, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.models != nil && l.now().Sub(l.fetched) < modelsTTL {
		return l.models, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.url, nil)
	if err != nil {
		return nil, fmt.Errorf("models: %w", err)
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("models: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("models: GET %s: %s", l.url, resp.Status)
	}
	var list struct {
		Data []gatewayModel `json:"data"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(&list); err != nil {
		return nil, fmt.Errorf("models: decode: %w", err)
	}
	l.models, l.fetched = list.Data, l.now()
	return l.models, nil
}

// list returns the models matching query (all when empty) with their
// prices per million tokens, exact.
func (l *modelList) list(ctx context.Context, query string) (any, error) {
	ms, err := l.fetch(ctx)
	if err != nil {
		return nil, err
	}
	q := strings.ToLower(strings.TrimSpace(query))
	type modelOut struct {
		ID          string   `json:"id"`
		Name        string   `json:"name"`
		Provider    string   `json:"provider"`
		Kind        string   `json:"kind"`
		Context     int      `json:"context_tokens"`
		MaxOutput   int      `json:"max_output_tokens,omitempty"`
		Aliases     []string `json:"aliases,omitempty"`
		Input       string   `json:"input_per_million_tokens"`
		CachedInput string   `json:"cached_input_per_million_tokens"`
		Output      string   `json:"output_per_million_tokens"`
		CacheWrite  string   `json:"cache_write_per_million_tokens,omitempty"`
	}
	var out []modelOut
	matched := 0
	for _, m := range ms {
		if q != "" && !matches(m, q) {
			continue
		}
		matched++
		if len(out) == maxModelsShown {
			continue
		}
		o := modelOut{ID: m.ID, Name: m.Name, Provider: m.Provider, Kind: m.Kind, Context: m.ContextLength, MaxOutput: m.MaxOutput, Aliases: m.Aliases,
			Input: usd(money.Micros(m.Pricing.Input)), CachedInput: usd(money.Micros(m.Pricing.CachedInput)), Output: usd(money.Micros(m.Pricing.Output))}
		if m.Pricing.CacheWrite > 0 {
			o.CacheWrite = usd(money.Micros(m.Pricing.CacheWrite))
		}
		out = append(out, o)
	}
	res := map[string]any{"models": out, "matched": matched, "currency": "USD",
		"note": "prices per million tokens, as charged by this gateway; a request costs tokens × price, rounded up to a whole micro-dollar"}
	if matched > len(out) {
		res["truncated"] = fmt.Sprintf("%d more; narrow the query", matched-len(out))
	}
	return res, nil
}

func matches(m gatewayModel, q string) bool {
	if strings.Contains(strings.ToLower(m.ID), q) || strings.Contains(strings.ToLower(m.Name), q) || strings.EqualFold(m.Provider, q) {
		return true
	}
	for _, a := range m.Aliases {
		if strings.Contains(strings.ToLower(a), q) {
			return true
		}
	}
	return false
}
