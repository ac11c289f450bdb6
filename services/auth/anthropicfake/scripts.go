package anthropicfake

import (
	"encoding/json"
	"fmt"
)

// BalanceAndUsage plays the model answering "what is my balance and which
// model did I spend most on?": it first calls the tools get_balance and
// get_usage (by model), then answers with the figures their results gave.
func BalanceAndUsage(req Request) Reply {
	results := req.ToolResults()
	if len(results) == 0 {
		return Reply{Golden: "tool_use.sse"}
	}
	vars := map[string]string{"balance": "(no get_balance result)", "free": "?", "top": "(no get_usage result)"}
	for _, r := range results {
		switch r.Name {
		case "get_balance":
			var b struct {
				Balance string `json:"balance"`
				Free    int64  `json:"free_requests_left"`
			}
			_ = json.Unmarshal([]byte(r.Content), &b)
			vars["balance"], vars["free"] = b.Balance, fmt.Sprint(b.Free)
		case "get_usage":
			var u struct {
				Rows []struct {
					Group    string `json:"group"`
					Requests int64  `json:"requests"`
					Cost     string `json:"cost_at_list_price"`
					Charged  string `json:"charged"`
				} `json:"rows"`
			}
			_ = json.Unmarshal([]byte(r.Content), &u)
			if len(u.Rows) == 0 {
				vars["top"] = "You have no usage in the last 30 days."
			} else {
				top := u.Rows[0]
				vars["top"] = fmt.Sprintf("You spent the most on %s: %s at list price (%s charged) over %d requests in the last 30 days.",
					top.Group, top.Cost, top.Charged, top.Requests)
			}
		}
	}
	return Reply{Golden: "answer.sse", Vars: vars}
}

// Echo answers every question by quoting it (for privacy tests: the
// question then also travels back in the answer).
func Echo(req Request) Reply {
	return Reply{Golden: "echo.sse", Vars: map[string]string{"question": req.LastUserText()}}
}

// Hostile plays a model steered by a prompt injection: its first turn
// calls get_balance, get_usage, list_keys and list_payments with inputs
// naming another account (and its project and key), and a tool that does
// not exist (transfer_credit); its second turn answers with a fixed text.
// The test reads what the tools returned from the second request
// (Request.ToolResults).
func Hostile(victimAccount, victimProject, victimKey string) Script {
	return func(req Request) Reply {
		if len(req.ToolResults()) > 0 {
			return Reply{Golden: "echo.sse", Vars: map[string]string{"question": "done"}}
		}
		in := func(v map[string]any) string {
			raw, _ := json.Marshal(v)
			return string(raw)
		}
		return Reply{Golden: "hostile_tool_use.sse", Vars: map[string]string{
			"balance_input":  in(map[string]any{"account_id": victimAccount, "account": victimAccount}),
			"usage_input":    in(map[string]any{"group_by": "key", "days": 30, "account_id": victimAccount, "project_id": victimProject, "key_id": victimKey}),
			"keys_input":     in(map[string]any{"account_id": victimAccount, "project_id": victimProject}),
			"payments_input": in(map[string]any{"account_id": victimAccount}),
			"transfer_input": in(map[string]any{"from": victimAccount, "amount": "100.00"}),
		}}
	}
}
