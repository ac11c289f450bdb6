package main

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/api/catalog"
)

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGenerate_ReproducesTheCommittedCatalogFromThePinnedSnapshot runs the
// generator on the LiteLLM snapshot pinned in selection.json and compares
// with api/catalog/models.json byte for byte. The snapshot is not in the
// repository (see selection.json's source); set CATALOGGEN_LITELLM to it.
func TestGenerate_ReproducesTheCommittedCatalogFromThePinnedSnapshot(t *testing.T) {
	t.Parallel()
	path := os.Getenv("CATALOGGEN_LITELLM")
	if path == "" {
		t.Skip("CATALOGGEN_LITELLM (the pinned LiteLLM snapshot) is not set")
	}
	got, err := generate(readFile(t, path), readFile(t, "selection.json"))
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	if want := readFile(t, "../../api/catalog/models.json"); !bytes.Equal(got, want) {
		t.Errorf("the generator does not reproduce api/catalog/models.json: run go run ./tools/cataloggen -litellm %s", path)
	}
}

func TestGenerate_FixtureGivesTheGoldenCatalogAndLoads(t *testing.T) {
	t.Parallel()
	snap, sel := readFile(t, "testdata/litellm.json"), readFile(t, "testdata/selection.json")
	got, err := generate(snap, sel)
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	again, _ := generate(snap, sel)
	if !bytes.Equal(got, again) {
		t.Errorf("two runs differ")
	}
	if want := readFile(t, "testdata/models.golden.json"); !bytes.Equal(got, want) {
		t.Errorf("output differs from testdata/models.golden.json:\n%s", got)
	}
	// The output is a valid catalog: load it as an override that removes
	// every built-in model.
	c, err := catalog.Default()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Models json.RawMessage `json:"models"`
	}
	if err := json.Unmarshal(got, &doc); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range c.List() {
		ids = append(ids, m.ID)
	}
	rm, _ := json.Marshal(ids)
	override := `{"remove":` + string(rm) + `,"models":` + string(doc.Models) + `}`
	fixture, err := catalog.Load(strings.NewReader(override))
	if err != nil {
		t.Fatalf("the generated catalog does not load: %v", err)
	}
	check := func(id string, f func(m catalog.Model) bool, what string) {
		t.Helper()
		m, ok := fixture.Lookup(id)
		if !ok || !f(m) {
			t.Errorf("%s: want %s, got %+v", id, what, m)
		}
	}
	check("claude-test-4", func(m catalog.Model) bool {
		p := m.Pricing
		return p.Input == 3_000_000 && p.CachedInput == 300_000 && p.CacheWrite == 3_750_000 && p.CacheWrite1h == 6_000_000 &&
			p.LongContext == catalog.LongContextPricing{AboveTokens: 200_000, Input: 6_000_000, CachedInput: 600_000, Output: 22_500_000, CacheWrite: 7_500_000, CacheWrite1h: 12_000_000} &&
			p.PerUse.WebSearch == 10_000
	}, "every Anthropic price kind, the 1M tier and $10 per 1,000 searches")
	check("claude-test-3", func(m catalog.Model) bool { return m.ID == "claude-test-4" }, "the retired id as an alias of its successor")
	check("claude-test-haiku", func(m catalog.Model) bool { return m.Pricing.PerUse.WebSearch == 10_000 }, "the selection's web search fee where LiteLLM lists none")
	check("gpt-test", func(m catalog.Model) bool {
		p := m.Pricing
		return p.Flex == catalog.TierPricing{Input: 625_000, CachedInput: 62_500, Output: 5_000_000} &&
			p.Priority == catalog.TierPricing{Input: 2_500_000, CachedInput: 250_000, Output: 20_000_000} && p.Output == 10_000_000
	}, "flex and priority tiers, from 5E-6 and 0.00001 alike")
	check("gpt-test-long", func(m catalog.Model) bool {
		return m.Pricing.LongContext.AboveTokens == 272_000 && m.Pricing.Flex == (catalog.TierPricing{}) && m.Kind == catalog.Chat &&
			strings.Contains(m.Source, "flex tier not served")
	}, "long context above 272k, and the flex tier dropped (and said so) since tier and long context do not combine")
	check("text-embedding-test", func(m catalog.Model) bool {
		return m.Kind == catalog.Embedding && m.Pricing.Input == 20_000 && m.ContextLength == 8191
	}, "an embedding model at $0.02")
	check("gemini-test-flash", func(m catalog.Model) bool {
		return m.UpstreamID == "gemini-test-flash" && m.Pricing.Priority == (catalog.TierPricing{}) && m.Pricing.Output == 2_500_000
	}, "the provider prefix dropped and no tier outside OpenAI")
	check("grok-test", func(m catalog.Model) bool {
		return m.ContextLength == 2_000_000 && m.Pricing.PerUse.SearchSource == 25_000 && m.Pricing.LongContext.AboveTokens == 128_000
	}, "2000000.0 read as an integer, $25 per 1,000 sources, long context above 128k")
}

