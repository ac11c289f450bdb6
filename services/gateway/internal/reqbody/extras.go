package reqbody

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/onekey-oss/onekey/services/gateway/internal/jsonscan"
)

// Extras is what a body asks for that a provider bills beyond its tokens:
// a processing tier, tools the provider runs itself, search features. The
// gateway meters these at catalog prices or refuses the request; it never
// forwards one it cannot bill.
type Extras struct {
	// ServiceTiers is every top-level service_tier value, decoded; null is
	// "", a value that is not a string is its raw JSON (refused as unknown).
	ServiceTiers []string
	// Tools are the entries of the top-level tools array whose type is
	// neither absent nor "function" nor "custom": tools the provider runs
	// (Anthropic's web_search_20250305, xAI's web_search...) or, on the
	// Messages API, Anthropic-defined client tools (bash_20250124...).
	Tools []Tool
	// SearchParameters is a search_parameters that may search (xAI Live
	// Search): not null and its mode not "off" (the default mode is "auto").
	SearchParameters bool
	// WebSearchOptions is a non-null web_search_options (OpenAI's search
	// models on chat completions).
	WebSearchOptions bool
	// Speed and InferenceGeo are every top-level speed and inference_geo
	// value (Anthropic's fast mode and data residency, both priced as a
	// multiple of the token rates), decoded like ServiceTiers.
	Speed        []string
	InferenceGeo []string
	// CacheTTL1h is set when the body may ask for 1-hour cache writes. It is
	// a byte search for a "1h" string, used only to size the credit hold.
	CacheTTL1h bool
}

// Tool is one typed entry of a tools array.
type Tool struct {
	Type string
	// MaxUses is the tool's max_uses (0: unset).
	MaxUses int64
}

var (
	// scalarKeys are read by a scan of the top level when one of them
	// appears anywhere in the body.
	scalarKeys = [][]byte{[]byte(`"service_tier"`), []byte(`"search_parameters"`), []byte(`"web_search_options"`),
		[]byte(`"speed"`), []byte(`"inference_geo"`)}
	toolsKey = []byte(`"tools"`)
	// A key can only be spelled with escapes through \u (its letters and
	// '_' have no other escape), so a body without any of the keys above
	// and without "\u" cannot hold them.
	unicodeEscape = []byte(`\u`)
)

// ReadExtras reads the Extras of body, which Peek has accepted. The common
// body costs a byte search per key and, when it has tools, a scan of its
// tools arrays only: every "tools": [...] in the body is read (the
// top-level one is among them; a nested one can only add to what is
// refused), so the rest of the body is not scanned a second time. A body
// with a scalar key or a \u escape gets one scan of its top level.
func ReadExtras(body []byte) (Extras, error) {
	x := Extras{CacheTTL1h: bytes.Contains(body, []byte(`"1h"`))}
	if hasAny(body, scalarKeys) || bytes.Contains(body, unicodeEscape) {
		return x, readTopLevel(body, &x)
	}
	for off := 0; ; {
		i := bytes.Index(body[off:], toolsKey)
		if i < 0 {
			return x, nil
		}
		j := skipSpace(body, off+i+len(toolsKey))
		off = j
		if j >= len(body) || body[j] != ':' {
			continue
		}
		j = skipSpace(body, j+1)
		if j >= len(body) || body[j] != '[' {
			continue
		}
		end, err := jsonscan.ValueEnd(body, j)
		if err != nil {
			continue // not a value: the bytes were inside a key
		}
		tools, err := typedTools(body[j:end])
		if err != nil {
			return Extras{}, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		x.Tools = append(x.Tools, tools...)
		off = end
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

func readTopLevel(body []byte, x *Extras) error {
	err := jsonscan.Fields(body, func(f jsonscan.Field) error {
		raw := body[f.ValueStart:f.ValueEnd]
		null := string(raw) == "null"
		switch f.Key {
		case "service_tier":
			x.ServiceTiers = append(x.ServiceTiers, tierValue(raw))
		case "speed":
			x.Speed = append(x.Speed, tierValue(raw))
		case "inference_geo":
			x.InferenceGeo = append(x.InferenceGeo, tierValue(raw))
		case "search_parameters":
			x.SearchParameters = x.SearchParameters || (!null && !searchOff(raw))
		case "web_search_options":
			x.WebSearchOptions = x.WebSearchOptions || !null
		case "tools":
			if null {
				return nil
			}
			tools, err := typedTools(raw)
			if err != nil {
				return err
			}
			x.Tools = append(x.Tools, tools...)
		}
		return nil
	})
	if err != nil {
		*x = Extras{}
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

func hasAny(b []byte, marks [][]byte) bool {
	for _, m := range marks {
		if bytes.Contains(b, m) {
			return true
		}
	}
	return false
}

// searchOff reports whether search_parameters is {"mode":"off"} (with any
// other members): a request that asks for no search.
func searchOff(raw []byte) bool {
	var p struct {
		Mode *string `json:"mode"`
	}
	return json.Unmarshal(raw, &p) == nil && p.Mode != nil && *p.Mode == "off"
}

func tierValue(raw []byte) string {
	if string(raw) == "null" {
		return ""
	}
	var s string
	if len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// typedTools reads only the type and max_uses of each tool; everything
// else in the entries (schemas, descriptions) is skipped over.
func typedTools(raw []byte) ([]Tool, error) {
	var out []Tool
	err := jsonscan.Elements(raw, func(s, e int) error {
		entry := raw[s:e]
		if entry[0] != '{' {
			return fmt.Errorf("tools: a tool must be an object")
		}
		var t Tool
		var maxUses []byte
		err := jsonscan.Fields(entry, func(f jsonscan.Field) error {
			v := entry[f.ValueStart:f.ValueEnd]
			switch f.Key {
			case "type":
				// A repeated type is read as the provider's decoder reads
				// it: the last one wins.
				t.Type = ""
				if string(v) != "null" && json.Unmarshal(v, &t.Type) != nil {
					return fmt.Errorf("tools: a tool's type must be a string")
				}
			case "max_uses":
				maxUses = v
			}
			return nil
		})
		if err != nil {
			return err
		}
		if t.Type == "" || t.Type == "function" || t.Type == "custom" {
			return nil
		}
		if len(maxUses) > 0 && string(maxUses) != "null" {
			if json.Unmarshal(maxUses, &t.MaxUses) != nil || t.MaxUses < 0 {
				return fmt.Errorf("tools: max_uses must be a non-negative integer")
			}
		}
		out = append(out, t)
		return nil
	})
	return out, err
}
