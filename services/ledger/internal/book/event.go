// Package book holds the ledger's rules: what each bus event does to an
// account, as a journal entry. It is pure: no I/O, no clock, no goroutines,
// so the rules are tested on their own and the same code replays entries
// after a crash.
package book

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
)

// ErrInvalid marks an event that can never be applied (it does not decode,
// or it breaks a rule). Retrying it cannot help: it is dead-lettered.
var ErrInvalid = errors.New("invalid event")

// Entry kinds.
const (
	KindOpen   = "open"   // account.created: the account's free requests
	KindUsage  = "usage"  // usage.recorded: a debit or one free request used
	KindCredit = "credit" // credit.purchased, credit.adjusted, tx.confirmed
	KindLease  = "lease"  // a replica's credit lease granted, returned or reclaimed
)

// LeaseReclaim is the ledger's own lease operation: a lease its replica
// did not renew in time goes back to what the replica's applied usage
// used.
const LeaseReclaim = "reclaim"

// Credit methods, as in events.CreditAppliedV1.
const (
	MethodCard       = "card"
	MethodCrypto     = "crypto"
	MethodAdjustment = "adjustment"
)

// Event is a decoded bus event, reduced to what the ledger needs.
type Event struct {
	ID      string
	Account string
	Kind    string
	Time    time.Time
	// Amount is the credit's signed amount (KindCredit) or the request's
	// cost (KindUsage, never negative).
	Amount money.Micros
	// CreditKind (purchase, refund, ...) and Method (card, crypto,
	// adjustment) of a credit.
	CreditKind string
	Method     string
	// Threshold is the new low-balance threshold (KindSettings only).
	Threshold money.Micros
	// Usage is the request's metadata (KindUsage only).
	Usage *events.UsageRecordedV1
	// NoFree: the account opens without free requests (KindOpen only).
	NoFree bool
	// Lease is the lease operation (KindLease only).
	Lease *events.LeaseRequestV1
	// Fingerprint identifies the event's content: two events with one id and
	// different fingerprints are a conflict. It covers the fields that decide
	// the effect, not the publish time, so a publisher that re-sends an event
	// with a fresh timestamp is recognised as sending the same event.
	Fingerprint string
}

// ErrIgnored is returned by Decode for events the ledger consumes but that
// change no money (account.deleted: the ledger holds no personal data).
var ErrIgnored = errors.New("event changes no money")

