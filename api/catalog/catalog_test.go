package catalog_test

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/onekey-oss/onekey/api/catalog"
)

func defaultCatalog(t *testing.T) *catalog.Catalog {
	t.Helper()
	c, err := catalog.Default()
	if err != nil {
		t.Fatalf("Default: %v", err)
	}
	return c
}

// seed is the product's catalog (tools/cataloggen/selection.json): canonical
// id → provider and upstream id.
var seed = []struct {
	id       string
	provider catalog.Provider
	kind     catalog.Kind
	upstream string
}{
	{"claude-fable-5", catalog.Anthropic, catalog.Chat, "claude-fable-5"},
	{"claude-haiku-4-5", catalog.Anthropic, catalog.Chat, "claude-haiku-4-5-20251001"},
	{"claude-opus-4-1", catalog.Anthropic, catalog.Chat, "claude-opus-4-1-20250805"},
	{"claude-opus-4-5", catalog.Anthropic, catalog.Chat, "claude-opus-4-5-20251101"},
	{"claude-opus-4-6", catalog.Anthropic, catalog.Chat, "claude-opus-4-6"},
	{"claude-opus-4-7", catalog.Anthropic, catalog.Chat, "claude-opus-4-7"},
	{"claude-opus-4-8", catalog.Anthropic, catalog.Chat, "claude-opus-4-8"},
	{"claude-opus-5", catalog.Anthropic, catalog.Chat, "claude-opus-5"},
	{"claude-sonnet-4-5", catalog.Anthropic, catalog.Chat, "claude-sonnet-4-5-20250929"},
	{"claude-sonnet-4-6", catalog.Anthropic, catalog.Chat, "claude-sonnet-4-6"},
	{"claude-sonnet-5", catalog.Anthropic, catalog.Chat, "claude-sonnet-5"},
	{"gemini-2.5-flash", catalog.Google, catalog.Chat, "gemini-2.5-flash"},
	{"gemini-2.5-flash-lite", catalog.Google, catalog.Chat, "gemini-2.5-flash-lite"},
	{"gemini-2.5-pro", catalog.Google, catalog.Chat, "gemini-2.5-pro"},
	{"gemini-3-flash", catalog.Google, catalog.Chat, "gemini-3-flash-preview"},
	{"gemini-3.1-flash-lite", catalog.Google, catalog.Chat, "gemini-3.1-flash-lite"},
	{"gemini-3.1-pro", catalog.Google, catalog.Chat, "gemini-3.1-pro-preview"},
	{"gemini-3.5-flash", catalog.Google, catalog.Chat, "gemini-3.5-flash"},
	{"gemini-3.5-flash-lite", catalog.Google, catalog.Chat, "gemini-3.5-flash-lite"},
	{"gemini-3.6-flash", catalog.Google, catalog.Chat, "gemini-3.6-flash"},
	{"gemini-embedding-001", catalog.Google, catalog.Embedding, "gemini-embedding-001"},
	{"gemini-embedding-2", catalog.Google, catalog.Embedding, "gemini-embedding-2"},
	{"gpt-4.1", catalog.OpenAI, catalog.Chat, "gpt-4.1"},
	{"gpt-4.1-mini", catalog.OpenAI, catalog.Chat, "gpt-4.1-mini"},
	{"gpt-4.1-nano", catalog.OpenAI, catalog.Chat, "gpt-4.1-nano"},
	{"gpt-4o", catalog.OpenAI, catalog.Chat, "gpt-4o"},
	{"gpt-4o-mini", catalog.OpenAI, catalog.Chat, "gpt-4o-mini"},
	{"gpt-5", catalog.OpenAI, catalog.Chat, "gpt-5"},
	{"gpt-5-codex", catalog.OpenAI, catalog.Chat, "gpt-5-codex"},
	{"gpt-5-mini", catalog.OpenAI, catalog.Chat, "gpt-5-mini"},
	{"gpt-5-nano", catalog.OpenAI, catalog.Chat, "gpt-5-nano"},
	{"gpt-5-pro", catalog.OpenAI, catalog.Chat, "gpt-5-pro"},
	{"gpt-5.1", catalog.OpenAI, catalog.Chat, "gpt-5.1"},
	{"gpt-5.1-codex", catalog.OpenAI, catalog.Chat, "gpt-5.1-codex"},
	{"gpt-5.1-codex-max", catalog.OpenAI, catalog.Chat, "gpt-5.1-codex-max"},
	{"gpt-5.1-codex-mini", catalog.OpenAI, catalog.Chat, "gpt-5.1-codex-mini"},
	{"gpt-5.2", catalog.OpenAI, catalog.Chat, "gpt-5.2"},
	{"gpt-5.2-codex", catalog.OpenAI, catalog.Chat, "gpt-5.2-codex"},
	{"gpt-5.2-pro", catalog.OpenAI, catalog.Chat, "gpt-5.2-pro"},
	{"gpt-5.3-chat-latest", catalog.OpenAI, catalog.Chat, "gpt-5.3-chat-latest"},
	{"gpt-5.3-codex", catalog.OpenAI, catalog.Chat, "gpt-5.3-codex"},
	{"gpt-5.4", catalog.OpenAI, catalog.Chat, "gpt-5.4"},
	{"gpt-5.4-mini", catalog.OpenAI, catalog.Chat, "gpt-5.4-mini"},
	{"gpt-5.4-nano", catalog.OpenAI, catalog.Chat, "gpt-5.4-nano"},
	{"gpt-5.4-pro", catalog.OpenAI, catalog.Chat, "gpt-5.4-pro"},
	{"gpt-5.5", catalog.OpenAI, catalog.Chat, "gpt-5.5"},
	{"gpt-5.5-pro", catalog.OpenAI, catalog.Chat, "gpt-5.5-pro"},
	{"gpt-5.6", catalog.OpenAI, catalog.Chat, "gpt-5.6"},
	{"gpt-5.6-luna", catalog.OpenAI, catalog.Chat, "gpt-5.6-luna"},
	{"gpt-5.6-sol", catalog.OpenAI, catalog.Chat, "gpt-5.6-sol"},
	{"gpt-5.6-terra", catalog.OpenAI, catalog.Chat, "gpt-5.6-terra"},
	{"o3", catalog.OpenAI, catalog.Chat, "o3"},
	{"o3-deep-research", catalog.OpenAI, catalog.Chat, "o3-deep-research"},
	{"o3-mini", catalog.OpenAI, catalog.Chat, "o3-mini"},
	{"o3-pro", catalog.OpenAI, catalog.Chat, "o3-pro"},
	{"o4-mini", catalog.OpenAI, catalog.Chat, "o4-mini"},
	{"o4-mini-deep-research", catalog.OpenAI, catalog.Chat, "o4-mini-deep-research"},
	{"text-embedding-3-large", catalog.OpenAI, catalog.Embedding, "text-embedding-3-large"},
	{"text-embedding-3-small", catalog.OpenAI, catalog.Embedding, "text-embedding-3-small"},
	{"grok-4", catalog.XAI, catalog.Chat, "grok-4"},
	{"grok-4-1-fast", catalog.XAI, catalog.Chat, "grok-4-1-fast"},
	{"grok-4.20", catalog.XAI, catalog.Chat, "grok-4.20-0309-reasoning"},
	{"grok-4.20-multi-agent", catalog.XAI, catalog.Chat, "grok-4.20-multi-agent-beta-0309"},
	{"grok-4.20-non-reasoning", catalog.XAI, catalog.Chat, "grok-4.20-beta-0309-non-reasoning"},
	{"grok-4.3", catalog.XAI, catalog.Chat, "grok-4.3"},
	{"grok-4.5", catalog.XAI, catalog.Chat, "grok-4.5"},
	{"grok-code-fast", catalog.XAI, catalog.Chat, "grok-code-fast"},
}

