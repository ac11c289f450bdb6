package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/api/readmodel"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/bus/bustest"
	"github.com/onekey-oss/onekey/pkg/store"
	"github.com/onekey-oss/onekey/services/auth/auth"
	"github.com/onekey-oss/onekey/services/ledger/ledger"
)

// backupStack is onekey's embedded parts on data directories of their own
// (a JetStream store and FerretDB's SQLite files), as devstack keeps them
// under --data, with the ledger running: what the README's backup and
// restore procedure copies.
type backupStack struct {
	t      *testing.T
	nats   *bustest.Server
	dbDir  string
	db     *store.Embedded
	st     *store.Store
	stopLg func()
}

func (b *backupStack) startDB() {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := store.StartEmbedded(ctx, store.EmbeddedConfig{DataDir: b.dbDir})
	if err != nil {
		b.t.Fatal(err)
	}
	st, err := store.Open(ctx, db.URI(), "onekey", nil)
	if err != nil {
		b.t.Fatal(err)
	}
	b.db, b.st = db, st
}

func (b *backupStack) stopDB() {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.st.Close(ctx); err != nil {
		b.t.Fatal(err)
	}
	if err := b.db.Close(ctx); err != nil {
		b.t.Fatal(err)
	}
	b.db, b.st = nil, nil
}

func (b *backupStack) startLedger() {
	b.t.Helper()
	lg, err := ledger.New(ledger.DefaultConfig(), ledger.Deps{Bus: b.nats.ConnectAs(b.t, bus.UserLedger), Store: b.st})
	if err != nil {
		b.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- lg.Run(ctx) }()
	b.stopLg = func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			b.t.Errorf("ledger: %v", err)
		}
	}
}

// tool runs onekeyctl against the stack.
func (b *backupStack) tool(args ...string) (string, int) {
	b.t.Helper()
	s := &stack{t: b.t, env: map[string]string{"NATS_URL": b.nats.ClientURL(), "NATS_CREDS_FILE": b.nats.CredsFile(bus.UserAdmin),
		"MONGODB_URI": b.db.URI(), "MONGODB_DB": "onekey", "USER": "ops"}}
	return s.run(args...)
}

