package catalog_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/api/money"
)

// Each price kind that is not a plain token rate, checked against a figure
// worked out by hand from the published price.
func TestCost_BillsChargesThatAreNotTokensAtCatalogPrices(t *testing.T) {
	t.Parallel()
	c := defaultCatalog(t)
	tests := []struct {
		name   string
		model  string
		usage  catalog.Usage
		markup int64
		want   money.Micros
		long   bool
	}{
		{
			// 1,000×$3 + 2,000×$3.75 (5 min) + 4,000×$6 (1 h) + 500×$15
			// = 3,000 + 7,500 + 24,000 + 7,500.
			name:  "1-hour cache writes at twice the input price",
			model: "claude-sonnet-4-5",
			usage: catalog.Usage{InputTokens: 1_000, CacheWriteTokens: 2_000, CacheWrite1hTokens: 4_000, OutputTokens: 500},
			want:  42_000,
		},
		{
			// Tokens 1,000×$1 + 100×$5 = 1,500; 3 searches × $0.01 = 30,000;
			// 2 fetches cost only their tokens.
			name:  "web searches at $10 per 1,000, web fetches free",
			model: "claude-haiku-4-5",
			usage: catalog.Usage{InputTokens: 1_000, OutputTokens: 100, WebSearchRequests: 3, WebFetchRequests: 2},
			want:  31_500,
		},
		{
			// The markup applies to fees too: 31,500 × 1.1 = 34,650.
			name:   "fees carry the markup",
			model:  "claude-haiku-4-5",
			usage:  catalog.Usage{InputTokens: 1_000, OutputTokens: 100, WebSearchRequests: 3},
			markup: 1_000,
			want:   34_650,
		},
		{
			// 150,000 + 40,000 cached + 20,000 1-hour writes = 210,000 >
			// 200,000: 150,000×$6 + 40,000×$0.60 + 20,000×$12 + 1,000×$22.50
			// = 900,000 + 24,000 + 240,000 + 22,500.
			name:  "1-hour writes count toward and are billed at the long-context tier",
			model: "claude-sonnet-4-5",
			usage: catalog.Usage{InputTokens: 150_000, CachedInputTokens: 40_000, CacheWrite1hTokens: 20_000, OutputTokens: 1_000},
			want:  1_186_500,
			long:  true,
		},
		{
			// 10,000×$3.50 + 20,000×$0.35 + 1,000×$28 = 35,000 + 7,000 + 28,000.
			name:  "priority tier rates",
			model: "gpt-5.2",
			usage: catalog.Usage{InputTokens: 10_000, CachedInputTokens: 20_000, OutputTokens: 1_000, ServiceTier: "priority"},
			want:  70_000,
		},
		{
			// 10,000×$0.625 + 20,000×$0.0625 + 1,000×$5 = 6,250 + 1,250 + 5,000.
			name:  "flex tier rates",
			model: "gpt-5",
			usage: catalog.Usage{InputTokens: 10_000, CachedInputTokens: 20_000, OutputTokens: 1_000, ServiceTier: "flex"},
			want:  12_500,
		},
		{
			// 10,000×$1.25 + 20,000×$0.125 + 1,000×$10.
			name:  "the default tier is the standard rates",
			model: "gpt-5",
			usage: catalog.Usage{InputTokens: 10_000, CachedInputTokens: 20_000, OutputTokens: 1_000, ServiceTier: "default"},
			want:  25_000,
		},
		{
			// 1,000×$0.20 + 100×$0.50 = 250; 7 sources × $0.025 = 175,000.
			name:  "xAI search sources at $25 per 1,000",
			model: "grok-4-1-fast",
			usage: catalog.Usage{InputTokens: 1_000, OutputTokens: 100, SearchSources: 7},
			want:  175_250,
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
			if got := m.LongContext(tt.usage); got != tt.long {
				t.Errorf("LongContext = %v, want %v", got, tt.long)
			}
		})
	}
}