func TestDefault_EverySeedModelResolvesByIDAndAlias(t *testing.T) {
	t.Parallel()
	c := defaultCatalog(t)
	if got, want := len(c.List()), len(seed); got != want {
		t.Errorf("List has %d models, the seed list %d", got, want)
	}
	for _, s := range seed {
		t.Run(s.id, func(t *testing.T) {
			t.Parallel()
			m, ok := c.Lookup(s.id)
			if !ok {
				t.Fatalf("Lookup(%q) not found", s.id)
			}
			if m.ID != s.id || m.Provider != s.provider || m.Kind != s.kind || m.UpstreamID != s.upstream {
				t.Errorf("Lookup(%q) = id %q provider %q kind %q upstream %q, want %q %q %q %q",
					s.id, m.ID, m.Provider, m.Kind, m.UpstreamID, s.id, s.provider, s.kind, s.upstream)
			}
			if m.Name == "" || m.Created <= 0 || m.Source == "" || m.Pricing.Input <= 0 {
				t.Errorf("%s: incomplete entry: %+v", s.id, m)
			}
			if m.Kind == catalog.Chat && (m.ContextLength <= 0 || m.MaxOutputTokens <= 0 || m.Pricing.Output <= 0) {
				t.Errorf("%s: chat model lacks context, max output or output price: %+v", s.id, m)
			}
			for _, a := range m.Aliases {
				if got, ok := c.Lookup(a); !ok || got.ID != s.id {
					t.Errorf("Lookup(alias %q) = %q, %v; want %q", a, got.ID, ok, s.id)
				}
			}
		})
	}
}