// settle waits until the ledger's balance of account is want and nothing
// is left for the ledger in BILLING.
func (b *backupStack) settle(account string, want money.Micros) {
	b.t.Helper()
	admin := b.nats.Connect(b.t, "settle")
	deadline := time.Now().Add(time.Minute)
	for {
		var a readmodel.Account
		err := b.st.Collection(readmodel.CollAccounts).FindOne(context.Background(), bson.D{{Key: "_id", Value: account}}).Decode(&a)
		info, cerr := admin.JetStream().Consumer(context.Background(), events.StreamBilling, events.ConsumerLedgerBilling)
		var pending uint64
		if cerr == nil {
			ci := info.CachedInfo()
			pending = ci.NumPending + uint64(ci.NumAckPending)
		}
		if err == nil && cerr == nil && money.Micros(a.BalanceMicros) == want && pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("account %s: balance %d (err %v), %d billing events pending (err %v); want balance %d", account, a.BalanceMicros, err, pending, cerr, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBackup_StreamsCopiedBeforeTheDatabaseRestoreWithNothingLostOrAppliedTwice
// tries the README's procedure on the embedded parts. The streams' store is
// copied first (t0), credit keeps being applied, then the database is
// copied (t1); both are wiped and the copies put back. On restart the
// ledger gets again every event it had applied between t0 and t1 (its
// consumer's position is t0's): none is applied twice (the journal's event
// ids), the balance is what it was, equal to the journal, reconcile passes,
// KV balances agrees, and a copy of an applied event published again
// changes nothing while a new one applies.
func TestBackup_StreamsCopiedBeforeTheDatabaseRestoreWithNothingLostOrAppliedTwice(t *testing.T) {
	b, acc := backupAndRestore(t, true)
	defer b.stopLg()
	b.settle(acc, 15*money.Dollar)
	n, err := b.st.Collection(readmodel.CollJournal).CountDocuments(context.Background(), bson.D{{Key: "account_id", Value: acc}, {Key: "credit_kind", Value: "adjustment"}})
	if err != nil || n != 4 {
		t.Fatalf("%d adjustments in the journal after the restore (err %v), want 4", n, err)
	}
	if out, code := b.tool("reconcile"); code != 0 || !strings.Contains(out, "0 differences") {
		t.Fatalf("reconcile after the restore: exit %d: %s", code, out)
	}
	// An applied event published again (a publisher's outbox resending
	// after the restore) changes nothing; a new one applies.
	admin := b.nats.Connect(t, "republish")
	if _, err := admin.Publish(context.Background(), events.CreditAdjustedV1{V: 1, ID: "adjust:a3", AccountID: acc,
		AmountMicros: 4 * money.Dollar, Reason: "backup test", Actor: "operator:ops", Time: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	b.adjust(acc, "a5", "16")
	b.settle(acc, 31*money.Dollar)
	kv, err := admin.KV(context.Background(), events.BucketBalances)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(context.Background(), acc)
	if err != nil {
		t.Fatal(err)
	}
	var v events.BalanceV1
	if err := json.Unmarshal(e.Value(), &v); err != nil || v.BalanceMicros != 31*money.Dollar {
		t.Fatalf("KV balances says %d after the restore (err %v), want %d", v.BalanceMicros, err, 31*money.Dollar)
	}
	if out, code := b.tool("reconcile"); code != 0 {
		t.Fatalf("reconcile at the end: exit %d: %s", code, out)
	}
}

// TestBackup_DatabaseCopiedBeforeTheStreamsLosesWhatWasAppliedBetween is
// why the README's order matters: with the database copied first, the
// credits applied between the two copies are acknowledged in the streams'
// copy and missing from the database's, so they are never applied again;
// and reconcile cannot tell (the balance still equals the journal).
func TestBackup_DatabaseCopiedBeforeTheStreamsLosesWhatWasAppliedBetween(t *testing.T) {
	b, acc := backupAndRestore(t, false)
	defer b.stopLg()
	b.settle(acc, 3*money.Dollar) // a3 and a4 are gone
	b.adjust(acc, "a5", "16")     // the ledger runs: they are not late, they are lost
	b.settle(acc, 19*money.Dollar)
	if out, code := b.tool("reconcile"); code != 0 {
		t.Fatalf("reconcile: exit %d: %s", code, out)
	}
}

// backupAndRestore opens an account and credits it $1 and $2, copies one
// of the two stores (streams first, or the database first), credits $4 and
// $8, copies the other, wipes both, puts the copies back and restarts the
// bus, the database and the ledger.
func backupAndRestore(t *testing.T, streamsFirst bool) (*backupStack, string) {
	b := &backupStack{t: t, nats: bustest.Start(t), dbDir: filepath.Join(t.TempDir(), "db")}
	backup := t.TempDir()
	b.startDB()
	b.startLedger()
	au, err := auth.New(auth.Config{Addr: "127.0.0.1:0", PublicURL: "http://127.0.0.1",
		MagicLinksPerAddress: 5, MagicLinksPerIP: 1000, MagicLinkWindow: 15 * time.Minute,
		FreeGrantSecret: "the backup test's secret, 32 characters or more", MailSealKey: events.NewMailSealKey()}, auth.Deps{Bus: b.nats.ConnectAs(t, bus.UserAuth), Store: b.st})
	if err != nil {
		t.Fatal(err)
	}
	seeded, err := au.SeedAccount(context.Background(), "backup@example.com", "laptop")
	if err != nil {
		t.Fatal(err)
	}
	acc := seeded.AccountID
	b.settle(acc, 0) // the ledger has opened it
	b.adjust(acc, "a1", "1")
	b.adjust(acc, "a2", "2")
	b.settle(acc, 3*money.Dollar)

	// The streams (with the consumers' positions), as `nats stream backup`
	// takes them; the embedded server is stopped for the copy.
	copyStreams := func() {
		b.nats.Stop()
		copyDir(t, b.nats.DataDir(), filepath.Join(backup, "nats"))
		b.nats.Resume(t)
	}
	// The database, the ledger stopped (as mongodump would see it).
	copyDB := func() {
		b.stopLg()
		b.stopDB()
		copyDir(t, b.dbDir, filepath.Join(backup, "db"))
		b.startDB()
		b.startLedger()
	}
	first, second := copyStreams, copyDB
	if !streamsFirst {
		first, second = copyDB, copyStreams
	}
	first()
	b.adjust(acc, "a3", "4")
	b.adjust(acc, "a4", "8")
	b.settle(acc, 15*money.Dollar)
	second()

	// The disaster: both gone. Then the copies are put back.
	b.stopLg()
	b.stopDB()
	b.nats.Stop()
	for _, dir := range []string{b.nats.DataDir(), b.dbDir} {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
	}
	copyDir(t, filepath.Join(backup, "nats"), b.nats.DataDir())
	copyDir(t, filepath.Join(backup, "db"), b.dbDir)
	b.nats.Resume(t)
	b.startDB()
	b.startLedger()
	return b, acc
}

func (b *backupStack) adjust(account, id, usd string) {
	b.t.Helper()
	if out, code := b.tool("credit", "adjust", account, usd, "--reason", "backup test", "--id", id); code != 0 {
		b.t.Fatalf("credit adjust %s: exit %d: %s", id, code, out)
	}
}

// copyDir copies the tree at src to dst (which must not exist).
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatalf("copy %s to %s: %v", src, dst, err)
	}
}
