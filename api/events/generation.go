package events

import (
	"time"

	"github.com/onekey-oss/onekey/api/money"
)

// Generation lookups. The gateway asks the ledger, over core NATS
// request/reply (not streamed), for the metadata of one request of the
// account in the subject: "ledger.generation.<account>", the account being
// the caller's, from its API key. The ledger answers only with a usage row
// of that account, so a request id of another account is not found, the
// same as an unknown one. Nothing here carries content.

// FamilyGeneration is the request subject family: "ledger.generation.<account>".
const FamilyGeneration = "ledger.generation"

// GenerationRequestV1 asks for the usage row of request ID.
type GenerationRequestV1 struct {
	V         int    `json:"v"`
	ID        string `json:"id"` // the request id (x-request-id, the usage event's id)
	AccountID string `json:"account_id"`
}

func (r GenerationRequestV1) EventSubject() (string, error) {
	return Subject(FamilyGeneration, r.AccountID)
}

// GenerationV1 is the ledger's reply. Found is false when the ledger has
// no usage row of that id in that account (not yet applied, expired, never
// made, or another account's); Error is set when it could not look.
type GenerationV1 struct {
	V          int         `json:"v"`
	ID         string      `json:"id"`
	AccountID  string      `json:"account_id"`
	Found      bool        `json:"found"`
	Generation *Generation `json:"generation,omitempty"`
	Error      string      `json:"error,omitempty"`
}

// Generation is one request as the ledger recorded it: the usage event's
// figures and what the ledger charged.
type Generation struct {
	Time              time.Time `json:"time"`
	ProjectID         string    `json:"project_id"`
	KeyID             string    `json:"key_id"`
	Model             string    `json:"model"`
	Provider          string    `json:"provider"`
	InputTokens       int64     `json:"input_tokens"`
	CachedInputTokens int64     `json:"cached_input_tokens"`
	CacheWriteTokens  int64     `json:"cache_write_tokens"`
	OutputTokens      int64     `json:"output_tokens"`
	ReasoningTokens   int64     `json:"reasoning_tokens"`
	// CostMicros is the request's cost at catalog prices (the usage
	// event's); ChargedMicros what the account was charged: 0 when it used
	// a free request (Free).
	CostMicros    money.Micros `json:"cost_micros"`
	ChargedMicros money.Micros `json:"charged_micros"`
	Free          bool         `json:"free"`
	LatencyMS     int64        `json:"latency_ms"`
	TTFBMS        int64        `json:"ttfb_ms"`
	Streamed      bool         `json:"streamed"`
	Status        int          `json:"status"`
	Estimated     bool         `json:"estimated"`
}
