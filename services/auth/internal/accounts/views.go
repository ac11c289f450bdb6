package accounts

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/api/readmodel"
)

// Balance is what the dashboard shows of an account's money.
type Balance struct {
	BalanceMicros    money.Micros `json:"balance_micros"`
	Balance          string       `json:"balance"` // "$5.00"
	FreeRequestsLeft int64        `json:"free_requests_left"`
	// Opened is false until the ledger has opened the account.
	Opened    bool      `json:"opened"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// Balance reads the ledger's account document.
func (s *Store) Balance(ctx context.Context, accountID string) (Balance, error) {
	var a readmodel.Account
	err := s.st.Collection(readmodel.CollAccounts).FindOne(ctx, bson.D{{Key: "_id", Value: accountID}}).Decode(&a)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Balance{Balance: money.Micros(0).Display()}, nil
	}
	if err != nil {
		return Balance{}, fmt.Errorf("read balance: %w", err)
	}
	m := money.Micros(a.BalanceMicros)
	return Balance{BalanceMicros: m, Balance: m.Display(), FreeRequestsLeft: a.FreeRequestsLeft, Opened: a.Opened, UpdatedAt: a.UpdatedAt}, nil
}

// Usage grouping.
const (
	ByDay   = "day"
	ByModel = "model"
	ByKey   = "key"
	// ByProject groups by project id.
	ByProject = "project"
)

// UsageRow is the total of one group.
type UsageRow struct {
	Group             string       `json:"group"`
	Requests          int64        `json:"requests"`
	Errors            int64        `json:"errors"`
	InputTokens       int64        `json:"input_tokens"`
	CachedInputTokens int64        `json:"cached_input_tokens"`
	OutputTokens      int64        `json:"output_tokens"`
	CostMicros        money.Micros `json:"cost_micros"`
}

// UsageQuery selects usage: UTC days From..To inclusive, grouped by GroupBy,
// optionally one project only.
type UsageQuery struct {
	From, To  time.Time
	GroupBy   string
	ProjectID string
}

// Usage sums the ledger's rollups (DESIGN.md §3: no server-side
// aggregation). Rows are ordered by group.
func (s *Store) Usage(ctx context.Context, accountID string, q UsageQuery) ([]UsageRow, error) {
	switch q.GroupBy {
	case ByDay, ByModel, ByKey, ByProject:
	default:
		return nil, invalid("group_by must be day, model, key or project")
	}
	if q.To.Before(q.From) {
		return nil, invalid("to is before from")
	}
	if q.To.Sub(q.From) > 400*24*time.Hour {
		return nil, invalid("the range may span at most 400 days")
	}
	if q.ProjectID != "" {
		if _, err := s.Project(ctx, accountID, q.ProjectID); err != nil {
			return nil, err
		}
	}
	a, err := s.ledgerAccount(ctx, accountID)
	if err != nil {
		return nil, err
	}
	rollups, err := s.RollupsOf(ctx, a, q.From, q.To)
	if err != nil {
		return nil, fmt.Errorf("read usage: %w", err)
	}
	groups := map[string]*UsageRow{}
	for _, r := range rollups {
		if q.ProjectID != "" && r.ProjectID != q.ProjectID {
			continue
		}
		g := r.Day
		switch q.GroupBy {
		case ByModel:
			g = r.Model
		case ByKey:
			g = r.KeyID
		case ByProject:
			g = r.ProjectID
		}
		row := groups[g]
		if row == nil {
			row = &UsageRow{Group: g}
			groups[g] = row
		}
		row.Requests += r.Requests
		row.Errors += r.Errors
		row.InputTokens += r.InputTokens
		row.CachedInputTokens += r.CachedInputTokens
		row.OutputTokens += r.OutputTokens
		row.CostMicros += money.Micros(r.CostMicros)
	}
	out := make([]UsageRow, 0, len(groups))
	for _, r := range groups {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out, nil
}
