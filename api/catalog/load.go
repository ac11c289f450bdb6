package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/onekey-oss/onekey/api/money"
)

// Default returns the catalog compiled into the binary.
func Default() (*Catalog, error) {
	return Load()
}

// LoadFile returns the compiled-in catalog with the override file at path
// applied. An empty path means no override.
func LoadFile(path string) (*Catalog, error) {
	if path == "" {
		return Load()
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load model catalog override: %w", err)
	}
	defer f.Close()
	c, err := Load(f)
	if err != nil {
		return nil, fmt.Errorf("load model catalog override %s: %w", path, err)
	}
	return c, nil
}

// Load returns the compiled-in catalog with each override applied in order.
//
// An override is a JSON document (unknown fields are an error):
//
//	{
//	  "comment": "free text, ignored",
//	  "remove": ["model-id", ...],
//	  "models": [{"id": "...", ...Model fields in their JSON spelling...}, ...]
//	}
//
// Within one document "remove" is applied first, then "models":
//
//   - "remove" deletes models by canonical id; an id that is not in the
//     catalog is an error (it is usually a typo).
//   - A model whose id is already in the catalog is patched: only the fields
//     present in the override change. Inside "pricing" each price is patched
//     on its own ("pricing": {"output": 12000000} changes only the output
//     price); "long_context", "flex", "priority", "per_use" and "aliases",
//     when present, replace the old value as a whole. To replace a model
//     entirely, remove it and list it in the same document.
//   - "retired": true retires a model (false brings it back).
//   - A new id adds a model. Omitted fields default: kind "chat", name and
//     upstream_id the id.
//
// The merged result is validated as a whole, and every problem found — in
// any document, in any model — is reported in one error wrapping ErrInvalid.
// Aliases must be unique across the non-retired models; a clash names both
// models.
func Load(overrides ...io.Reader) (*Catalog, error) {
	var problems []error
	b := builder{models: map[string]*Model{}, origin: map[string]string{}}
	if err := b.apply("built-in models.json", bytes.NewReader(seedJSON)); err != nil {
		problems = append(problems, err)
	}
	for i, r := range overrides {
		if err := b.apply(fmt.Sprintf("override %d", i+1), r); err != nil {
			problems = append(problems, err)
		}
	}
	c, err := b.build()
	if err != nil {
		problems = append(problems, err)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, errors.Join(problems...))
	}
	return c, nil
}

// document is the shape of models.json and of override files.
type document struct {
	Comment string       `json:"comment"`
	Remove  []string     `json:"remove"`
	Models  []modelPatch `json:"models"`
}

// modelPatch is a Model in which every field but the id may be absent, so
// that an override can tell "not given" from "zero".
type modelPatch struct {
	ID              string        `json:"id"`
	Name            *string       `json:"name"`
	Provider        *Provider     `json:"provider"`
	Kind            *Kind         `json:"kind"`
	UpstreamID      *string       `json:"upstream_id"`
	ContextLength   *int          `json:"context_length"`
	MaxOutputTokens *int          `json:"max_output_tokens"`
	Pricing         *pricingPatch `json:"pricing"`
	Aliases         *[]string     `json:"aliases"`
	Retired         *bool         `json:"retired"`
	Created         *int64        `json:"created"`
	Source          *string       `json:"source"`
}

type pricingPatch struct {
	Input        *money.PerMillion   `json:"input"`
	CachedInput  *money.PerMillion   `json:"cached_input"`
	Output       *money.PerMillion   `json:"output"`
	CacheWrite   *money.PerMillion   `json:"cache_write"`
	CacheWrite1h *money.PerMillion   `json:"cache_write_1h"`
	LongContext  *LongContextPricing `json:"long_context"`
	Flex         *TierPricing        `json:"flex"`
	Priority     *TierPricing        `json:"priority"`
	PerUse       *PerUsePricing      `json:"per_use"`
}

// builder accumulates models across documents before validation.
type builder struct {
	models map[string]*Model // by exact canonical id
	origin map[string]string // id → document that last set it, for messages
}

// apply merges one document. Its problems are returned together; the parts
// of the document that are fine are still applied so that later documents
// and validation can report their own problems too.
func (b *builder) apply(name string, r io.Reader) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var doc document
	if err := dec.Decode(&doc); err != nil {
		return fmt.Errorf("%s: decode JSON: %w", name, err)
	}
	if err := dec.Decode(new(json.RawMessage)); err != io.EOF {
		return fmt.Errorf("%s: trailing data after the JSON document", name)
	}
	var problems []error
	for _, id := range doc.Remove {
		if _, ok := b.models[id]; !ok {
			problems = append(problems, fmt.Errorf("%s: remove %q: no model with that id", name, id))
			continue
		}
		delete(b.models, id)
		delete(b.origin, id)
	}
	seen := map[string]bool{}
	for i, p := range doc.Models {
		if p.ID == "" {
			problems = append(problems, fmt.Errorf("%s: models[%d]: empty id", name, i))
			continue
		}
		if seen[p.ID] {
			problems = append(problems, fmt.Errorf("%s: model %q is listed twice", name, p.ID))
			continue
		}
		seen[p.ID] = true
		m, ok := b.models[p.ID]
		if !ok {
			m = &Model{ID: p.ID, Name: p.ID, UpstreamID: p.ID, Kind: Chat}
			b.models[p.ID] = m
		}
		p.applyTo(m)
		b.origin[p.ID] = name
	}
	return errors.Join(problems...)
}

func (p modelPatch) applyTo(m *Model) {
	set(&m.Name, p.Name)
	set(&m.Provider, p.Provider)
	set(&m.Kind, p.Kind)
	set(&m.UpstreamID, p.UpstreamID)
	set(&m.ContextLength, p.ContextLength)
	set(&m.MaxOutputTokens, p.MaxOutputTokens)
	set(&m.Retired, p.Retired)
	set(&m.Created, p.Created)
	set(&m.Source, p.Source)
	if p.Aliases != nil {
		m.Aliases = slices.Clone(*p.Aliases)
	}
	if pp := p.Pricing; pp != nil {
		set(&m.Pricing.Input, pp.Input)
		set(&m.Pricing.CachedInput, pp.CachedInput)
		set(&m.Pricing.Output, pp.Output)
		set(&m.Pricing.CacheWrite, pp.CacheWrite)
		set(&m.Pricing.CacheWrite1h, pp.CacheWrite1h)
		set(&m.Pricing.LongContext, pp.LongContext)
		set(&m.Pricing.Flex, pp.Flex)
		set(&m.Pricing.Priority, pp.Priority)
		set(&m.Pricing.PerUse, pp.PerUse)
	}
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}
