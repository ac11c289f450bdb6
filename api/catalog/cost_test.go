package catalog_test

import (
	"math"
	"testing"

	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/api/money"
)

func TestCost_MatchesHandComputedExamples(t *testing.T) {
	t.Parallel()
	c := defaultCatalog(t)
	tests := []struct {
		name   string
		model  string
		usage  catalog.Usage
		markup int64
		want   money.Micros
	}{
		{
			// 1,000×$3 + 10,000×$0.30 + 2,000×$3.75 + 500×$15 per M
			// = 3,000 + 3,000 + 7,500 + 7,500 micros.
			name:  "sonnet 4.5 with cache reads and writes",
			model: "claude-sonnet-4-5",
			usage: catalog.Usage{InputTokens: 1_000, CachedInputTokens: 10_000, CacheWriteTokens: 2_000, OutputTokens: 500},
			want:  21_000,
		},
		{
			name:   "sonnet 4.5 with a 10% markup",
			model:  "claude-sonnet-4-5",
			usage:  catalog.Usage{InputTokens: 1_000, CachedInputTokens: 10_000, CacheWriteTokens: 2_000, OutputTokens: 500},
			markup: 1_000,
			want:   23_100,
		},
		{
			// 1,234×1.75 + 4,000×0.175 + 567×14 = 2,159.5 + 700 + 7,938
			// = 10,797.5 → 10,798; ×1.025 = 11,067.95 → 11,068.
			// Reasoning tokens are part of the output and not billed again.
			name:   "gpt-5.2 with cached input, reasoning and a 2.5% markup",
			model:  "gpt-5.2",
			usage:  catalog.Usage{InputTokens: 1_234, CachedInputTokens: 4_000, OutputTokens: 567, ReasoningTokens: 300},
			markup: 250,
			want:   11_068,
		},
		{
			name:  "a fraction of a micro rounds up",
			model: "gpt-5-nano", // $0.05/M input: one token is 0.05 micro
			usage: catalog.Usage{InputTokens: 1},
			want:  1,
		},
		{
			name:  "an exact micro does not round up",
			model: "text-embedding-3-small", // $0.02/M: 50 tokens = 1 micro
			usage: catalog.Usage{InputTokens: 50},
			want:  1,
		},
		{
			name:  "one token past an exact micro rounds up",
			model: "text-embedding-3-small",
			usage: catalog.Usage{InputTokens: 51},
			want:  2,
		},
		{
			name:  "no tokens cost nothing",
			model: "gpt-5.2",
			want:  0,
		},
		{
			// Prompt 150,000 + 50,000 = 200,000 is not above the tier:
			// 150,000×1.25 + 50,000×0.125 + 1,000×10 = 187,500 + 6,250 + 10,000.
			name:  "gemini 2.5 pro at the long-context threshold",
			model: "gemini-2.5-pro",
			usage: catalog.Usage{InputTokens: 150_000, CachedInputTokens: 50_000, OutputTokens: 1_000},
			want:  203_750,
		},
		{
			// Prompt 210,000 > 200,000: every token at the long rates:
			// 150,000×2.50 + 60,000×0.25 + 1,000×15 = 375,000 + 15,000 + 15,000.
			name:  "gemini 2.5 pro above the long-context threshold",
			model: "gemini-2.5-pro",
			usage: catalog.Usage{InputTokens: 150_000, CachedInputTokens: 60_000, OutputTokens: 1_000},
			want:  405_000,
		},
		{
			name:   "negative counts and markup count as zero",
			model:  "gpt-5.2",
			usage:  catalog.Usage{InputTokens: 1_000, CachedInputTokens: -5_000, OutputTokens: -1},
			markup: -500,
			want:   1_750,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, ok := c.Lookup(tt.model)
			if !ok {
				t.Fatalf("Lookup(%q) not found", tt.model)
			}
			if got := m.Cost(tt.usage, tt.markup); got != tt.want {
				t.Errorf("Cost = %d (%s), want %d (%s)", got, got, tt.want, tt.want)
			}
		})
	}
}