func TestCost_MissingOneHourWritePriceBillsTwiceInput(t *testing.T) {
	t.Parallel()
	m := catalog.Model{Pricing: catalog.Pricing{Input: 1_000_000, Output: 2_000_000}}
	if got := m.Cost(catalog.Usage{CacheWrite1hTokens: 1_000}, 0); got != 2_000 {
		t.Errorf("Cost = %d, want 2000 (1,000 tokens at twice the $1/M input price)", got)
	}
}

func TestWorstCaseCostDeclared_CoversTheDeclaredTierSearchesAndHourWrites(t *testing.T) {
	t.Parallel()
	c := defaultCatalog(t)
	sonnet, _ := c.Lookup("claude-sonnet-4-5")
	gpt, _ := c.Lookup("gpt-5.2")
	// 10,000 × $3.75 + 64,000 × $15 = 997,500, plus 5 searches × 10,000.
	if got := sonnet.WorstCaseCostDeclared(10_000, 0, 0, catalog.Declared{WebSearches: 5}); got != 1_047_500 {
		t.Errorf("with 5 searches = %d, want 1047500", got)
	}
	// 10,000 × $6 (1-hour writes) + 64,000 × $15 = 1,020,000.
	if got := sonnet.WorstCaseCostDeclared(10_000, 0, 0, catalog.Declared{CacheWrite1h: true}); got != 1_020_000 {
		t.Errorf("with 1-hour writes = %d, want 1020000", got)
	}
	// 1,000 × $3.50 + 500 × $28 = 17,500 at priority.
	if got := gpt.WorstCaseCostDeclared(1_000, 500, 0, catalog.Declared{ServiceTier: "priority"}); got != 17_500 {
		t.Errorf("at priority = %d, want 17500", got)
	}
	// Flex is cheaper: the hold stays at standard rates (the provider may
	// serve the request at the standard tier).
	if got, std := gpt.WorstCaseCostDeclared(1_000, 500, 0, catalog.Declared{ServiceTier: "flex"}), gpt.WorstCaseCost(1_000, 500, 0); got != std {
		t.Errorf("at flex = %d, want the standard %d", got, std)
	}
	for _, m := range c.List() {
		for _, tier := range []string{"", "flex", "priority"} {
			u := catalog.Usage{InputTokens: 7_000, CachedInputTokens: 2_000, CacheWriteTokens: 500, CacheWrite1hTokens: 500,
				OutputTokens: int64(m.MaxOutputTokens), WebSearchRequests: 4, ServiceTier: tier}
			d := catalog.Declared{ServiceTier: tier, WebSearches: 4, CacheWrite1h: true}
			if cost, hold := m.Cost(u, 500), m.WorstCaseCostDeclared(10_000, 0, 500, d); hold < cost {
				t.Errorf("%s at %q: WorstCaseCostDeclared %s < Cost %s", m.ID, tier, hold, cost)
			}
		}
	}
}

func TestLoad_RefusesBadNonTokenPrices(t *testing.T) {
	t.Parallel()
	for name, override := range map[string]string{
		"negative fee":           `{"models":[{"id":"claude-haiku-4-5","pricing":{"per_use":{"web_search":-1}}}]}`,
		"tier without output":    `{"models":[{"id":"gpt-5.2","pricing":{"priority":{"input":1}}}]}`,
		"tier with long context": `{"models":[{"id":"gemini-2.5-pro","pricing":{"flex":{"input":1,"output":1}}}]}`,
		"negative 1-hour write":  `{"models":[{"id":"claude-haiku-4-5","pricing":{"cache_write_1h":-5}}]}`,
	} {
		if _, err := catalog.Load(strings.NewReader(override)); !errors.Is(err, catalog.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	c, err := catalog.Load(strings.NewReader(`{"models":[{"id":"gpt-5.2","pricing":{"flex":{"input":1,"output":2}}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := c.Lookup("gpt-5.2")
	if m.Pricing.Flex.Output != 2 || m.Pricing.Priority.Output != 28_000_000 {
		t.Errorf("override replaced flex = %+v and kept priority = %+v?", m.Pricing.Flex, m.Pricing.Priority)
	}
	if _, err := json.Marshal(m); err != nil {
		t.Fatal(err)
	}
}
