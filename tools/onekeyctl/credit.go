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

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/api/readmodel"
	"github.com/onekey-oss/onekey/tools/internal/reconcilecheck"
)

// adjustPrefix namespaces an operator's --id among the ledger's journal
// ids (Stripe session ids, request ids, chain tx ids).
const adjustPrefix = "adjust:"

// creditAdjust publishes credit.adjusted. The event id is the operator's
// --id, never a fresh one: a retried command (a timeout, a second run)
// publishes the same id, which JetStream drops within its duplicate window
// and the ledger's journal (keyed by event id) applies once after it.
func (e *env) creditAdjust(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("credit adjust", flag.ContinueOnError)
	reason := fs.String("reason", "", "why (required; kept in the event)")
	id := fs.String("id", "", "a stable id for this adjustment (required): run the command again with the same id and it applies once")
	actor := fs.String("actor", e.getenv("USER"), "the operator (default $USER)")
	wait := fs.Duration("wait", 30*time.Second, "how long to wait for the ledger to apply it (0: do not wait)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: onekeyctl credit adjust <account id> <amount USD> --reason "..." --id <stable id> [--actor name]
  amount: a decimal dollar amount, at most 6 decimals; negative debits (e.g. 12.5, -0.000125)`)
		fs.PrintDefaults()
	}
	pos, err := parse(fs, args, 2, e.out)
	if err != nil {
		return err
	}
	account := strings.TrimSpace(pos[0])
	amount, err := money.Parse(pos[1])
	var problems []string
	if err != nil {
		problems = append(problems, err.Error())
	} else if amount == 0 {
		problems = append(problems, "amount is zero")
	}
	if account == "" {
		problems = append(problems, "no account id")
	}
	if strings.TrimSpace(*reason) == "" {
		problems = append(problems, "--reason is required")
	}
	if strings.TrimSpace(*id) == "" {
		problems = append(problems, "--id is required (a stable id, so that a retry applies once)")
	}
	if strings.TrimSpace(*actor) == "" {
		problems = append(problems, "--actor is required when $USER is not set")
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: credit adjust: %s", errUsage, strings.Join(problems, "; "))
	}
	st, err := e.store(ctx)
	if err != nil {
		return err
	}
	var acc readmodel.Account
	if err := st.Collection(readmodel.CollAccounts).FindOne(ctx, bson.D{{Key: "_id", Value: account}}).Decode(&acc); err != nil {
		if errors.Is(err, mongo.ErrNoDocuments) {
			return fmt.Errorf("%w: the ledger has no account %s", errFailed, account)
		}
		return fmt.Errorf("read account %s: %w", account, err)
	}
	ev := events.CreditAdjustedV1{
		V: 1, ID: adjustPrefix + strings.TrimSpace(*id), Time: time.Now().UTC(), AccountID: account,
		AmountMicros: amount, Reason: *reason, Actor: "operator:" + strings.TrimSpace(*actor),
	}
	// An id the journal already holds: the same adjustment is done; a
	// different one under that id is a mistake the ledger would refuse.
	if done, err := journalEntry(ctx, e, ev.ID); err != nil {
		return err
	} else if done != nil {
		if done.AccountID != account || done.AmountMicros != amount.Int64() {
			return fmt.Errorf("%w: id %s already adjusted account %s by %s", errUsage, *id, done.AccountID, money.Micros(done.AmountMicros).Display())
		}
		fmt.Fprintf(e.out, "already applied: %s %s to %s (journal seq %d)\n", ev.ID, amount.Display(), account, done.Seq)
		return nil
	}
	b, err := e.connect(ctx)
	if err != nil {
		return err
	}
	res, err := b.Publish(ctx, ev)
	if err != nil {
		return fmt.Errorf("credit adjust: %w (run the same command again: the id makes it safe)", err)
	}
	if res.Duplicate {
		fmt.Fprintf(e.out, "already published: %s (the bus dropped this copy)\n", ev.ID)
	} else {
		fmt.Fprintf(e.out, "published %s: %s to %s by %s\n", ev.ID, amount.Display(), account, ev.Actor)
	}
	if *wait <= 0 {
		return nil
	}
	deadline := time.Now().Add(*wait)
	for {
		done, err := journalEntry(ctx, e, ev.ID)
		if err != nil {
			return err
		}
		if done != nil {
			// The journal entry is written before the account: wait
			// for the account to have folded it in (its seq).
			if err := st.Collection(readmodel.CollAccounts).FindOne(ctx, bson.D{{Key: "_id", Value: account}}).Decode(&acc); err != nil {
				return fmt.Errorf("read account %s: %w", account, err)
			}
			if acc.Seq >= done.Seq {
				fmt.Fprintf(e.out, "applied (journal seq %d); balance now %s\n", done.Seq, money.Micros(acc.BalanceMicros).Display())
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("published, but the ledger has not applied %s within %s (is it running? see dlq list)", ev.ID, *wait)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for the ledger: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// journalEntry returns the ledger's journal entry with this id, nil when
// there is none.
func journalEntry(ctx context.Context, e *env, id string) (*readmodel.JournalEntry, error) {
	var j readmodel.JournalEntry
	err := e.st.Collection(readmodel.CollJournal).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&j)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read journal entry %s: %w", id, err)
	}
	return &j, nil
}

func (e *env) reconcile(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("reconcile", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: onekeyctl reconcile   (exit 1 when an account differs from its journal; run it with the ledger idle)")
	}
	if _, err := parse(fs, args, 0, e.out); err != nil {
		return err
	}
	st, err := e.store(ctx)
	if err != nil {
		return err
	}
	if err := reconcilecheck.Run(ctx, st, e.out); err != nil {
		if errors.Is(err, reconcilecheck.ErrDifferences) {
			return fmt.Errorf("%w: %w", errFailed, err)
		}
		return err
	}
	return nil
}
