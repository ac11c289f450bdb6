package events

import (
	"time"

	"github.com/onekey-oss/onekey/api/money"
)

// API key statuses. Revoked is for good (the user's or the account's
// deletion); suspended is an operator's hold, undone by the operator
// (SubjectKeyStatus), never by the key's user.
const (
	KeyActive    = "active"
	KeyRevoked   = "revoked"
	KeySuspended = "suspended"
)

// APIKeyV1 is the value stored in KV apikeys under the hex SHA-256 of the
// key. It holds opaque ids and limits only: the gateway learns nothing of
// who the caller is.
type APIKeyV1 struct {
	V         int    `json:"v"`
	KeyID     string `json:"key_id"`
	ProjectID string `json:"project_id"`
	AccountID string `json:"account_id"`
	Status    string `json:"status"`
	// RPM limits requests per minute; 0 means no limit.
	RPM int `json:"rpm,omitempty"`
	// SpendCapMicros caps what the key may spend; 0 means no cap.
	SpendCapMicros money.Micros `json:"spend_cap_micros,omitempty"`
	// ExpiresAt, when set, is when the key stops working.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	UpdatedAt time.Time  `json:"updated_at"`
}

// Active reports whether the key may be used at now.
func (k APIKeyV1) Active(now time.Time) bool {
	if k.Status != KeyActive {
		return false
	}
	return k.ExpiresAt == nil || now.Before(*k.ExpiresAt)
}

// BalanceV1 is the value stored in KV balances under the account id. Seq
// grows with every change the ledger makes, so a reader can drop a stale
// value.
type BalanceV1 struct {
	V                int          `json:"v"`
	AccountID        string       `json:"account_id"`
	BalanceMicros    money.Micros `json:"balance_micros"`
	FreeRequestsLeft int64        `json:"free_requests_left"`
	// KeySpendMicros is what each key of the account has spent in total,
	// for spend caps set on keys.
	KeySpendMicros map[string]money.Micros `json:"key_spend_micros,omitempty"`
	Seq            uint64                  `json:"seq"`
	UpdatedAt      time.Time               `json:"updated_at"`
	// LeasedMicros and LeasedFree are the parts of the balance and of the
	// free requests leased to gateway replicas (see LeaseRequestV1):
	// available = balance − leased. BalanceMicros and FreeRequestsLeft stay
	// the account's own (the sum of its journal).
	LeasedMicros money.Micros `json:"leased_micros,omitempty"`
	LeasedFree   int64        `json:"leased_free,omitempty"`
	// Leases are the replicas' leases with something outstanding, by
	// replica: a replica reads its UsedMicros there (the ledger's
	// high-water mark of its applied usage).
	Leases map[string]Lease `json:"leases,omitempty"`
}

// StoredResponseV1 is the value stored in KV responses under the id of a
// Responses API response the provider stores (the gateway's
// GATEWAY_RESPONSES_STORE): which account created it, and through which
// channel (whose provider organization holds it). Ids only, never content.
type StoredResponseV1 struct {
	V         int       `json:"v"`
	AccountID string    `json:"account_id"`
	Channel   string    `json:"channel"`
	Provider  string    `json:"provider"`
	Model     string    `json:"model"`
	CreatedAt time.Time `json:"created_at"`
}

// AssistantCounterV1 is a value of KV assistant: a count of questions
// (key "asks.<account>.<YYYYMMDDHH>", UTC hour) or the micro-USD the
// assistant spent (key "spend.<YYYY-MM-DD>", UTC day, shared by every auth
// replica). Changed only by a revision-checked update of the value read.
type AssistantCounterV1 struct {
	V int   `json:"v"`
	N int64 `json:"n"`
}
