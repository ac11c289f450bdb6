package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/api/readmodel"
)

// Auth's collections, read by their documents' field names (auth's own
// types are internal to it). Only reads: auth is their only writer.
const (
	collUsers          = "users"
	collKeys           = "api_keys"
	collKeyRevocations = "api_key_revocations"
	collKeySuspensions = "api_key_suspensions"
)

type user struct {
	ID        string     `bson:"_id"`
	Email     string     `bson:"email"`
	CreatedAt time.Time  `bson:"created_at"`
	DeletedAt *time.Time `bson:"deleted_at,omitempty"`
}

type apiKey struct {
	ID             string     `bson:"_id"`
	ProjectID      string     `bson:"project_id"`
	Name           string     `bson:"name"`
	Prefix         string     `bson:"prefix"`
	Status         string     `bson:"status"`
	RPM            int        `bson:"rpm"`
	SpendCapMicros int64      `bson:"spend_cap_micros"`
	ExpiresAt      *time.Time `bson:"key_expires_at,omitempty"`
	CreatedAt      time.Time  `bson:"created_at"`
	// Suspension is auth's audit of the last suspension by an operator.
	Suspension *struct {
		Actor      string     `bson:"actor"`
		Reason     string     `bson:"reason"`
		At         time.Time  `bson:"at"`
		RestoredBy string     `bson:"restored_by"`
		RestoredAt *time.Time `bson:"restored_at"`
	} `bson:"suspension,omitempty"`
}

// lastPayments is how many credit entries account show prints.
const lastPayments = 10

func (e *env) accountShow(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("account show", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprintln(fs.Output(), "usage: onekeyctl account show <email|account id>") }
	pos, err := parse(fs, args, 1, e.out)
	if err != nil {
		return err
	}
	st, err := e.store(ctx)
	if err != nil {
		return err
	}
	who := strings.TrimSpace(pos[0])
	filter := bson.D{{Key: "_id", Value: who}}
	if strings.Contains(who, "@") {
		filter = bson.D{{Key: "email", Value: strings.ToLower(who)}}
	}
	var u user
	err = st.Collection(collUsers).FindOne(ctx, filter).Decode(&u)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments) && strings.Contains(who, "@"):
		return fmt.Errorf("%w: no account with e-mail %s", errFailed, who)
	case errors.Is(err, mongo.ErrNoDocuments):
		u.ID = who // the ledger may know an account auth does not (a test, a deleted user)
	case err != nil:
		return fmt.Errorf("read user %s: %w", who, err)
	}
	var acc readmodel.Account
	err = st.Collection(readmodel.CollAccounts).FindOne(ctx, bson.D{{Key: "_id", Value: u.ID}}).Decode(&acc)
	ledgerKnows := err == nil
	if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		return fmt.Errorf("read account %s: %w", u.ID, err)
	}
	if !ledgerKnows && u.Email == "" {
		return fmt.Errorf("%w: no account %s", errFailed, who)
	}
	keys, err := accountKeys(ctx, e, u.ID)
	if err != nil {
		return err
	}
	cur, err := st.Collection(readmodel.CollJournal).Find(ctx,
		bson.D{{Key: "account_id", Value: u.ID}, {Key: "kind", Value: readmodel.JournalCredit}},
		options.Find().SetSort(bson.D{{Key: "seq", Value: -1}}).SetLimit(lastPayments))
	if err != nil {
		return fmt.Errorf("read payments of %s: %w", u.ID, err)
	}
	var pays []readmodel.JournalEntry
	if err := cur.All(ctx, &pays); err != nil {
		return fmt.Errorf("read payments of %s: %w", u.ID, err)
	}

	w := e.out
	fmt.Fprintf(w, "account   %s\n", u.ID)
	if u.Email != "" {
		fmt.Fprintf(w, "e-mail    %s (since %s)\n", u.Email, u.CreatedAt.UTC().Format(time.DateOnly))
	}
	if u.DeletedAt != nil {
		fmt.Fprintf(w, "deleted   %s\n", u.DeletedAt.UTC().Format(time.RFC3339))
	}
	if ledgerKnows {
		fmt.Fprintf(w, "balance   %s\n", money.Micros(acc.BalanceMicros).Display())
		fmt.Fprintf(w, "free      %d requests left\n", acc.FreeRequestsLeft)
	} else {
		fmt.Fprintln(w, "balance   (the ledger has no account yet)")
	}
	fmt.Fprintf(w, "keys      %d\n", len(keys))
	for _, k := range keys {
		limits := []string{}
		if k.RPM > 0 {
			limits = append(limits, fmt.Sprintf("%d rpm", k.RPM))
		}
		if k.SpendCapMicros > 0 {
			limits = append(limits, "cap "+money.Micros(k.SpendCapMicros).Display())
		}
		if k.ExpiresAt != nil {
			limits = append(limits, "expires "+k.ExpiresAt.UTC().Format(time.RFC3339))
		}
		if len(limits) == 0 {
			limits = append(limits, "no limits")
		}
		spent := money.Micros(acc.KeySpendMicros[k.ID]).Display()
		fmt.Fprintf(w, "  %s  %s  %-9s %s  spent %s  project %s  %q\n", k.ID, k.Prefix, k.Status, strings.Join(limits, ", "), spent, k.ProjectID, k.Name)
		if sp := k.Suspension; sp != nil {
			fmt.Fprintf(w, "      suspended %s by %s: %q", sp.At.UTC().Format(time.RFC3339), sp.Actor, sp.Reason)
			if sp.RestoredAt != nil {
				fmt.Fprintf(w, "; restored %s by %s", sp.RestoredAt.UTC().Format(time.RFC3339), sp.RestoredBy)
			}
			fmt.Fprintln(w)
		}
	}
	fmt.Fprintf(w, "payments  last %d\n", len(pays))
	for _, p := range pays {
		fmt.Fprintf(w, "  %s  %-11s %-10s %12s  %s\n", p.Time.UTC().Format(time.RFC3339), p.CreditKind, p.Method, money.Micros(p.AmountMicros).Display(), p.ID)
	}
	return nil
}

