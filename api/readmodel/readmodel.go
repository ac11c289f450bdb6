// Package readmodel is the shape of the ledger's collections that other
// account-layer services read (never write): account balances and the usage
// rollups the dashboard shows. The ledger is their only writer; it may add
// fields, never rename or retype one.
//
// All services of the account layer share one database (MONGODB_DB,
// default "onekey"); each owns its own collections.
package readmodel

import "time"

// Collections owned by the ledger (and CollUsageDays, CollPayments).
const (
	CollAccounts = "accounts"
	CollJournal  = "journal"
	CollUsage    = "usage"
	CollRollups  = "usage_rollups"
)

// Account is one document of "accounts", keyed by account id.
type Account struct {
	ID               string `bson:"_id" json:"account_id"`
	BalanceMicros    int64  `bson:"balance_micros" json:"balance_micros"`
	FreeRequestsLeft int64  `bson:"free_requests_left" json:"free_requests_left"`
	// LowBalanceMicros is the threshold below which a balance.low event is
	// published (0: none).
	LowBalanceMicros int64 `bson:"low_balance_micros" json:"low_balance_micros"`
	Opened           bool  `bson:"opened" json:"opened"` // account.created seen
	// Seq is the sequence number of the last journal entry applied to the
	// account: it changes whenever the ledger changes anything of it
	// (balance, rollups, payments), after the rollups are written.
	Seq int64 `bson:"seq" json:"seq"`
	// KeySpendMicros is what each key has been charged in total (for
	// spend caps), by key id.
	KeySpendMicros map[string]int64 `bson:"key_spend_micros,omitempty" json:"key_spend_micros,omitempty"`
	CreatedAt      time.Time        `bson:"created_at" json:"created_at"`
	UpdatedAt      time.Time        `bson:"updated_at" json:"updated_at"`
	// ReadModels is ReadModelsVersion once the ledger keeps the fields
	// below and the documents they name (views.go); 0: read the rollups
	// and the journal instead.
	ReadModels int `bson:"read_models,omitempty" json:"-"`
	// UsageDays names the account's usage_days documents of the last
	// UsageDaysKept days, each with the seq of the last usage entry
	// folded into it (FormatUsageDays). A day not named has no usage.
	UsageDays string `bson:"usage_days,omitempty" json:"-"`
	// PaymentsSeq is the Seq of the account's payments document (0: none).
	PaymentsSeq int64 `bson:"payments_seq,omitempty" json:"-"`
}

// Rollup is one document of "usage_rollups": the totals of one account's
// requests on one UTC day for one model through one key. The dashboard
// sums these (by day, model or key) instead of aggregating usage rows.
// _id is AccountID|Day|Model|KeyID.
type Rollup struct {
	ID                string `bson:"_id" json:"-"`
	AccountID         string `bson:"account_id" json:"account_id"`
	Day               string `bson:"day" json:"day"` // "2006-01-02", UTC
	Model             string `bson:"model" json:"model"`
	KeyID             string `bson:"key_id" json:"key_id"`
	ProjectID         string `bson:"project_id" json:"project_id"`
	Requests          int64  `bson:"requests" json:"requests"`
	Errors            int64  `bson:"errors" json:"errors"` // responses with status >= 400
	InputTokens       int64  `bson:"input_tokens" json:"input_tokens"`
	CachedInputTokens int64  `bson:"cached_input_tokens" json:"cached_input_tokens"`
	OutputTokens      int64  `bson:"output_tokens" json:"output_tokens"`
	CostMicros        int64  `bson:"cost_micros" json:"cost_micros"`
	// ChargedMicros is what the requests were charged: CostMicros less the
	// cost of requests that used a free request. FreeRequests counts those.
	// (Rollups written before these fields existed read them as zero.)
	ChargedMicros int64 `bson:"charged_micros" json:"charged_micros"`
	FreeRequests  int64 `bson:"free_requests" json:"free_requests"`
}

// RollupID is the _id of the rollup for these coordinates.
func RollupID(accountID, day, model, keyID string) string {
	return accountID + "|" + day + "|" + model + "|" + keyID
}

// Day is the rollup day of t.
func Day(t time.Time) string { return t.UTC().Format("2006-01-02") }

// JournalEntry is the part of a "journal" document (one per applied event,
// keyed by event id, never changed) that the account layer reads for the
// payment history.
type JournalEntry struct {
	ID           string    `bson:"_id" json:"id"`
	AccountID    string    `bson:"account_id" json:"account_id"`
	Seq          int64     `bson:"seq" json:"seq"`
	Kind         string    `bson:"kind" json:"kind"` // JournalOpen, JournalUsage, JournalCredit, ...
	AmountMicros int64     `bson:"amount_micros" json:"amount_micros"`
	CreditKind   string    `bson:"credit_kind,omitempty" json:"credit_kind,omitempty"` // purchase, refund, dispute, dispute_won, adjustment
	Method       string    `bson:"method,omitempty" json:"method,omitempty"`           // card, crypto, adjustment
	Time         time.Time `bson:"time" json:"time"`
}

// Journal entry kinds.
const (
	JournalOpen     = "open"
	JournalUsage    = "usage"
	JournalCredit   = "credit"
	JournalSettings = "settings"
)
