package book

import (
	"maps"
	"strings"
	"time"

	"github.com/onekey-oss/onekey/api/money"
)

// Account is the ledger's state of one account: the sum of its journal
// entries up to Seq.
type Account struct {
	ID      string
	Balance money.Micros
	Free    int64
	// Seq is the sequence number of the last journal entry applied. Entries
	// are numbered 1, 2, ... per account, in the order the writer applied
	// them (there may be gaps after a failed write).
	Seq    int64
	Opened bool
	// LowThreshold is the balance below which a balance.low event is
	// published (0: never).
	LowThreshold money.Micros
	// KeySpend is what each key has been charged in total (free requests
	// cost nothing), for spend caps.
	KeySpend  map[string]money.Micros
	CreatedAt time.Time
}

// Clone returns a deep copy, so a batch can be computed on copies and
// dropped if its writes fail.
func (a Account) Clone() Account {
	a.KeySpend = maps.Clone(a.KeySpend)
	return a
}

// Entry is one journal entry: the effect of one event on one account.
// Deltas are what is summed; the After fields are the running totals, kept
// for accounting and receipts.
type Entry struct {
	ID           string
	Account      string
	Seq          int64
	Kind         string
	Amount       money.Micros // signed change of the balance
	FreeDelta    int64        // signed change of the free requests left
	KeyID        string       // usage: the key charged
	Cost         money.Micros // usage: the request's cost, charged or not
	CreditKind   string
	Method       string
	Fingerprint  string
	Threshold    money.Micros // settings: the new low-balance threshold
	Time         time.Time    // the event's time
	BalanceAfter money.Micros
	FreeAfter    int64
}

// Effect is what applying one event did beyond the entry.
type Effect struct {
	// CrossedLow is set when the balance went from at or above the account's
	// threshold to below it.
	CrossedLow bool
}

// Apply computes the journal entry of ev on a, numbers it a.Seq+1 and
// applies it to a. freeGrant is how many free requests opening an account
// gives.
//
// Rules: account.created opens the account and grants the free requests,
// once (a second opening grants nothing). A usage with a cost uses a free
// request if one is left, otherwise it is debited, even below zero (the
// request has been served). A credit adds its signed amount. Credits and
// usage for an account not yet opened are applied all the same, so nothing
// is lost when account.created arrives late.
func (a *Account) Apply(ev Event, freeGrant int64) (Entry, Effect) {
	e := Entry{
		ID: ev.ID, Account: a.ID, Seq: a.Seq + 1, Kind: ev.Kind, Fingerprint: ev.Fingerprint, Time: ev.Time,
		CreditKind: ev.CreditKind, Method: ev.Method,
	}
	switch ev.Kind {
	case KindOpen:
		if !a.Opened {
			e.FreeDelta = freeGrant
		}
	case KindUsage:
		e.Cost = ev.Amount
		if ev.Usage != nil {
			e.KeyID = ev.Usage.KeyID
		}
		switch {
		case ev.Amount <= 0:
		case a.Free > 0:
			e.FreeDelta = -1
		default:
			e.Amount = -ev.Amount
		}
	case KindCredit:
		e.Amount = ev.Amount
	case KindSettings:
		e.Threshold = ev.Threshold
	}
	before := a.Balance
	a.ApplyEntry(e)
	return e, Effect{CrossedLow: a.LowThreshold > 0 && before >= a.LowThreshold && a.Balance < a.LowThreshold}
}

// ApplyEntry adds a recorded entry to a and sets its After fields. It is
// how a journal written before a crash is replayed: the entry's recorded
// deltas are applied as they are, never recomputed.
func (a *Account) ApplyEntry(e Entry) Entry {
	a.Balance += e.Amount
	a.Free += e.FreeDelta
	if e.Kind == KindOpen {
		a.Opened = true
	}
	a.applySettings(e)
	if e.Kind == KindUsage && e.Amount < 0 && ValidKeyID(e.KeyID) {
		if a.KeySpend == nil {
			a.KeySpend = map[string]money.Micros{}
		}
		a.KeySpend[e.KeyID] -= e.Amount
	}
	if e.Seq > a.Seq {
		a.Seq = e.Seq
	}
	e.BalanceAfter, e.FreeAfter = a.Balance, a.Free
	return e
}

// ValidKeyID reports whether a key id can be a field name in the account
// document (key spend is a map keyed by key id).
func ValidKeyID(id string) bool {
	return id != "" && !strings.ContainsAny(id, ".$\x00")
}