// Decode reads one message of the ledger's streams. An error wrapping
// ErrInvalid is permanent; ErrIgnored means ack and do nothing.
func Decode(subject string, data []byte) (Event, error) {
	family, account := splitSubject(subject)
	switch family {
	case events.FamilyUsageRecorded:
		var e events.UsageRecordedV1
		if err := decode(data, &e); err != nil {
			return Event{}, err
		}
		if err := common(e.ID, e.AccountID, account, e.V); err != nil {
			return Event{}, err
		}
		if e.CostMicros < 0 {
			return Event{}, fmt.Errorf("%w: usage %s has negative cost %d", ErrInvalid, e.ID, e.CostMicros)
		}
		if e.InputTokens < 0 || e.CachedInputTokens < 0 || e.OutputTokens < 0 || e.CacheWriteTokens < 0 || e.ReasoningTokens < 0 {
			return Event{}, fmt.Errorf("%w: usage %s has a negative token count", ErrInvalid, e.ID)
		}
		if e.Replica != "" {
			if err := events.ValidToken(e.Replica); err != nil || strings.ContainsAny(e.Replica, "$") {
				return Event{}, fmt.Errorf("%w: usage %s: replica %q", ErrInvalid, e.ID, e.Replica)
			}
		}
		ev := Event{ID: e.ID, Account: e.AccountID, Kind: KindUsage, Time: e.Time, Amount: e.CostMicros, Usage: &e}
		parts := []any{family, e.AccountID, e.ProjectID, e.KeyID, e.Model, e.Provider,
			e.CostMicros, e.InputTokens, e.CachedInputTokens, e.CacheWriteTokens, e.OutputTokens, e.ReasoningTokens, e.Status}
		// The gateway's decision and its replica decide the effect; they
		// are added only when set, so events published before the fields
		// existed keep the fingerprint they were journaled with.
		if e.Free {
			parts = append(parts, "free")
		}
		if e.Replica != "" {
			parts = append(parts, "replica", e.Replica)
		}
		ev.Fingerprint = fingerprint(parts...)
		return ev, nil
	case events.FamilyCreditPurchased:
		var e events.CreditPurchasedV1
		if err := decode(data, &e); err != nil {
			return Event{}, err
		}
		if err := common(e.ID, e.AccountID, account, e.V); err != nil {
			return Event{}, err
		}
		switch e.Kind {
		case events.CreditPurchase, events.CreditDisputeWon:
			if e.AmountMicros <= 0 {
				return Event{}, fmt.Errorf("%w: %s %s must be positive, is %d", ErrInvalid, e.Kind, e.ID, e.AmountMicros)
			}
		case events.CreditRefund, events.CreditDispute:
			if e.AmountMicros >= 0 {
				return Event{}, fmt.Errorf("%w: %s %s must be negative, is %d", ErrInvalid, e.Kind, e.ID, e.AmountMicros)
			}
		default:
			return Event{}, fmt.Errorf("%w: credit %s has unknown kind %q", ErrInvalid, e.ID, e.Kind)
		}
		return Event{ID: e.ID, Account: e.AccountID, Kind: KindCredit, Time: e.Time, Amount: e.AmountMicros,
			CreditKind: e.Kind, Method: MethodCard,
			Fingerprint: fingerprint(family, e.AccountID, e.Kind, e.AmountMicros, e.PaymentID)}, nil
	case events.FamilyCreditAdjusted:
		var e events.CreditAdjustedV1
		if err := decode(data, &e); err != nil {
			return Event{}, err
		}
		if err := common(e.ID, e.AccountID, account, e.V); err != nil {
			return Event{}, err
		}
		if e.AmountMicros == 0 {
			return Event{}, fmt.Errorf("%w: adjustment %s of zero", ErrInvalid, e.ID)
		}
		return Event{ID: e.ID, Account: e.AccountID, Kind: KindCredit, Time: e.Time, Amount: e.AmountMicros,
			CreditKind: "adjustment", Method: MethodAdjustment,
			Fingerprint: fingerprint(family, e.AccountID, e.AmountMicros)}, nil
	case events.FamilyTxConfirmed:
		var e events.TxConfirmedV1
		if err := decode(data, &e); err != nil {
			return Event{}, err
		}
		if err := common(e.ID, e.AccountID, account, e.V); err != nil {
			return Event{}, err
		}
		if e.AmountMicros <= 0 {
			return Event{}, fmt.Errorf("%w: transfer %s must be positive, is %d", ErrInvalid, e.ID, e.AmountMicros)
		}
		return Event{ID: e.ID, Account: e.AccountID, Kind: KindCredit, Time: e.Time, Amount: e.AmountMicros,
			CreditKind: events.CreditPurchase, Method: MethodCrypto,
			Fingerprint: fingerprint(family, e.AccountID, e.AmountMicros, e.Chain, e.TxHash, e.LogIndex, e.Token)}, nil
	case events.FamilyAccountCreated:
		var e events.AccountCreatedV1
		if err := decode(data, &e); err != nil {
			return Event{}, err
		}
		if err := common(e.ID, e.AccountID, account, e.V); err != nil {
			return Event{}, err
		}
		ev := Event{ID: e.ID, Account: e.AccountID, Kind: KindOpen, Time: e.Time, NoFree: e.NoFreeRequests,
			Fingerprint: fingerprint(family, e.AccountID)}
		if e.NoFreeRequests {
			ev.Fingerprint = fingerprint(family, e.AccountID, "no_free_requests")
		}
		return ev, nil
	case events.FamilyAccountSettings:
		return decodeSettings(account, data)
	case events.FamilyAccountDeleted:
		return Event{}, ErrIgnored
	}
	return Event{}, fmt.Errorf("%w: the ledger does not handle subject %q", ErrInvalid, subject)
}

