package gateway

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"

	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/services/gateway/internal/reqbody"
)

// Charges that are not tokens (issue 10, point 5). Each is either metered
// from the provider's own usage fields at catalog prices, or refused here,
// before anything goes upstream, with a 400 that names the parameter:
//
//   - service_tier: the standard tier under any of its names passes; flex
//     and priority pass when the catalog prices that tier for the model
//     (billed at the tier the response reports); anything else is refused.
//   - Anthropic's web search tool passes when the catalog has its per-use
//     fee (billed per usage.server_tool_use.web_search_requests); web fetch
//     passes (Anthropic bills its tokens only; web_fetch_requests is still
//     metered at the catalog's fee, zero today); code execution is billed
//     per container-hour, which no usage field reports: refused.
//   - On chat completions every tool type but function and custom is
//     refused: provider-run tools there (xAI's agent tools, OpenAI's
//     web search) are billed per call and not reported in the usage.
//   - search_parameters unless its mode is "off" (xAI Live Search, billed
//     per source; xAI has retired it for its Agent Tools API) and
//     web_search_options (OpenAI's search models, billed per call) are
//     refused.
//   - Anthropic's speed (fast mode) and inference_geo (US-only inference)
//     multiply the token rates; the catalog has no such multipliers, so
//     any value but the standard one ("standard", "global") is refused.

// defaultWebSearchHold is the number of searches a credit hold assumes for
// a web search tool without max_uses: Anthropic sets no default limit, so
// the final charge may exceed the hold (it is settled from the usage).
const defaultWebSearchHold = 10

// standardTiers are the service_tier values that ask for the standard
// tier: OpenAI's "auto" and "default", Anthropic's "auto", "standard_only".
var standardTiers = map[string]bool{"": true, "auto": true, "default": true, "standard": true, "standard_only": true}

// checkCharges reads what the body asks for beyond tokens and refuses what
// the gateway could not bill. The Declared it returns sizes the credit hold.
func checkCharges(spec apiSpec, m catalog.Model, body []byte) (catalog.Declared, *apiError) {
	x, err := reqbody.ReadExtras(body)
	if err != nil {
		return catalog.Declared{}, errBadRequest("We could not parse the JSON body of your request: " + err.Error())
	}
	var d catalog.Declared
	d.CacheWrite1h = x.CacheTTL1h
	for _, tier := range x.ServiceTiers {
		if standardTiers[tier] {
			continue
		}
		if _, ok := m.Pricing.Tier(tier); !ok {
			return d, refuse("service_tier", fmt.Sprintf("`service_tier` %q is not available for `%s` through this gateway: it has no price for that tier. Omit `service_tier` or use \"default\".", tier, m.ID))
		}
		d.ServiceTier = tier
	}
	for _, v := range x.Speed {
		if v != "" && v != "standard" {
			return d, refuse("speed", fmt.Sprintf("`speed` %q is not supported by this gateway: it is priced above the standard rates, which the catalog does not hold.", v))
		}
	}
	for _, v := range x.InferenceGeo {
		if v != "" && v != "global" {
			return d, refuse("inference_geo", fmt.Sprintf("`inference_geo` %q is not supported by this gateway: it is priced above the standard rates, which the catalog does not hold.", v))
		}
	}
	if x.SearchParameters {
		return d, refuse("search_parameters", "`search_parameters` (xAI Live Search, billed per source) is not supported by this gateway except with \"mode\": \"off\"; xAI has retired it in favour of its Agent Tools API.")
	}
	if x.WebSearchOptions {
		return d, refuse("web_search_options", "`web_search_options` is not supported by this gateway: the searches are billed per call and the usage does not report them.")
	}
	for _, t := range x.Tools {
		if spec.clientTools[t.Type] {
			continue
		}
		if !spec.serverTools {
			return d, refuse("tools", fmt.Sprintf("`tools`: type %q is not supported on %s by this gateway: provider-run tools are billed per call and the usage does not report them. Use function tools.", t.Type, spec.path))
		}
		switch {
		case strings.HasPrefix(t.Type, "web_search_"):
			if m.Pricing.PerUse.WebSearch <= 0 {
				return d, refuse("tools", fmt.Sprintf("`tools`: the web search tool (%s) is not available for `%s` through this gateway: it has no price for web searches.", t.Type, m.ID))
			}
			n := t.MaxUses
			if n == 0 {
				n = defaultWebSearchHold
			}
			d.WebSearches += n
		case strings.HasPrefix(t.Type, "code_execution_"):
			return d, refuse("tools", fmt.Sprintf("`tools`: the code execution tool (%s) is not supported by this gateway: it is billed per container-hour, which the usage does not report.", t.Type))
		}
	}
	return d, nil
}

func refuse(param, msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, typ: "invalid_request_error", param: param, code: "unsupported_parameter", message: msg}
}

// billedCost is what u costs, with the tier the request asked for when the
// provider reported none (a response too long to keep whole, an abandoned
// stream): then the dearer of the standard and the asked tier's rates, so a
// request is never billed below the tier it may have been served at.
func (s *Service) billedCost(m catalog.Model, u catalog.Usage, d catalog.Declared) (catalog.Usage, money.Micros) {
	cost := m.Cost(u, s.cfg.MarkupBasisPoints)
	if u.ServiceTier != "" || d.ServiceTier == "" {
		return u, cost
	}
	at := u
	at.ServiceTier = d.ServiceTier
	if c := m.Cost(at, s.cfg.MarkupBasisPoints); c > cost {
		return at, c
	}
	return u, cost
}

// serverToolUses counts the server tools an Anthropic stream started
// (content_block_start of a server_tool_use block), so a stream that ends
// without its final usage still bills the searches the provider ran.
type serverToolUses struct{ webSearch, webFetch int64 }

var (
	serverToolUse = []byte(`"type":"server_tool_use"`)
	webSearchName = []byte(`"name":"web_search"`)
	webFetchName  = []byte(`"name":"web_fetch"`)
)

func (c *serverToolUses) count(data []byte) {
	if !bytes.Contains(data, serverToolUse) {
		return
	}
	switch {
	case bytes.Contains(data, webSearchName):
		c.webSearch++
	case bytes.Contains(data, webFetchName):
		c.webFetch++
	}
}

// floor raises u's tool counts to those seen in the stream.
func (c serverToolUses) floor(u catalog.Usage) catalog.Usage {
	u.WebSearchRequests = max(u.WebSearchRequests, c.webSearch)
	u.WebFetchRequests = max(u.WebFetchRequests, c.webFetch)
	return u
}