// accountKeys reads the account's keys with auth's rule for their status
// (see its kvsync.go): revoked with a revocation record or a document that
// says so, else suspended with a suspension record, else active.
func accountKeys(ctx context.Context, e *env, accountID string) ([]apiKey, error) {
	cur, err := e.st.Collection(collKeys).Find(ctx, bson.D{{Key: "account_id", Value: accountID}},
		options.Find().SetSort(bson.D{{Key: "created_at", Value: 1}, {Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("read keys of %s: %w", accountID, err)
	}
	var keys []apiKey
	if err := cur.All(ctx, &keys); err != nil {
		return nil, fmt.Errorf("read keys of %s: %w", accountID, err)
	}
	records := func(coll string) (map[string]bool, error) {
		cur, err := e.st.Collection(coll).Find(ctx, bson.D{{Key: "account_id", Value: accountID}})
		if err != nil {
			return nil, fmt.Errorf("read %s of %s: %w", coll, accountID, err)
		}
		var recs []struct {
			ID string `bson:"_id"`
		}
		if err := cur.All(ctx, &recs); err != nil {
			return nil, fmt.Errorf("read %s of %s: %w", coll, accountID, err)
		}
		out := map[string]bool{}
		for _, r := range recs {
			out[r.ID] = true
		}
		return out, nil
	}
	revoked, err := records(collKeyRevocations)
	if err != nil {
		return nil, err
	}
	suspended, err := records(collKeySuspensions)
	if err != nil {
		return nil, err
	}
	for i := range keys {
		switch k := &keys[i]; {
		case revoked[k.ID] || k.Status == events.KeyRevoked:
			k.Status = events.KeyRevoked
		case suspended[k.ID]:
			k.Status = events.KeySuspended
		default:
			k.Status = events.KeyActive
		}
	}
	return keys, nil
}
