package book

import (
	"maps"
	"strings"
	"time"

	"github.com/onekey-oss/onekey/api/events"
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
	// Leases are the gateway replicas' credit leases, by replica, and
	// Leased / LeasedFree the sum of what stays leased of them. What a
	// replica may still admit is part of Balance (and Free) but not
	// available to others: available = Balance − Leased.
	Leases     map[string]events.Lease
	Leased     money.Micros
	LeasedFree int64

	// Read-model bookkeeping, no money (readmodel.Account): UsageDays maps
	// each recent UTC day with usage to the seq of its last usage entry,
	// PaymentsSeq is the seq of the last credit, and ReadModels is the
	// version of the read models kept for the account (0: not yet). The
	// writer maintains them; the rules here neither read nor change them.
	UsageDays   map[string]int64
	PaymentsSeq int64
	ReadModels  int
}

// Available is what the account has left to lease: its balance and free
// requests less what is leased.
func (a *Account) Available() (money.Micros, int64) {
	return a.Balance - a.Leased, a.Free - a.LeasedFree
}

// Clone returns a deep copy, so a batch can be computed on copies and
// dropped if its writes fail.
func (a Account) Clone() Account {
	a.KeySpend = maps.Clone(a.KeySpend)
	a.Leases = maps.Clone(a.Leases)
	a.UsageDays = maps.Clone(a.UsageDays)
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
	// Replica and the changes of its lease counters (usage of a replica
	// and lease entries): Granted and Used, in money and in free requests.
	// A lease entry changes no balance: it moves money between available
	// and leased.
	Replica        string
	GrantDelta     money.Micros
	GrantFreeDelta int64
	UseDelta       money.Micros
	UseFreeDelta   int64
}

// NoOp reports whether a lease entry changes nothing (a renewal that
// granted nothing): it is not journaled.
func (e Entry) NoOp() bool {
	return e.Kind == KindLease && e.GrantDelta == 0 && e.GrantFreeDelta == 0 && e.UseDelta == 0 && e.UseFreeDelta == 0
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
// once (a second opening grants nothing), unless it says the address had
// them already. A usage applies the gateway's decision: a free one uses one
// free request (if none is left it is still charged nothing: the gateway
// admitted it as free, which its free lease makes impossible beyond what
// was left) and any other is debited its cost, even below zero (the request
// has been served). A usage published before the gateway sent its decision
// (no replica) keeps the old rule: it uses a free request if it cost
// something and one is left, otherwise it is debited. A credit adds its
// signed amount. Credits and usage for an account not yet opened are
// applied all the same, so nothing is lost when account.created arrives
// late.
func (a *Account) Apply(ev Event, freeGrant int64) (Entry, Effect) {
	e := Entry{
		ID: ev.ID, Account: a.ID, Seq: a.Seq + 1, Kind: ev.Kind, Fingerprint: ev.Fingerprint, Time: ev.Time,
		CreditKind: ev.CreditKind, Method: ev.Method,
	}
	switch ev.Kind {
	case KindOpen:
		if !a.Opened && !ev.NoFree {
			e.FreeDelta = freeGrant
		}
	case KindUsage:
		e.Cost = ev.Amount
		var u events.UsageRecordedV1
		if ev.Usage != nil {
			u = *ev.Usage
		}
		e.KeyID = u.KeyID
		switch {
		case u.Free:
			if a.Free > 0 {
				e.FreeDelta = -1
			}
			if u.Replica != "" {
				e.Replica, e.UseFreeDelta = u.Replica, 1
			}
		case u.Replica != "":
			e.Amount = -ev.Amount
			e.Replica, e.UseDelta = u.Replica, ev.Amount
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
	case KindLease:
		a.lease(ev, &e)
		if e.NoOp() {
			return e, Effect{}
		}
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
	if e.Replica != "" {
		l := a.Leases[e.Replica]
		m0, f0 := l.Outstanding()
		l.GrantedMicros += e.GrantDelta
		l.GrantedFree += e.GrantFreeDelta
		l.UsedMicros += e.UseDelta
		l.UsedFree += e.UseFreeDelta
		m1, f1 := l.Outstanding()
		a.Leased += m1 - m0
		a.LeasedFree += f1 - f0
		if a.Leases == nil {
			a.Leases = map[string]events.Lease{}
		}
		a.Leases[e.Replica] = l
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

// lease computes the counters' changes of a lease event.
//
// A grant gives what is asked as far as the account has it available,
// never less than nothing; it starts from max(Granted, Used), so that a
// replica whose applied usage went past its lease (a cost above its hold)
// is not given a lease that is already spent. A return lowers Granted to
// what the replica keeps; a reclaim (the ledger's, for a lease not renewed
// in time) lowers it to Used. Neither raises it.
func (a *Account) lease(ev Event, e *Entry) {
	r := ev.Lease
	if r == nil {
		return
	}
	e.Replica = r.Replica
	l := a.Leases[r.Replica]
	switch r.Op {
	case events.LeaseGrant:
		availM, availF := a.Available()
		if give := min(r.Micros, availM); give > 0 {
			e.GrantDelta = max(l.GrantedMicros, l.UsedMicros) + give - l.GrantedMicros
		}
		if give := min(r.Free, availF); give > 0 {
			e.GrantFreeDelta = max(l.GrantedFree, l.UsedFree) + give - l.GrantedFree
		}
	case events.LeaseReturn:
		e.GrantDelta = min(l.GrantedMicros, max(r.KeepMicros, 0)) - l.GrantedMicros
		e.GrantFreeDelta = min(l.GrantedFree, max(r.KeepFree, 0)) - l.GrantedFree
	case LeaseReclaim:
		e.GrantDelta = min(l.GrantedMicros, l.UsedMicros) - l.GrantedMicros
		e.GrantFreeDelta = min(l.GrantedFree, l.UsedFree) - l.GrantedFree
	}
}
