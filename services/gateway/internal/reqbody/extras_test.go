package reqbody_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/onekey-oss/onekey/services/gateway/internal/reqbody"
)

func TestReadExtras_FindsEveryChargeABodyAsksFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want reqbody.Extras
	}{
		{"plain chat", `{"model":"m","messages":[{"role":"user","content":"service_tier priority"}]}`, reqbody.Extras{}},
		{"function tools only", `{"model":"m","tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}},{"name":"get_weather","input_schema":{"type":"object"}},{"type":"custom","name":"c"}]}`, reqbody.Extras{}},
		{"tiers, null and repeated", `{"service_tier":null,"model":"m","service_tier":"priority"}`, reqbody.Extras{ServiceTiers: []string{"", "priority"}}},
		{"a tier that is not a string", `{"model":"m","service_tier":7}`, reqbody.Extras{ServiceTiers: []string{"7"}}},
		{"escaped key and value", `{"model":"m","service_t\u0069er":"pr\u0069ority"}`, reqbody.Extras{ServiceTiers: []string{"priority"}}},
		{"server tools with max_uses", `{"model":"m","tools":[{"type":"web_search_20250305","name":"web_search","max_uses":5},{"name":"x","type":"web_fetch_20250910"},{"type":"bash_20250124","name":"bash"}]}`,
			reqbody.Extras{Tools: []reqbody.Tool{{Type: "web_search_20250305", MaxUses: 5}, {Type: "web_fetch_20250910"}, {Type: "bash_20250124"}}}},
		{"an escaped tool type", `{"model":"m","tools":[{"typ\u0065":"web\u005fsearch"}]}`, reqbody.Extras{Tools: []reqbody.Tool{{Type: "web_search"}}}},
		{"tools arrays only, not strings", `{"model":"m","messages":[{"role":"user","content":"\"tools\": [{\"type\":\"web_search\"}]"}],"tools" : [ {"type":"x_search"} ]}`,
			reqbody.Extras{Tools: []reqbody.Tool{{Type: "x_search"}}}},
		{"search options", `{"model":"m","search_parameters":{"mode":"auto"},"web_search_options":{}}`, reqbody.Extras{SearchParameters: true, WebSearchOptions: true}},
		{"live search off", `{"model":"m","search_parameters":{"mode":"off"}}`, reqbody.Extras{}},
		{"live search by default", `{"model":"m","search_parameters":{"sources":[{"type":"x"}]}}`, reqbody.Extras{SearchParameters: true}},
		{"fast mode and data residency", `{"model":"m","speed":"fast","inference_geo":"us"}`, reqbody.Extras{Speed: []string{"fast"}, InferenceGeo: []string{"us"}}},
		{"null search options", `{"model":"m","search_parameters":null,"web_search_options":null,"tools":null}`, reqbody.Extras{}},
		{"1-hour cache", `{"model":"m","system":[{"type":"text","text":"x","cache_control":{"type":"ephemeral","ttl":"1h"}}]}`, reqbody.Extras{CacheTTL1h: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := reqbody.ReadExtras([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ReadExtras = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// Bodies reach ReadExtras after Peek accepted them (valid JSON objects); a
// tools value that is not an array declares nothing a provider would run.
func TestReadExtras_RefusesToolsItCannotRead(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		`{"model":"m","tools":["web_search"]}`,
		`{"model":"m","tools":[{"type":1}]}`,
		`{"model":"m","tools":[{"type":"web_search_20250305","max_uses":-1}]}`,
	} {
		if _, err := reqbody.ReadExtras([]byte(body)); !errors.Is(err, reqbody.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", body, err)
		}
	}
}
