package catalog_test

import (
	"slices"
	"strings"
	"testing"
)

func TestSuggest_OffersCloseCanonicalIDs(t *testing.T) {
	t.Parallel()
	c := defaultCatalog(t)
	tests := []struct {
		query     string
		wantFirst string
		allPrefix string // every suggestion starts with this
	}{
		{"gpt-5.3", "gpt-5.3-codex", "gpt-5"},
		{"claude-sonet-4.5", "claude-sonnet-4-5", "claude-"},
		{"anthropic/claude-sonet-4.5", "claude-sonnet-4-5", "claude-"},
		{"Claude_Sonnet_4_5", "claude-sonnet-4-5", "claude-"},
		{"gemini-2.5-flsh", "gemini-2.5-flash", "gemini-"},
		{"grok4", "grok-4", "grok-"},
		{"o4-mni", "o4-mini", ""},
		{"sonnet", "claude-sonnet-4-6", "claude-sonnet-"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			t.Parallel()
			got := c.Suggest(tt.query, 3)
			if len(got) == 0 || len(got) > 3 || got[0] != tt.wantFirst {
				t.Fatalf("Suggest(%q, 3) = %q, want 1–3 ids starting with %q", tt.query, got, tt.wantFirst)
			}
			for _, id := range got {
				if _, ok := c.Lookup(id); !ok || !strings.HasPrefix(id, tt.allPrefix) {
					t.Errorf("Suggest(%q) offers %q, not a listed id starting with %q", tt.query, id, tt.allPrefix)
				}
			}
			sorted := slices.Sorted(slices.Values(got))
			if len(slices.Compact(sorted)) != len(got) {
				t.Errorf("Suggest(%q) repeats an id: %q", tt.query, got)
			}
		})
	}
}

func TestSuggest_ReturnsNothingForNonsenseOrNoRoom(t *testing.T) {
	t.Parallel()
	c := defaultCatalog(t)
	for _, tt := range []struct {
		query string
		n     int
	}{
		{"zzzzqqqq", 3}, {"", 3}, {"gpt-5.3", 0}, {"gpt-5.3", -1},
		{strings.Repeat("x", 100_000), 3},
	} {
		if got := c.Suggest(tt.query, tt.n); len(got) != 0 {
			t.Errorf("Suggest(%.20q, %d) = %q, want none", tt.query, tt.n, got)
		}
	}
}
