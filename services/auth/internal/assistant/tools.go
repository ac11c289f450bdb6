package assistant

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/api/readmodel"
	"github.com/onekey-oss/onekey/services/auth/internal/accounts"
)

// The tools. None takes an account: each reads the account of the session
// the question came with, which the model cannot name or change. None
// writes anything.
const (
	ToolBalance  = "get_balance"
	ToolUsage    = "get_usage"
	ToolKeys     = "list_keys"
	ToolPayments = "list_payments"
	ToolModels   = "list_models"
	ToolDocs     = "read_docs"
)

// toolLabels are what the panel shows while a tool runs.
var toolLabels = map[string]string{
	ToolBalance: "Reading your balance", ToolUsage: "Reading your usage", ToolKeys: "Reading your keys",
	ToolPayments: "Reading your payments", ToolModels: "Reading the model catalog", ToolDocs: "Reading the documentation",
}

// maxUsageDays is the longest usage range (usage is kept 90 days).
const maxUsageDays = 90

func toolDefs() []anthropic.ToolUnionParam {
	obj := func(props map[string]any, required ...string) anthropic.ToolInputSchemaParam {
		return anthropic.ToolInputSchemaParam{Properties: props, Required: required}
	}
	tool := func(name, desc string, schema anthropic.ToolInputSchemaParam) anthropic.ToolUnionParam {
		return anthropic.ToolUnionParam{OfTool: &anthropic.ToolParam{Name: name, Description: anthropic.String(desc), InputSchema: schema}}
	}
	return []anthropic.ToolUnionParam{
		tool(ToolBalance, "The signed-in user's balance in USD, free requests left and low-balance alert threshold.", obj(map[string]any{})),
		tool(ToolUsage, "The signed-in user's usage over the last `days` days (UTC, today included), grouped by day, model, project or key: "+
			"requests, free requests, errors, tokens, cost at list price and what was charged (free requests are charged $0). Largest charge first (days: newest first).",
			obj(map[string]any{
				"group_by": map[string]any{"type": "string", "enum": []string{"day", "model", "project", "key"}},
				"days":     map[string]any{"type": "integer", "minimum": 1, "maximum": maxUsageDays, "description": "default 30"},
			}, "group_by")),
		tool(ToolKeys, "The signed-in user's API keys: name, project, prefix, status, requests-per-minute limit, spend cap, spent, expiry, created, last day used.", obj(map[string]any{})),
		tool(ToolPayments, "The signed-in user's payment history (card and crypto top-ups, refunds, disputes, adjustments), newest first.", obj(map[string]any{})),
		tool(ToolModels, "The models this gateway serves with their prices in USD per million tokens (what users pay: markup included), from the gateway's /v1/models. "+
			"Filter with `query` (part of an id, name or provider).",
			obj(map[string]any{"query": map[string]any{"type": "string"}})),
		tool(ToolDocs, "This product's own documentation.", obj(map[string]any{
			"topic": map[string]any{"type": "string", "enum": docTopics()},
		}, "topic")),
	}
}

// tools runs the tools for one account.
type tools struct {
	acc     *accounts.Store
	models  *modelList
	docs    func(topic string) (string, bool)
	now     func() time.Time
	account string
}

// run executes a tool call and returns its result as JSON text, or an
// error text for the model (isError) when the call was wrong.
func (t tools) run(ctx context.Context, name string, input json.RawMessage) (result string, isError bool, err error) {
	var out any
	switch name {
	case ToolBalance:
		out, err = t.balance(ctx)
	case ToolUsage:
		var in struct {
			GroupBy string `json:"group_by"`
			Days    int    `json:"days"`
		}
		_ = json.Unmarshal(input, &in)
		out, err = t.usage(ctx, in.GroupBy, in.Days)
	case ToolKeys:
		out, err = t.keys(ctx)
	case ToolPayments:
		out, err = t.payments(ctx)
	case ToolModels:
		var in struct {
			Query string `json:"query"`
		}
		_ = json.Unmarshal(input, &in)
		out, err = t.models.list(ctx, in.Query)
	case ToolDocs:
		var in struct {
			Topic string `json:"topic"`
		}
		_ = json.Unmarshal(input, &in)
		text, ok := t.docs(in.Topic)
		if !ok {
			return "unknown topic; topics: " + strings.Join(docTopics(), ", "), true, nil
		}
		return text, false, nil
	default:
		return "no such tool", true, nil
	}
	if err != nil {
		if e, ok := err.(toolInputError); ok {
			return string(e), true, nil
		}
		return "", false, fmt.Errorf("tool %s: %w", name, err)
	}
	raw, err := json.Marshal(out)
	if err != nil {
		return "", false, fmt.Errorf("tool %s: encode: %w", name, err)
	}
	return string(raw), false, nil
}

