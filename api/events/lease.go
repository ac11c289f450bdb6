package events

import (
	"github.com/onekey-oss/onekey/api/money"
)

// Credit leases. Each gateway replica admits requests only within a lease
// of part of an account's balance (and of its free requests) that the
// ledger, still the single writer, has granted it and recorded in the
// journal. A replica asks over core NATS request/reply (not streamed) on
// an account's first request, when its lease runs low, to renew it, and to
// give back what it does not use.
//
// The counters of one (account, replica) pair are cumulative since the
// replica started: Granted grows with each grant and is lowered only by
// a return (or by the ledger reclaiming a lease not renewed in time);
// Used is the cost of the replica's usage events the ledger has applied
// (its high-water mark). What stays leased is max(Granted − Used, 0), and
// the replica may have admitted at most Granted in all, so a cost it
// settled stays counted until the ledger has applied it.

// FamilyLease is the request subject family: "ledger.lease.<account>".
const FamilyLease = "ledger.lease"

// Lease operations.
const (
	// LeaseGrant renews the replica's lease and adds up to Micros and Free
	// to it, as far as the account has them available.
	LeaseGrant = "grant"
	// LeaseReturn lowers the replica's lease to KeepMicros and KeepFree
	// (what it has admitted: settled or still running), giving back the
	// rest.
	LeaseReturn = "return"
)

// LeaseRequestV1 is a replica's request to the ledger. ID is unique per
// request and repeated when the replica asks again after a timeout, so a
// request is applied once.
type LeaseRequestV1 struct {
	V         int    `json:"v"`
	ID        string `json:"id"`
	AccountID string `json:"account_id"`
	Replica   string `json:"replica"`
	Op        string `json:"op"`
	// Grant: how much more the replica asks for.
	Micros money.Micros `json:"micros,omitempty"`
	Free   int64        `json:"free,omitempty"`
	// Return: the cumulative lease the replica keeps.
	KeepMicros money.Micros `json:"keep_micros,omitempty"`
	KeepFree   int64        `json:"keep_free,omitempty"`
}

func (r LeaseRequestV1) EventID() string { return r.ID }
func (r LeaseRequestV1) EventSubject() (string, error) {
	return Subject(FamilyLease, r.AccountID)
}

// LeaseV1 is the ledger's reply: the replica's lease once the request is
// in the journal. Error is set (and the rest zero) when the request was
// refused.
type LeaseV1 struct {
	V         int    `json:"v"`
	ID        string `json:"id"` // the request's
	AccountID string `json:"account_id"`
	Replica   string `json:"replica"`
	Lease
	// AvailableMicros and AvailableFree are what the account has left to
	// lease to any replica.
	AvailableMicros money.Micros `json:"available_micros"`
	AvailableFree   int64        `json:"available_free"`
	Error           string       `json:"error,omitempty"`
}

// Lease is one replica's cumulative lease counters of one account.
type Lease struct {
	GrantedMicros money.Micros `json:"granted_micros"`
	UsedMicros    money.Micros `json:"used_micros"`
	GrantedFree   int64        `json:"granted_free"`
	UsedFree      int64        `json:"used_free"`
}

// Outstanding is what stays leased: max(Granted − Used, 0), in money and
// in free requests.
func (l Lease) Outstanding() (money.Micros, int64) {
	return max(l.GrantedMicros-l.UsedMicros, 0), max(l.GrantedFree-l.UsedFree, 0)
}
