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