// toolInputError is a wrong tool input, told to the model.
type toolInputError string

func (e toolInputError) Error() string { return string(e) }

func (t tools) balance(ctx context.Context) (any, error) {
	la, err := t.acc.LedgerAccount(ctx, t.account)
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"balance": usd(money.Micros(la.BalanceMicros)), "balance_micros": la.BalanceMicros,
		"free_requests_left":  la.FreeRequestsLeft,
		"low_balance_alert":   usd(money.Micros(la.LowBalanceMicros)),
		"account_opened":      la.Opened,
		"where_to_top_up":     "/billing",
		"where_to_set_alerts": "/",
	}, nil
}

type usageRow struct {
	Group             string `json:"group"`
	Name              string `json:"name,omitempty"`
	Requests          int64  `json:"requests"`
	FreeRequests      int64  `json:"free_requests"`
	Errors            int64  `json:"errors"`
	InputTokens       int64  `json:"input_tokens"`
	CachedInputTokens int64  `json:"cached_input_tokens"`
	OutputTokens      int64  `json:"output_tokens"`
	Cost              string `json:"cost_at_list_price"`
	Charged           string `json:"charged"`
	cost, charged     money.Micros
}

func (t tools) usage(ctx context.Context, groupBy string, days int) (any, error) {
	switch groupBy {
	case "day", "model", "project", "key":
	default:
		return nil, toolInputError("group_by must be day, model, project or key")
	}
	if days <= 0 {
		days = 30
	}
	days = min(days, maxUsageDays)
	today := t.now().UTC().Truncate(24 * time.Hour)
	from := today.AddDate(0, 0, -(days - 1))
	la, err := t.acc.LedgerAccount(ctx, t.account)
	if err != nil {
		return nil, err
	}
	rs, err := t.acc.RollupsOf(ctx, la, from, today)
	if err != nil {
		return nil, err
	}
	names, err := t.names(ctx, groupBy)
	if err != nil {
		return nil, err
	}
	idx := map[string]*usageRow{}
	var total usageRow
	for _, r := range rs {
		g := groupOf(r, groupBy)
		row := idx[g]
		if row == nil {
			row = &usageRow{Group: g}
			if names != nil {
				row.Name = names[g]
				if row.Name == "" {
					row.Name = "(deleted)"
				}
			}
			idx[g] = row
		}
		for _, x := range []*usageRow{row, &total} {
			x.Requests += r.Requests
			x.FreeRequests += r.FreeRequests
			x.Errors += r.Errors
			x.InputTokens += r.InputTokens
			x.CachedInputTokens += r.CachedInputTokens
			x.OutputTokens += r.OutputTokens
			x.cost += money.Micros(r.CostMicros)
			x.charged += money.Micros(r.ChargedMicros)
		}
	}
	rows := make([]usageRow, 0, len(idx))
	for _, r := range idx {
		r.Cost, r.Charged = usd(r.cost), usd(r.charged)
		rows = append(rows, *r)
	}
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if groupBy == "day" {
			return a.Group > b.Group
		}
		if a.charged != b.charged {
			return a.charged > b.charged
		}
		if a.cost != b.cost {
			return a.cost > b.cost
		}
		return a.Group < b.Group
	})
	total.Group, total.Cost, total.Charged = "total", usd(total.cost), usd(total.charged)
	return map[string]any{
		"from": from.Format(time.DateOnly), "to": today.Format(time.DateOnly), "group_by": groupBy,
		"rows": rows, "total": total, "page": "/usage",
	}, nil
}

func groupOf(r readmodel.Rollup, by string) string {
	switch by {
	case "model":
		return r.Model
	case "project":
		return r.ProjectID
	case "key":
		return r.KeyID
	}
	return r.Day
}