func TestLookup_ResolvesAliasesProviderIDsAndAnyCase(t *testing.T) {
	t.Parallel()
	c := defaultCatalog(t)
	tests := []struct{ name, want string }{
		{"claude-sonnet-4-5-20250929", "claude-sonnet-4-5"},
		{"claude-sonnet-4.5", "claude-sonnet-4-5"},
		{"claude-haiku-4-5-20251001", "claude-haiku-4-5"},
		{"claude-3-5-haiku-latest", "claude-haiku-4-5"}, // retired: its successor
		{"claude-3-5-haiku", "claude-haiku-4-5"},
		{"claude-sonnet-4-20250514", "claude-sonnet-4-6"},
		{"gemini-2.0-flash", "gemini-2.5-flash"},
		{"gpt-5-2025-08-07", "gpt-5"},
		{"o4-mini-2025-04-16", "o4-mini"},
		{"gemini-3-pro-preview", "gemini-3.1-pro"},
		{"grok-code-fast-1", "grok-code-fast"},
		{"models/gemini-2.5-flash", "gemini-2.5-flash"},
		{"grok-4-0709", "grok-4"},
		{"grok-4-1-fast-reasoning", "grok-4-1-fast"},
		{"openai/gpt-5.2", "gpt-5.2"},
		{"anthropic/claude-sonnet-4-5", "claude-sonnet-4-5"},
		{"anthropic/claude-sonnet-4-5-20250929", "claude-sonnet-4-5"},
		{"anthropic/claude-sonnet-4.5", "claude-sonnet-4-5"},
		{"google/gemini-2.5-flash", "gemini-2.5-flash"},
		{"xai/grok-4", "grok-4"},
		{"x-ai/grok-4.1-fast", "grok-4-1-fast"},
		{"GPT-5.2", "gpt-5.2"},
		{"OpenAI/GPT-5.2", "gpt-5.2"},
		{"Claude-Sonnet-4-5", "claude-sonnet-4-5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, ok := c.Lookup(tt.name)
			if !ok || m.ID != tt.want {
				t.Errorf("Lookup(%q) = %q, %v; want %q", tt.name, m.ID, ok, tt.want)
			}
		})
	}
}

func TestLookup_UnknownAndMismatchedProviderIDsAreNotFound(t *testing.T) {
	t.Parallel()
	c := defaultCatalog(t)
	for _, name := range []string{
		"", "gpt-5.3", "gpt-5.2 ", "openai/claude-sonnet-4-5", "anthropic/gpt-5.2",
		"xai/gemini-2.5-flash", "openai/", "/gpt-5.2", "x-ai/", "openai/openai/gpt-5.2",
	} {
		if m, ok := c.Lookup(name); ok {
			t.Errorf("Lookup(%q) = %q, want not found", name, m.ID)
		}
	}
}

func TestList_IsOrderedByProviderThenID(t *testing.T) {
	t.Parallel()
	list := defaultCatalog(t).List()
	ok := slices.IsSortedFunc(list, func(a, b catalog.Model) int {
		if c := strings.Compare(string(a.Provider), string(b.Provider)); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	if !ok {
		t.Errorf("List is not ordered by provider, then id")
	}
}

func TestCatalog_ReturnedModelsAreCopies(t *testing.T) {
	t.Parallel()
	c := defaultCatalog(t)
	m, _ := c.Lookup("claude-sonnet-4-5")
	m.Aliases[0] = "mutated"
	m.Pricing.Input = 0
	for _, l := range c.List() {
		if l.ID == "claude-sonnet-4-5" {
			l.Aliases[0] = "mutated-too"
		}
	}
	again, _ := c.Lookup("claude-sonnet-4-5")
	if again.Aliases[0] != "claude-sonnet-4-5-20250929" || again.Pricing.Input == 0 {
		t.Errorf("catalog changed through a returned model: %+v", again)
	}
}

func TestCatalog_IsSafeForConcurrentUse(t *testing.T) {
	t.Parallel()
	c := defaultCatalog(t)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				c.Lookup("OpenAI/GPT-5.2")
				c.List()
				c.Suggest("claude-sonet", 3)
			}
		})
	}
	wg.Wait()
}
