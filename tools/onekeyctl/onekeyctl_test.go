package main

import (
	"context"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/api/readmodel"
)

// TestOnekeyctl_AccountShowFindsTheAccountByEmailOrIDWithBalanceKeysAndPayments
// looks an account up both ways and requires its balance, free requests,
// key (prefix, status) and the payment just made; an unknown e-mail exits 1.
func TestOnekeyctl_AccountShowFindsTheAccountByEmailOrIDWithBalanceKeysAndPayments(t *testing.T) {
	s := newStack(t)
	acc := s.seed("ops@example.com")
	if out, code := s.run("credit", "adjust", acc.AccountID, "2.5", "--reason", "goodwill", "--id", "t1"); code != 0 {
		t.Fatalf("credit adjust exit %d: %s", code, out)
	}
	for _, who := range []string{" Ops@Example.com", acc.AccountID} {
		out, code := s.run("account", "show", who)
		if code != 0 {
			t.Fatalf("account show %s: exit %d", who, code)
		}
		for _, l := range []string{"account   " + acc.AccountID, "e-mail    ops@example.com", "balance   $2.50", "free      ", acc.KeyID, "active", "adjustment", "adjust:t1"} {
			if !strings.Contains(out, l) {
				t.Errorf("account show %s: no %q in\n%s", who, l, out)
			}
		}
		if strings.Contains(out, acc.Key) {
			t.Errorf("account show printed the whole key")
		}
	}
	if _, code := s.run("account", "show", "nobody@example.com"); code != exitFailed {
		t.Errorf("unknown e-mail: exit %d, want %d", code, exitFailed)
	}
}

// TestOnekeyctl_RetriedCreditAdjustWithTheSameIDAppliesOnce runs the same
// adjustment three times, as an operator retrying after a timeout would:
// the balance moves once. A tool that made a fresh event id per run would
// credit three times.
func TestOnekeyctl_RetriedCreditAdjustWithTheSameIDAppliesOnce(t *testing.T) {
	s := newStack(t)
	acc := s.seed("retry@example.com")
	before := s.waitAccount(acc.AccountID, func(readmodel.Account) bool { return true }).BalanceMicros
	for i := range 3 {
		out, code := s.run("credit", "adjust", acc.AccountID, "12.000125", "--reason", "refund of an outage", "--id", "ticket-42", "--actor", "bob")
		if code != 0 {
			t.Fatalf("run %d: exit %d: %s", i, code, out)
		}
	}
	// A debit under another id applies too: ids, not amounts, tell adjustments apart.
	if out, code := s.run("credit", "adjust", "--id", "ticket-43", acc.AccountID, "-0.000125", "--reason", "fee"); code != 0 {
		t.Fatalf("debit: exit %d: %s", code, out)
	}
	got := s.waitAccount(acc.AccountID, func(readmodel.Account) bool { return true }).BalanceMicros
	if want := before + 12*money.Dollar.Int64(); got != want {
		t.Fatalf("balance %d after three runs of one adjustment and a debit, want %d", got, want)
	}
	n, err := s.st.Collection(readmodel.CollJournal).CountDocuments(context.Background(), bson.D{{Key: "account_id", Value: acc.AccountID}, {Key: "credit_kind", Value: "adjustment"}})
	if err != nil || n != 2 {
		t.Fatalf("%d adjustment entries in the journal (%v), want 2", n, err)
	}
	// The same id for a different adjustment is refused, not applied.
	if out, code := s.run("credit", "adjust", acc.AccountID, "99", "--reason", "typo", "--id", "ticket-42"); code != exitUsage || !strings.Contains(out, "already adjusted") {
		t.Fatalf("reused id: exit %d: %s", code, out)
	}
}

// TestOnekeyctl_CreditAdjustRefusesWhatIsNotAnExactAmountOrHasNoReasonOrID
// checks that an amount is parsed exactly (no rounding of a seventh decimal)
// and that reason and id are required, each with exit code 2.
func TestOnekeyctl_CreditAdjustRefusesWhatIsNotAnExactAmountOrHasNoReasonOrID(t *testing.T) {
	s := &stack{t: t, env: map[string]string{"USER": "alice"}}
	for name, args := range map[string][]string{
		"seven decimals": {"credit", "adjust", "acc_1", "0.0000001", "--reason", "r", "--id", "i"},
		"float syntax":   {"credit", "adjust", "acc_1", "1e3", "--reason", "r", "--id", "i"},
		"zero":           {"credit", "adjust", "acc_1", "0", "--reason", "r", "--id", "i"},
		"no reason":      {"credit", "adjust", "acc_1", "5", "--id", "i"},
		"no id":          {"credit", "adjust", "acc_1", "5", "--reason", "r"},
		"no command":     {"credit"},
		"unknown":        {"frobnicate", "now"},
	} {
		t.Run(name, func(t *testing.T) {
			if out, code := s.run(args...); code != exitUsage {
				t.Fatalf("exit %d, want %d: %s", code, exitUsage, out)
			}
		})
	}
	if out, code := s.run("--help"); code != 0 || !strings.Contains(out, "credit adjust") {
		t.Fatalf("--help: exit %d: %s", code, out)
	}
}

// TestOnekeyctl_ReconcilePassesOnTheLedgersWorkAndFailsOnAHandEditedBalance
// runs the same check as tools/reconcile: exit 0 on what the ledger wrote,
// exit 1 naming the account after its balance is edited by hand.
func TestOnekeyctl_ReconcilePassesOnTheLedgersWorkAndFailsOnAHandEditedBalance(t *testing.T) {
	s := newStack(t)
	acc := s.seed("rec@example.com")
	if out, code := s.run("credit", "adjust", acc.AccountID, "3", "--reason", "r", "--id", "rec"); code != 0 {
		t.Fatalf("credit adjust exit %d: %s", code, out)
	}
	if out, code := s.run("reconcile"); code != 0 || !strings.Contains(out, "0 differences") {
		t.Fatalf("reconcile on a clean ledger: exit %d: %s", code, out)
	}
	if _, err := s.st.Collection(readmodel.CollAccounts).UpdateOne(context.Background(), bson.D{{Key: "_id", Value: acc.AccountID}},
		bson.D{{Key: "$inc", Value: bson.D{{Key: "balance_micros", Value: 7}}}}); err != nil {
		t.Fatal(err)
	}
	if out, code := s.run("reconcile"); code != exitFailed || !strings.Contains(out, acc.AccountID) {
		t.Fatalf("reconcile after a hand edit: exit %d: %s", code, out)
	}
}