func TestCost_MissingCachedOrCacheWritePriceBillsAsInput(t *testing.T) {
	t.Parallel()
	m := catalog.Model{Pricing: catalog.Pricing{Input: 1_000_000, Output: 2_000_000}}
	got := m.Cost(catalog.Usage{CachedInputTokens: 1_000, CacheWriteTokens: 1_000}, 0)
	if got != 2_000 {
		t.Errorf("Cost = %d, want 2000 (2,000 tokens at the $1/M input price)", got)
	}
}

func TestCost_SaturatesInsteadOfOverflowing(t *testing.T) {
	t.Parallel()
	m := catalog.Model{Pricing: catalog.Pricing{Input: 10_000_000_000, Output: 10_000_000_000}}
	if got := m.Cost(catalog.Usage{InputTokens: math.MaxInt64 / 2, OutputTokens: math.MaxInt64 / 2}, 0); got != math.MaxInt64 {
		t.Errorf("Cost = %d, want saturation at MaxInt64", got)
	}
	small := catalog.Model{Pricing: catalog.Pricing{Input: 1_000_000}}
	if got := small.Cost(catalog.Usage{InputTokens: math.MaxInt64 / 2}, math.MaxInt64); got != math.MaxInt64 {
		t.Errorf("Cost with a huge markup = %d, want saturation at MaxInt64", got)
	}
}

func TestWorstCaseCost_CoversTheFullOutputAllowance(t *testing.T) {
	t.Parallel()
	c := defaultCatalog(t)
	tests := []struct {
		name      string
		model     string
		input     int64
		maxOutput int64
		markup    int64
		want      money.Micros
	}{
		{
			// Input at the cache-write price ($3.75 > $3), output at the
			// model's 64,000-token limit: 37,500 + 960,000.
			name: "no limit set uses the model's max output", model: "claude-sonnet-4-5",
			input: 10_000, want: 997_500,
		},
		{
			name: "with a 10% markup", model: "claude-sonnet-4-5",
			input: 10_000, markup: 1_000, want: 1_097_250,
		},
		{
			// 1,000×1.75 + 500×14 = 1,750 + 7,000.
			name: "the request's own limit", model: "gpt-5.2",
			input: 1_000, maxOutput: 500, want: 8_750,
		},
		{
			// Capped at gpt-4.1's 32,768 output tokens × $8.
			name: "a limit above the model's is capped", model: "gpt-4.1",
			maxOutput: 1_000_000, want: 262_144,
		},
		{
			name: "embedding models have no output", model: "text-embedding-3-large",
			input: 1_000, want: 130,
		},
		{
			// 300,000 > 200,000 prompt tokens: $2.50 input, $15 output.
			// 750,000 + 1,000×15 = 765,000.
			name: "a long prompt holds at long-context rates", model: "gemini-2.5-pro",
			input: 300_000, maxOutput: 1_000, want: 765_000,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, ok := c.Lookup(tt.model)
			if !ok {
				t.Fatalf("Lookup(%q) not found", tt.model)
			}
			if got := m.WorstCaseCost(tt.input, tt.maxOutput, tt.markup); got != tt.want {
				t.Errorf("WorstCaseCost = %d (%s), want %d (%s)", got, got, tt.want, tt.want)
			}
		})
	}
}

func TestWorstCaseCost_IsNeverBelowCost(t *testing.T) {
	t.Parallel()
	for _, m := range defaultCatalog(t).List() {
		u := catalog.Usage{InputTokens: 7_000, CachedInputTokens: 2_000, CacheWriteTokens: 1_000, OutputTokens: int64(m.MaxOutputTokens)}
		if cost, hold := m.Cost(u, 500), m.WorstCaseCost(10_000, 0, 500); hold < cost {
			t.Errorf("%s: WorstCaseCost %s < Cost %s", m.ID, hold, cost)
		}
	}
}