func TestGenerate_FailsLoudlyRatherThanServeAWrongPrice(t *testing.T) {
	t.Parallel()
	base := readFile(t, "testdata/litellm.json")
	sel := string(readFile(t, "testdata/selection.json"))
	tests := []struct {
		name       string
		edit       func(snap string) string
		selectOnly string // a model to add to the selection
		want       string
	}{
		{"a snapshot other than the pinned one", func(s string) string { return s + " " }, "", "SHA-256"},
		{"an unknown price kind", func(s string) string {
			return strings.Replace(s, `"input_cost_per_token": 3e-07,`, `"input_cost_per_token": 3e-07, "input_cost_per_query": 0.001,`, 1)
		}, "", "price fields the catalog cannot hold: input_cost_per_query"},
		{"a price that is not a whole micro-USD per million", func(s string) string {
			return strings.Replace(s, `"input_cost_per_token": 2e-07,`, `"input_cost_per_token": 2.0000001e-07,`, 1)
		}, "", "not a whole number"},
		{"a separate reasoning price", func(s string) string {
			return strings.Replace(s, `"output_cost_per_reasoning_token": 2.5e-06`, `"output_cost_per_reasoning_token": 3.5e-06`, 1)
		}, "", "output_cost_per_reasoning_token"},
		{"a deprecated entry", nil, `{"id": "claude-test-3", "name": "x", "provider": "anthropic", "litellm": "claude-test-3", "released": "2024-10-22"}`, "deprecated since 2026-01-05"},
		{"an entry LiteLLM does not have", nil, `{"id": "gone", "name": "x", "provider": "openai", "litellm": "gpt-gone", "released": "2024-10-22"}`, `no entry "gpt-gone"`},
		{"an entry of another provider", nil, `{"id": "wrong", "name": "x", "provider": "xai", "litellm": "gpt-test", "released": "2024-10-22"}`, `LiteLLM provider "openai", want "xai"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			snap, s := string(base), sel
			if tt.edit != nil {
				snap = tt.edit(snap)
				if tt.want != "SHA-256" {
					s = repin(t, s, snap)
				}
			}
			if tt.selectOnly != "" {
				s = strings.Replace(s, `"models": [`, `"models": [`+tt.selectOnly+",", 1)
			}
			_, err := generate([]byte(snap), []byte(s))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("generate = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// repin points the selection at an edited snapshot.
func repin(t *testing.T, sel, snap string) string {
	t.Helper()
	var doc Selection
	if err := json.Unmarshal([]byte(sel), &doc); err != nil {
		t.Fatal(err)
	}
	return strings.Replace(sel, doc.Source.SHA256, sha256Hex([]byte(snap)), 1)
}

// TestCommittedCatalog_MatchesTheSelection checks, without the snapshot,
// what can be checked: the committed catalog serves exactly the selected
// models, under their ids, names, aliases and release dates, each sourced
// from the pinned snapshot.
func TestCommittedCatalog_MatchesTheSelection(t *testing.T) {
	t.Parallel()
	var sel Selection
	if err := json.Unmarshal(readFile(t, "selection.json"), &sel); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Comment string          `json:"comment"`
		Models  []catalog.Model `json:"models"`
	}
	if err := json.Unmarshal(readFile(t, "../../api/catalog/models.json"), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Comment != catalogComment(sel) {
		t.Errorf("models.json's comment is not the generator's")
	}
	byID := map[string]catalog.Model{}
	for _, m := range doc.Models {
		byID[m.ID] = m
	}
	if len(byID) != len(sel.Models) {
		t.Errorf("models.json has %d models, the selection %d", len(byID), len(sel.Models))
	}
	for _, s := range sel.Models {
		m, ok := byID[s.ID]
		switch {
		case !ok:
			t.Errorf("%s: selected but not in models.json", s.ID)
		case m.Name != s.Name || m.Provider != s.Provider || !slices.Equal(m.Aliases, s.Aliases) ||
			time.Unix(m.Created, 0).UTC().Format(time.DateOnly) != s.Released:
			t.Errorf("%s: models.json differs from the selection: %+v", s.ID, m)
		case !strings.HasPrefix(m.Source, sel.Source.Label+`, entry "`+s.LiteLLM+`"`):
			t.Errorf("%s: source %q is not the pinned snapshot's entry %q", s.ID, m.Source, s.LiteLLM)
		}
	}
}
