package catalog_test

import (
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/onekey-oss/onekey/api/catalog"
)

func load(t *testing.T, overrides ...string) *catalog.Catalog {
	t.Helper()
	var rs []io.Reader
	for _, o := range overrides {
		rs = append(rs, strings.NewReader(o))
	}
	c, err := catalog.Load(rs...)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

func TestLoad_OverrideAddsANewModel(t *testing.T) {
	t.Parallel()
	c := load(t, `{"models": [{
		"id": "claude-opus-9", "name": "Claude Opus 9", "provider": "anthropic",
		"context_length": 200000, "max_output_tokens": 128000, "aliases": ["claude-opus-9.0"],
		"pricing": {"input": 5000000, "cached_input": 500000, "output": 25000000, "cache_write": 6250000}
	}]}`)
	for _, name := range []string{"claude-opus-9", "claude-opus-9.0", "anthropic/claude-opus-9", "Anthropic/Claude-Opus-9.0"} {
		m, ok := c.Lookup(name)
		if !ok || m.ID != "claude-opus-9" {
			t.Fatalf("Lookup(%q) = %q, %v; want claude-opus-9", name, m.ID, ok)
		}
	}
	m, _ := c.Lookup("claude-opus-9")
	if m.Kind != catalog.Chat || m.UpstreamID != "claude-opus-9" {
		t.Errorf("defaults: kind %q upstream %q, want chat and the id", m.Kind, m.UpstreamID)
	}
	if got := len(c.List()); got != len(seed)+1 {
		t.Errorf("List has %d models, want %d", got, len(seed)+1)
	}
}

func TestLoad_OverridePatchesOnlyTheFieldsItGives(t *testing.T) {
	t.Parallel()
	before, _ := defaultCatalog(t).Lookup("gpt-5.2")
	c := load(t, `{"models": [{"id": "gpt-5.2", "pricing": {"output": 12000000}}]}`)
	after, _ := c.Lookup("gpt-5.2")
	want := before
	want.Pricing.Output = 12_000_000
	if !reflect.DeepEqual(after, want) {
		t.Errorf("after patch:\n got %+v\nwant %+v", after, want)
	}
}

func TestLoad_OverridesApplyInOrder(t *testing.T) {
	t.Parallel()
	c := load(t,
		`{"models": [{"id": "grok-4", "pricing": {"input": 4000000}, "aliases": ["grok-big"]}]}`,
		`{"models": [{"id": "grok-4", "pricing": {"input": 5000000}}]}`,
	)
	m, ok := c.Lookup("grok-big")
	if !ok || m.Pricing.Input != 5_000_000 || m.Pricing.Output != 15_000_000 {
		t.Errorf("Lookup(grok-big) = %+v, %v; want grok-4 with input 5000000, output unchanged", m, ok)
	}
	if _, ok := c.Lookup("grok-4-0709"); ok {
		t.Errorf("aliases given in an override should replace the old list")
	}
}

func TestLoad_RetiredModelIsUnknownEverywhere(t *testing.T) {
	t.Parallel()
	c := load(t, `{"models": [{"id": "claude-haiku-4-5", "retired": true}]}`)
	for _, name := range []string{"claude-haiku-4-5", "claude-haiku-4-5-20251001", "anthropic/claude-haiku-4-5"} {
		if _, ok := c.Lookup(name); ok {
			t.Errorf("Lookup(%q) found a retired model", name)
		}
	}
	for _, m := range c.List() {
		if m.ID == "claude-haiku-4-5" || m.Retired {
			t.Errorf("List includes retired model %q", m.ID)
		}
	}
	for _, id := range c.Suggest("claude-haiku-4-5", 10) {
		if id == "claude-haiku-4-5" {
			t.Errorf("Suggest offers the retired model")
		}
	}

	back := load(t, `{"models": [{"id": "claude-haiku-4-5", "retired": true}]}`,
		`{"models": [{"id": "claude-haiku-4-5", "retired": false}]}`)
	if _, ok := back.Lookup("claude-3-5-haiku-latest"); !ok {
		t.Errorf("un-retired model is still unknown")
	}
}

func TestLoad_RetiredModelsNamesCanBeReused(t *testing.T) {
	t.Parallel()
	c := load(t, `{"models": [
		{"id": "claude-haiku-4-5", "retired": true},
		{"id": "haiku-next", "provider": "anthropic", "context_length": 200000, "max_output_tokens": 8192,
		 "aliases": ["claude-3-5-haiku-latest"], "pricing": {"input": 1000000, "output": 5000000}}
	]}`)
	if m, ok := c.Lookup("claude-3-5-haiku-latest"); !ok || m.ID != "haiku-next" {
		t.Errorf("Lookup = %q, %v; want haiku-next", m.ID, ok)
	}
}

func TestLoad_RemoveDeletesAndRemoveThenAddReplaces(t *testing.T) {
	t.Parallel()
	c := load(t, `{"remove": ["grok-4.3", "grok-4"], "models": [
		{"id": "grok-4", "provider": "xai", "context_length": 256000, "max_output_tokens": 8000,
		 "pricing": {"input": 3000000, "output": 15000000}}
	]}`)
	if _, ok := c.Lookup("grok-4.3"); ok {
		t.Errorf("removed grok-4.3 still resolves")
	}
	m, ok := c.Lookup("grok-4")
	if !ok || m.Name != "grok-4" || len(m.Aliases) != 0 || m.Pricing.CachedInput != 0 || m.MaxOutputTokens != 8000 {
		t.Errorf("replaced grok-4 = %+v, %v; want a fresh model with defaults", m, ok)
	}
}

func TestLoad_BadOverrideReportsAllProblemsTogether(t *testing.T) {
	t.Parallel()
	_, err := catalog.Load(
		strings.NewReader(`{"remove": ["no-such-model"], "models": [
			{"id": "", "provider": "openai"},
			{"id": "mystery", "provider": "deepmind", "context_length": 1000, "max_output_tokens": 100,
			 "pricing": {"input": 1000000, "output": 1000000}},
			{"id": "cheap", "provider": "openai", "context_length": 1000, "max_output_tokens": 100,
			 "pricing": {"input": -5, "output": 1000000}},
			{"id": "no-context", "provider": "google", "max_output_tokens": 100,
			 "pricing": {"input": 1000000, "output": 1000000}},
			{"id": "copycat", "provider": "anthropic", "context_length": 1000, "max_output_tokens": 100,
			 "aliases": ["claude-sonnet-4-5-20250929"], "pricing": {"input": 1000000, "output": 1000000}},
			{"id": "twice", "provider": "openai", "context_length": 1000, "max_output_tokens": 100,
			 "pricing": {"input": 1000000, "output": 1000000}},
			{"id": "twice"}
		]}`),
		strings.NewReader(`{"models": [{"id": "gpt-5.2", "pricing": {"cached_inptu": 1}}]}`),
	)
	if err == nil {
		t.Fatal("Load succeeded, want an error")
	}
	if !errors.Is(err, catalog.ErrInvalid) {
		t.Errorf("error does not wrap ErrInvalid: %v", err)
	}
	for _, want := range []string{
		`remove "no-such-model": no model with that id`,
		`models[0]: empty id`,
		`model "mystery" (from override 1): unknown provider "deepmind"`,
		`model "cheap" (from override 1): negative pricing.input -5`,
		`model "no-context" (from override 1): chat model without context_length`,
		`name "claude-sonnet-4-5-20250929" is used by both model "claude-sonnet-4-5" and model "copycat"`,
		`model "twice" is listed twice`,
		`override 2: decode JSON: json: unknown field "cached_inptu"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q; got:\n%v", want, err)
		}
	}
}

func TestLoad_RejectsInvalidFieldValues(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, model, want string }{
		{"unknown kind", `"kind": "image"`, `unknown kind "image"`},
		{"free chat model", `"pricing": {"input": 1000000}`, `pricing.output is zero for a chat model`},
		{"no prices", `"pricing": {}`, `pricing.input is zero`},
		{"id with a slash", `"id": "openai/thing"`, `id must not contain spaces or '/'`},
		{"output above context", `"max_output_tokens": 5000`, `max_output_tokens 5000 exceeds context_length 1000`},
		{"negative context", `"context_length": -1`, `negative context_length -1`},
		{"alias repeats the id", `"aliases": ["THING"]`, `alias "THING" repeats the id`},
		{"empty alias", `"aliases": [""]`, `alias "" is empty`},
		{"long context without threshold", `"pricing": {"input": 1, "output": 1, "long_context": {"input": 2, "output": 2}}`,
			`long_context.above_tokens must be positive`},
		{"absurd price", `"pricing": {"input": 1, "output": 99000000000}`, `pricing.output 99000000000 is above the limit`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fields := map[string]json.RawMessage{
				"id": json.RawMessage(`"thing"`), "provider": json.RawMessage(`"openai"`),
				"context_length": json.RawMessage(`1000`), "max_output_tokens": json.RawMessage(`100`),
				"pricing": json.RawMessage(`{"input": 1000000, "output": 1000000}`),
			}
			var patch map[string]json.RawMessage
			if err := json.Unmarshal([]byte("{"+tt.model+"}"), &patch); err != nil {
				t.Fatal(err)
			}
			for k, v := range patch {
				fields[k] = v
			}
			doc, _ := json.Marshal(map[string]any{"models": []any{fields}})
			_, err := catalog.Load(strings.NewReader(string(doc)))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load(%s) error = %v, want it to contain %q", doc, err, tt.want)
			}
		})
	}
}

func TestLoad_RejectsTrailingData(t *testing.T) {
	t.Parallel()
	_, err := catalog.Load(strings.NewReader(`{"models": []} {"models": []}`))
	if err == nil || !strings.Contains(err.Error(), "trailing data") {
		t.Errorf("error = %v, want trailing data", err)
	}
}

func TestLoad_ListedModelsRoundTripAsAnOverride(t *testing.T) {
	t.Parallel()
	want := defaultCatalog(t).List()
	var ids []string
	for _, m := range want {
		ids = append(ids, m.ID)
	}
	doc, err := json.Marshal(map[string]any{"remove": ids, "models": want})
	if err != nil {
		t.Fatal(err)
	}
	got := load(t, string(doc)).List()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("models changed after a JSON round trip through an override")
	}
}

func TestLoadFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "models.override.json")
	if err := os.WriteFile(good, []byte(`{"models": [{"id": "o3", "retired": true}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"models": [{"id": "o3", "provider": "nope"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}

	c, err := catalog.LoadFile("")
	if err != nil || len(c.List()) != len(seed) {
		t.Errorf(`LoadFile("") = %v; want the default catalog`, err)
	}
	c, err = catalog.LoadFile(good)
	if err != nil {
		t.Fatalf("LoadFile(good): %v", err)
	}
	if _, ok := c.Lookup("o3"); ok {
		t.Errorf("override file not applied: o3 still listed")
	}
	if _, err := catalog.LoadFile(filepath.Join(dir, "missing.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadFile(missing) = %v, want fs.ErrNotExist", err)
	}
	_, err = catalog.LoadFile(bad)
	if !errors.Is(err, catalog.ErrInvalid) || !strings.Contains(err.Error(), bad) {
		t.Errorf("LoadFile(bad) = %v, want ErrInvalid naming the file", err)
	}
}