func splitSubject(subject string) (family, account string) {
	i := strings.LastIndexByte(subject, '.')
	if i < 0 {
		return subject, ""
	}
	return subject[:i], subject[i+1:]
}

func decode(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: decode: %v", ErrInvalid, err)
	}
	return nil
}

// common checks what every event needs: an id, a version we read, and an
// account that is the one its subject names (the subject decides the
// partition, so a mismatch would let two writers touch one account).
func common(id, account, subjectAccount string, v int) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: no id", ErrInvalid)
	case v < 1:
		return fmt.Errorf("%w: %s has no version", ErrInvalid, id)
	case account == "" || account != subjectAccount:
		return fmt.Errorf("%w: %s is for account %q but was sent on the subject of %q", ErrInvalid, id, account, subjectAccount)
	case strings.ContainsAny(account, ".$"):
		return fmt.Errorf("%w: %s: account id %q", ErrInvalid, id, account)
	}
	return nil
}

func fingerprint(parts ...any) string {
	h := sha256.New()
	for _, p := range parts {
		var s string
		switch v := p.(type) {
		case string:
			s = strconv.Quote(v)
		case money.Micros:
			s = strconv.FormatInt(int64(v), 10)
		case int64:
			s = strconv.FormatInt(v, 10)
		case int:
			s = strconv.Itoa(v)
		case uint:
			s = strconv.FormatUint(uint64(v), 10)
		default:
			panic(fmt.Sprintf("fingerprint: unsupported %T", p))
		}
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// DecodeLease reads a replica's lease request (core NATS, subject
// ledger.lease.<account>). An error wraps ErrInvalid.
func DecodeLease(subject string, data []byte) (Event, error) {
	family, account := splitSubject(subject)
	if family != events.FamilyLease {
		return Event{}, fmt.Errorf("%w: %q is not a lease subject", ErrInvalid, subject)
	}
	var r events.LeaseRequestV1
	if err := decode(data, &r); err != nil {
		return Event{}, err
	}
	if err := common(r.ID, r.AccountID, account, r.V); err != nil {
		return Event{}, err
	}
	if err := events.ValidToken(r.Replica); err != nil || strings.ContainsAny(r.Replica, "$") {
		return Event{}, fmt.Errorf("%w: lease %s: replica %q", ErrInvalid, r.ID, r.Replica)
	}
	switch r.Op {
	case events.LeaseGrant:
		if r.Micros < 0 || r.Free < 0 {
			return Event{}, fmt.Errorf("%w: lease %s asks for a negative amount", ErrInvalid, r.ID)
		}
	case events.LeaseReturn:
		if r.KeepMicros < 0 || r.KeepFree < 0 {
			return Event{}, fmt.Errorf("%w: lease %s keeps a negative amount", ErrInvalid, r.ID)
		}
	default:
		return Event{}, fmt.Errorf("%w: lease %s has unknown operation %q", ErrInvalid, r.ID, r.Op)
	}
	return Event{ID: r.ID, Account: r.AccountID, Kind: KindLease, Lease: &r,
		Fingerprint: fingerprint(family, r.AccountID, r.Replica, r.Op, r.Micros, r.Free, r.KeepMicros, r.KeepFree)}, nil
}

// Reclaim is the event that reclaims a replica's lease.
func Reclaim(id, account, replica string, t time.Time) Event {
	r := events.LeaseRequestV1{V: 1, ID: id, AccountID: account, Replica: replica, Op: LeaseReclaim}
	return Event{ID: id, Account: account, Kind: KindLease, Time: t, Lease: &r,
		Fingerprint: fingerprint(events.FamilyLease, account, replica, LeaseReclaim)}
}
