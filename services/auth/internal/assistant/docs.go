package assistant

import (
	"sort"
	"strings"
)

// docs is the product's own documentation the assistant may read: what the
// README and the dashboard say, short. {{gateway}} is the gateway's public
// base URL (without /v1).
var docs = map[string]string{
	"quickstart": `Quickstart. Base URL: {{gateway}}/v1 (OpenAI-compatible). Create an API key on the Keys page (/keys); it is shown once.
curl: curl {{gateway}}/v1/chat/completions -H "Authorization: Bearer $ONEKEY_KEY" -H "Content-Type: application/json" -d '{"model":"gpt-5-mini","messages":[{"role":"user","content":"Say hello"}]}'
OpenAI SDK (Python): OpenAI(base_url="{{gateway}}/v1", api_key=KEY). OpenAI SDK (Node): new OpenAI({ baseURL: "{{gateway}}/v1", apiKey: KEY }).
Any model of the catalog works with the same key: OpenAI, Anthropic, Google and xAI models. Streaming works ("stream": true).
Endpoints: POST /v1/chat/completions, GET /v1/models, GET /v1/models/{id}, POST /v1/embeddings, POST /v1/messages and /v1/messages/count_tokens (Anthropic's format), GET /v1/credits (balance).
The Overview page (/) shows the quickstart with this URL filled in.`,
	"claude_code": `Claude Code with onekey: set two environment variables and run claude:
ANTHROPIC_BASE_URL={{gateway}} ANTHROPIC_API_KEY=<your onekey key> claude
(The base URL has no /v1 for Anthropic's format.) The key may also be sent as x-api-key. Billing is the same as for any request: the provider's token usage at catalog prices.`,
	"errors": `Gateway errors (OpenAI's JSON shape; Anthropic's on /v1/messages). Every response carries x-request-id.
401 invalid_api_key: no key, a wrong key, or a revoked or expired key. Create a new one on /keys.
403 key_suspended: the operator of this service suspended the key (/keys says so, since when and their reason); only they can restore it. Contact them (see the footer); you may revoke it and create another.
402 insufficient_credit: the balance (and free requests) cannot cover the request's worst case (its credit hold: input size plus the output limit at the model's prices). Top up on /billing, or set a lower max_tokens.
429 rate_limit_exceeded: the key's requests-per-minute limit (edit it on /keys). 429 spend_cap_reached: the key reached its spend cap (raise it on /keys).
404 model_not_found: the model id is not in the catalog (the message suggests close names; GET /v1/models lists them).
400 invalid_request_error: a malformed body, or a parameter the gateway refuses because it cannot bill it exactly (the message names it: e.g. provider-run web search on chat completions, code execution, fast mode).
408 request_timeout: the client sent the body too slowly. 413 request_too_large: body above the size limit (32 MB by default).
502 upstream_timeout / upstream_unavailable: the provider did not answer. 503 billing_unavailable: billing is briefly unreachable; nothing was charged; retry. 503 server_busy: retry after Retry-After. 503 provider_unavailable: no channel for that provider.
A provider's own error is passed on with its status and message (account identifiers removed).`,
	"billing": `Billing. Money is exact, in micro-dollars: cost = tokens × price per million tokens, rounded up once to a whole micro-dollar, at the catalog prices (GET /v1/models; markup included). Each new account has 20 free requests: a free request is charged $0.00 (its cost at list price still shows in usage).
A request is admitted only if the balance covers its worst case (the credit hold); it is then charged the provider's actual usage. When no output limit is set and the balance is short, the gateway lowers the output limit to what the balance covers (header X-Onekey-Max-Output-Tokens).
Top up on /billing: by card through Stripe Checkout, or with USDC/USDT on the supported chains (link a wallet, then claim the transaction hash). The low-balance e-mail alert threshold is set on the Overview page (/).
Usage is kept 90 days; the Usage page (/usage) shows it by day, model, project and key, with a CSV download.`,
	"keys":    `Keys and projects (/keys): create projects and keys; a key can have a name, a requests-per-minute limit, a spend cap and an expiry date. The key is shown once, at creation. Edit limits or revoke a key on /keys (a revoked key stops working at once and cannot be restored). Keys are stored only as a hash.`,
	"privacy": `Privacy: request and response content is never stored (no log, database, bus or file); only metadata (model, token counts, cost, latency) is kept, 90 days. Assistant conversations are sent to Anthropic to be answered and kept nowhere else. Export your data or delete the account on /settings. The privacy policy is at /privacy; the design at /under-the-hood.`,
	"pages":   `Dashboard pages: Overview / (balance, free requests, spend, charts, top models, quickstart, low-balance alert threshold); Keys /keys (projects, keys, limits, revoke); Usage /usage (up to 90 days, CSV); Billing /billing (top up by card or crypto, payment history); Settings /settings (name, sign out, sign out everywhere, download my data, delete account); /privacy; /under-the-hood.`,
}

func docTopics() []string {
	out := make([]string, 0, len(docs))
	for k := range docs {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// docReader returns the documentation with the gateway's URL filled in.
func docReader(gatewayURL string) func(string) (string, bool) {
	base := strings.TrimSuffix(gatewayURL, "/")
	return func(topic string) (string, bool) {
		d, ok := docs[topic]
		return strings.ReplaceAll(d, "{{gateway}}", base), ok
	}
}
