package accounts

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/api/readmodel"
	"github.com/onekey-oss/onekey/pkg/ids"
)

// DeleteSessions signs an account out everywhere: every session of it is
// deleted, the caller's included.
func (s *Store) DeleteSessions(ctx context.Context, accountID string) (int64, error) {
	res, err := s.st.Collection(CollSessions).DeleteMany(ctx, bson.D{{Key: "account_id", Value: accountID}})
	if err != nil {
		return 0, fmt.Errorf("delete sessions: %w", err)
	}
	return res.DeletedCount, nil
}

// AllKeys lists every key of an account (all projects), oldest first,
// without usage.
func (s *Store) AllKeys(ctx context.Context, accountID string) ([]Key, error) {
	ks, err := s.keys(ctx, bson.D{{Key: "account_id", Value: accountID}})
	if err != nil {
		return nil, err
	}
	sort.SliceStable(ks, func(i, j int) bool { return ks[i].CreatedAt.Before(ks[j].CreatedAt) })
	return ks, nil
}

// Settings are an account's preferences that the ledger applies.
type Settings struct {
	// LowBalanceMicros is the balance below which the ledger sends a
	// low-balance alert (0: never).
	LowBalanceMicros money.Micros `json:"low_balance_micros"`
	LowBalance       string       `json:"low_balance"`
}

// MaxLowBalance bounds the low-balance threshold.
const MaxLowBalance = 100_000 * money.Dollar

// Settings reads what the ledger applies now.
func (s *Store) Settings(ctx context.Context, accountID string) (Settings, error) {
	a, err := s.ledgerAccount(ctx, accountID)
	if err != nil {
		return Settings{}, err
	}
	m := money.Micros(a.LowBalanceMicros)
	return Settings{LowBalanceMicros: m, LowBalance: m.Display()}, nil
}

// UpdateSettings asks the ledger to apply new settings: it publishes
// account.settings (the ledger, the single writer of the account document,
// applies it in order with the account's other events).
func (s *Store) UpdateSettings(ctx context.Context, accountID string, set Settings) (Settings, error) {
	if set.LowBalanceMicros < 0 || set.LowBalanceMicros > MaxLowBalance {
		return Settings{}, invalid("low_balance_micros must be between 0 (no alert) and %d", int64(MaxLowBalance))
	}
	ev := events.AccountSettingsV1{V: 1, ID: ids.New("settings"), Time: s.now(), AccountID: accountID, LowBalanceMicros: set.LowBalanceMicros}
	if _, err := s.bus.Publish(ctx, ev); err != nil {
		return Settings{}, fmt.Errorf("publish account settings: %w", err)
	}
	set.LowBalance = set.LowBalanceMicros.Display()
	return set, nil
}

func (s *Store) ledgerAccount(ctx context.Context, accountID string) (readmodel.Account, error) {
	var a readmodel.Account
	err := s.st.Collection(readmodel.CollAccounts).FindOne(ctx, bson.D{{Key: "_id", Value: accountID}}).Decode(&a)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return readmodel.Account{ID: accountID}, nil
	}
	if err != nil {
		return readmodel.Account{}, fmt.Errorf("read account: %w", err)
	}
	return a, nil
}

// Payment is one entry of the payment history: a purchase, refund,
// dispute or adjustment by card, on-chain transfer or operator.
type Payment struct {
	ID           string       `json:"id"`
	Time         time.Time    `json:"time"`
	Kind         string       `json:"kind"`   // purchase, refund, dispute, dispute_won, adjustment
	Method       string       `json:"method"` // card, crypto, adjustment
	AmountMicros money.Micros `json:"amount_micros"`
	Amount       string       `json:"amount"`
}

// MaxPayments is how many payments the history returns (newest first).
const MaxPayments = readmodel.PaymentsKept

// Payments lists the money that reached an account, newest first: the
// ledger's credits (usage is in Usage).
func (s *Store) Payments(ctx context.Context, accountID string) ([]Payment, error) {
	a, err := s.ledgerAccount(ctx, accountID)
	if err != nil {
		return nil, err
	}
	return s.PaymentsOf(ctx, a)
}

// scanPayments reads an account's credits from the journal (a scan on
// FerretDB; on MongoDB the (account_id, seq) index serves it).
func (s *Store) scanPayments(ctx context.Context, accountID string) ([]Payment, error) {
	cur, err := s.st.Collection(readmodel.CollJournal).Find(ctx,
		bson.D{{Key: "account_id", Value: accountID}, {Key: "kind", Value: readmodel.JournalCredit}},
		options.Find().SetSort(bson.D{{Key: "seq", Value: -1}}).SetLimit(MaxPayments))
	if err != nil {
		return nil, fmt.Errorf("read payments: %w", err)
	}
	var entries []readmodel.JournalEntry
	if err := cur.All(ctx, &entries); err != nil {
		return nil, fmt.Errorf("read payments: %w", err)
	}
	out := make([]Payment, 0, len(entries))
	for _, e := range entries {
		out = append(out, payment(e.ID, e.Time, e.CreditKind, e.Method, e.AmountMicros))
	}
	return out, nil
}

func payment(id string, t time.Time, creditKind, method string, amount int64) Payment {
	m := money.Micros(amount)
	kind := creditKind
	if kind == "" {
		kind = method
	}
	return Payment{ID: id, Time: t, Kind: kind, Method: method, AmountMicros: m, Amount: m.Display()}
}

// KeysLastUsed maps key id → the latest UTC day it has usage on.
func (s *Store) KeysLastUsed(ctx context.Context, accountID string) (map[string]string, error) {
	return s.lastUsed(ctx, accountID)
}

// LedgerAccount is the ledger's document of the account (zero values
// before the ledger has seen it).
func (s *Store) LedgerAccount(ctx context.Context, accountID string) (readmodel.Account, error) {
	return s.ledgerAccount(ctx, accountID)
}