// names maps project or key ids to what the user calls them.
func (t tools) names(ctx context.Context, groupBy string) (map[string]string, error) {
	out := map[string]string{}
	switch groupBy {
	case "project":
		ps, err := t.acc.Projects(ctx, t.account)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			out[p.ID] = p.Name
		}
	case "key":
		ks, err := t.acc.AllKeys(ctx, t.account)
		if err != nil {
			return nil, err
		}
		for _, k := range ks {
			out[k.ID] = k.Name + " (" + k.Prefix + "…)"
		}
	default:
		return nil, nil
	}
	return out, nil
}

func (t tools) keys(ctx context.Context) (any, error) {
	ks, err := t.acc.AllKeys(ctx, t.account)
	if err != nil {
		return nil, err
	}
	projects, err := t.names(ctx, "project")
	if err != nil {
		return nil, err
	}
	la, err := t.acc.LedgerAccount(ctx, t.account)
	if err != nil {
		return nil, err
	}
	last, err := t.acc.KeysLastUsed(ctx, t.account)
	if err != nil {
		return nil, err
	}
	now := t.now()
	type keyOut struct {
		Name     string `json:"name"`
		Project  string `json:"project"`
		Prefix   string `json:"prefix"`
		Status   string `json:"status"`
		RPM      string `json:"requests_per_minute"`
		SpendCap string `json:"spend_cap"`
		Spent    string `json:"spent"`
		Expires  string `json:"expires,omitempty"`
		Created  string `json:"created"`
		LastUsed string `json:"last_used_day,omitempty"`
	}
	out := make([]keyOut, 0, len(ks))
	for _, k := range ks {
		o := keyOut{Name: k.Name, Project: projects[k.ProjectID], Prefix: k.Prefix + "…", Status: k.Status,
			RPM: "no limit", SpendCap: "no cap", Spent: usd(money.Micros(la.KeySpendMicros[k.ID])),
			Created: k.CreatedAt.UTC().Format(time.DateOnly), LastUsed: last[k.ID]}
		if k.RPM > 0 {
			o.RPM = strconv.Itoa(k.RPM)
		}
		if k.SpendCapMicros > 0 {
			o.SpendCap = usd(k.SpendCapMicros)
		}
		if k.KeyExpiresAt != nil {
			o.Expires = k.KeyExpiresAt.UTC().Format(time.DateOnly)
			if k.Status == "active" && !k.KeyExpiresAt.After(now) {
				o.Status = "expired"
			}
		}
		out = append(out, o)
	}
	return map[string]any{"keys": out, "page": "/keys"}, nil
}

// maxPaymentsShown bounds the history given to the model.
const maxPaymentsShown = 50

func (t tools) payments(ctx context.Context) (any, error) {
	ps, err := t.acc.Payments(ctx, t.account)
	if err != nil {
		return nil, err
	}
	type payOut struct {
		Time   string `json:"time"`
		Kind   string `json:"kind"`
		Method string `json:"method"`
		Amount string `json:"amount"`
	}
	out := make([]payOut, 0, min(len(ps), maxPaymentsShown))
	for i, p := range ps {
		if i == maxPaymentsShown {
			break
		}
		out = append(out, payOut{Time: p.Time.UTC().Format(time.RFC3339), Kind: p.Kind, Method: p.Method, Amount: usd(p.AmountMicros)})
	}
	return map[string]any{"payments": out, "total_payments": len(ps), "page": "/billing"}, nil
}

// usd formats micro-USD exactly as the dashboard does: at least two
// decimals, more only when the amount has them, thousands separated
// ("$5.00", "$0.001443", "$1,234.50").
func usd(m money.Micros) string {
	v := int64(m)
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	frac := strings.TrimRight(strconv.FormatInt(v%1_000_000+1_000_000, 10)[1:], "0")
	for len(frac) < 2 {
		frac += "0"
	}
	whole := strconv.FormatInt(v/1_000_000, 10)
	for i := len(whole) - 3; i > 0; i -= 3 {
		whole = whole[:i] + "," + whole[i:]
	}
	return sign + "$" + whole + "." + frac
}
