package catalog_test

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/onekey-oss/onekey/api/catalog"
)

// billedKinds is what each provider bills a chat model for, by the
// provider's own price list; an embedding model bills input only.
func billedKinds(m catalog.Model) map[string]bool {
	p := m.Pricing
	has := map[string]bool{
		"input":          p.Input > 0,
		"output":         p.Output > 0,
		"cached_input":   p.CachedInput > 0,
		"cache_write":    p.CacheWrite > 0,
		"cache_write_1h": p.CacheWrite1h > 0,
		"web_search":     p.PerUse.WebSearch > 0,
		"search_source":  p.PerUse.SearchSource > 0,
	}
	var want []string
	switch {
	case m.Kind == catalog.Embedding:
		want = []string{"input"}
	case m.Provider == catalog.Anthropic:
		// Input, output, cache reads, 5-minute and 1-hour cache writes,
		// and web searches, on every Claude model.
		want = []string{"input", "output", "cached_input", "cache_write", "cache_write_1h", "web_search"}
	case m.Provider == catalog.OpenAI, m.Provider == catalog.Google:
		// Cached input is billed at a discount except on OpenAI's pro
		// models, which have no cache discount (zero: billed at input).
		want = []string{"input", "output"}
	case m.Provider == catalog.XAI:
		want = []string{"input", "output", "search_source"}
	}
	missing := map[string]bool{}
	for _, k := range want {
		if !has[k] {
			missing[k] = true
		}
	}
	return missing
}

func TestDefault_EveryModelHasAPriceForEveryKindItsProviderBills(t *testing.T) {
	t.Parallel()
	c := defaultCatalog(t)
	if n := len(c.List()); n < 60 {
		t.Errorf("the catalog lists %d models, want at least 60", n)
	}
	for _, m := range c.List() {
		t.Run(m.ID, func(t *testing.T) {
			t.Parallel()
			if missing := billedKinds(m); len(missing) > 0 {
				t.Errorf("%s (%s %s) has no price for %v", m.ID, m.Provider, m.Kind, missing)
			}
			if m.ContextLength <= 0 {
				t.Errorf("%s has no context length", m.ID)
			}
			if m.Kind == catalog.Chat && m.MaxOutputTokens <= 0 {
				t.Errorf("%s has no max output", m.ID)
			}
			// Google and OpenAI bill cached input at a discount on every
			// model that caches; a zero here would over-bill silently,
			// so it is allowed only where the provider lists no discount.
			if m.Kind == catalog.Chat && m.Pricing.CachedInput == 0 && m.Provider != catalog.XAI && !noCacheDiscount[m.ID] {
				t.Errorf("%s has no cached-input price", m.ID)
			}
			if lc := m.Pricing.LongContext; lc != (catalog.LongContextPricing{}) && (lc.Input <= m.Pricing.Input || lc.Output < m.Pricing.Output) {
				t.Errorf("%s: long-context rates %+v are not above the standard ones", m.ID, lc)
			}
			if m.Source == "" || m.Created <= 0 {
				t.Errorf("%s has no source or release date", m.ID)
			}
		})
	}
}

// noCacheDiscount are the models whose provider lists no cached-input
// price (OpenAI's pro models).
var noCacheDiscount = map[string]bool{"gpt-5-pro": true, "gpt-5.2-pro": true, "o3-pro": true}

func TestREADME_StatesTheCatalogsModelCount(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatalf("read README: %v", err)
	}
	m := regexp.MustCompile(`for (\d+) models of OpenAI, Anthropic, Google and xAI`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("README does not say \"for N models of OpenAI, Anthropic, Google and xAI\"")
	}
	got, _ := strconv.Atoi(string(m[1]))
	if want := len(defaultCatalog(t).List()); got != want {
		t.Errorf("README says %d models, the catalog lists %s", got, fmt.Sprint(want))
	}
}
