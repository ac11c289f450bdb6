package auth_test

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/oauth2-proxy/mockoidc"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/onekey-oss/onekey/api/apikey"
	"github.com/onekey-oss/onekey/api/cryptopay"
	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/notices"
	"github.com/onekey-oss/onekey/api/readmodel"
	"github.com/onekey-oss/onekey/services/auth/internal/accounts"
)

// seedLedger writes what the ledger would hold for an account: its balance,
// two journal entries that sum to it, a usage row and a rollup.
func seedLedger(t *testing.T, h *harness, acc, prj, key string) {
	t.Helper()
	ctx := context.Background()
	now := h.clock.Now()
	if _, err := h.store.Collection(readmodel.CollAccounts).InsertOne(ctx, readmodel.Account{ID: acc, BalanceMicros: 4_999_000, FreeRequestsLeft: 0, Opened: true, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	journal := []any{
		bson.D{{Key: "_id", Value: "evt_buy_" + acc}, {Key: "account_id", Value: acc}, {Key: "amount_micros", Value: int64(5_000_000)}, {Key: "kind", Value: "purchase"}},
		bson.D{{Key: "_id", Value: "req_1_" + acc}, {Key: "account_id", Value: acc}, {Key: "amount_micros", Value: int64(-1_000)}, {Key: "kind", Value: "usage"}},
	}
	if _, err := h.store.Collection(readmodel.CollJournal).InsertMany(ctx, journal); err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.Collection(readmodel.CollUsage).InsertOne(ctx, bson.D{{Key: "_id", Value: "req_1_" + acc}, {Key: "account_id", Value: acc}, {Key: "key_id", Value: key}, {Key: "model", Value: "gpt-5.2"}, {Key: "cost_micros", Value: int64(1_000)}}); err != nil {
		t.Fatal(err)
	}
	r := readmodel.Rollup{ID: readmodel.RollupID(acc, "2026-11-25", "gpt-5.2", key), AccountID: acc, ProjectID: prj, Day: "2026-11-25", Model: "gpt-5.2", KeyID: key, Requests: 1, CostMicros: 1_000}
	if _, err := h.store.Collection(readmodel.CollRollups).InsertOne(ctx, r); err != nil {
		t.Fatal(err)
	}
}

func TestRights_ExportHoldsEverythingStoredAboutTheUser(t *testing.T) {
	t.Parallel()
	h := newOAuthHarness(t)
	c, m := h.signIn("uma@example.com")
	h.google.QueueUser(&mockoidc.MockUser{Subject: "google-uma", Email: "uma@example.com", EmailVerified: true})
	g := h.client()
	g.Must(http.MethodGet, h.start(g, "google"), nil, http.StatusSeeOther)
	var p struct{ ID string }
	c.Must(http.MethodPost, "/api/projects", map[string]string{"name": "Uma's side project"}, http.StatusCreated).JSON(t, &p)
	var k keyOut
	c.Must(http.MethodPost, "/api/projects/"+p.ID+"/keys", map[string]any{"name": "laptop", "rpm": 30}, http.StatusCreated).JSON(t, &k)
	seedLedger(t, h.harness, m.AccountID, p.ID, k.ID)
	ctx := context.Background()
	if _, err := h.store.Collection(cryptopay.CollWallets).InsertOne(ctx, cryptopay.Wallet{Address: "0xabc0000000000000000000000000000000000001", AccountID: m.AccountID, LinkedAt: h.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.Collection("notifier_mails").InsertOne(ctx, bson.D{{Key: "_id", Value: "applied:evt_1"}, {Key: "account_id", Value: m.AccountID}, {Key: "kind", Value: "receipt"}}); err != nil {
		t.Fatal(err)
	}
	h.client().Must(http.MethodPost, "/api/auth/magic-link", map[string]string{"email": "uma@example.com"}, http.StatusAccepted)
	h.linkFor("uma@example.com", 2)

	r := c.Must(http.MethodGet, "/api/account/export", nil, http.StatusOK)
	var x struct {
		Account struct {
			AccountID string `json:"account_id"`
			Email     string `json:"email"`
		} `json:"account"`
		Identities []struct{ Provider, Subject, Email string } `json:"identities"`
		Sessions   []struct {
			CreatedAt, ExpiresAt time.Time
		} `json:"sessions"`
		Projects []struct{ ID, Name string } `json:"projects"`
		Keys     []keyOut                    `json:"api_keys"`
		Links    []struct {
			Email     string    `json:"email"`
			ExpiresAt time.Time `json:"expires_at"`
		} `json:"pending_sign_in_links"`
		Records map[string][]json.RawMessage `json:"records"`
		Ledger  struct {
			Account json.RawMessage   `json:"account"`
			Journal []json.RawMessage `json:"journal"`
			Usage   []json.RawMessage `json:"usage"`
			Rollups []json.RawMessage `json:"usage_rollups"`
		} `json:"ledger"`
	}
	r.JSON(t, &x)
	if x.Account.AccountID != m.AccountID || x.Account.Email != "uma@example.com" {
		t.Errorf("account: %+v", x.Account)
	}
	if len(x.Identities) != 1 || x.Identities[0].Provider != "google" || x.Identities[0].Subject != "google-uma" {
		t.Errorf("identities: %+v", x.Identities)
	}
	if len(x.Sessions) != 2 {
		t.Errorf("sessions: %+v", x.Sessions)
	}
	if len(x.Projects) != 2 || x.Projects[1].Name != "Uma's side project" {
		t.Errorf("projects: %+v", x.Projects)
	}
	if len(x.Keys) != 1 || x.Keys[0].Name != "laptop" || x.Keys[0].RPM != 30 || x.Keys[0].Prefix != k.Prefix {
		t.Errorf("keys: %+v", x.Keys)
	}
	if !strings.Contains(string(x.Ledger.Account), "4999000") || len(x.Ledger.Journal) != 2 || len(x.Ledger.Usage) != 1 || len(x.Ledger.Rollups) != 1 {
		t.Errorf("ledger records: %s", r.Body)
	}
	if len(x.Links) != 1 || x.Links[0].Email != "uma@example.com" {
		t.Errorf("pending links: %+v", x.Links)
	}
	if len(x.Records[cryptopay.CollWallets]) != 1 || !strings.Contains(string(x.Records[cryptopay.CollWallets][0]), "0xabc") || len(x.Records["notifier_mails"]) != 1 {
		t.Errorf("other services' records: %v", x.Records)
	}
	// Secrets are never exported: not the key, nor any hash.
	for _, secret := range []string{k.Key, apikey.Hash(k.Key), accounts.HashToken(c.Cookies["__Host-onekey_session"])} {
		if strings.Contains(string(r.Body), secret) {
			t.Errorf("export holds a secret or its hash")
		}
	}
	if cd := r.Header.Get("Content-Disposition"); !strings.Contains(cd, "attachment") {
		t.Errorf("Content-Disposition = %q", cd)
	}
}

func TestRights_DeleteLeavesNoPersonalDataAndKeepsTheLedger(t *testing.T) {
	t.Parallel()
	h := newOAuthHarness(t)
	const email = "vic@example.com"
	h.google.QueueUser(&mockoidc.MockUser{Subject: "google-vic", Email: email, EmailVerified: true, PreferredUsername: "vic"})
	g := h.client()
	g.Must(http.MethodGet, h.start(g, "google"), nil, http.StatusSeeOther)
	c, m := h.signIn(email)
	// A pending link, a second project with a key, and the ledger's records.
	h.client().Must(http.MethodPost, "/api/auth/magic-link", map[string]string{"email": email}, http.StatusAccepted)
	h.linkFor(email, 2)
	var p struct{ ID string }
	c.Must(http.MethodPost, "/api/projects", map[string]string{"name": "Vic's secret plan"}, http.StatusCreated).JSON(t, &p)
	var k keyOut
	c.Must(http.MethodPost, "/api/projects/"+p.ID+"/keys", map[string]any{"name": "vic-laptop"}, http.StatusCreated).JSON(t, &k)
	seedLedger(t, h.harness, m.AccountID, p.ID, k.ID)
	// Someone else, who must keep everything.
	bob, bm := h.signIn("bob@example.com")
	// Both were sent a notice (tools/notice's delivery records).
	for _, acc := range []string{m.AccountID, bm.AccountID} {
		d := notices.Delivery{ID: events.NoticeEventID("n1", acc), NoticeID: "n1", AccountID: acc, State: notices.StatePublished, CreatedAt: h.clock.Now()}
		if _, err := h.store.Collection(notices.CollDeliveries).InsertOne(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
	var bk keyOut
	bob.Must(http.MethodPost, "/api/projects/"+bm.DefaultProjectID+"/keys", map[string]any{"name": "b"}, http.StatusCreated).JSON(t, &bk)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.CSRF = ""
	c.Must(http.MethodDelete, "/api/account", nil, http.StatusForbidden) // CSRF applies
	c.CSRF = m.CSRFToken
	c.Must(http.MethodDelete, "/api/account", nil, http.StatusNoContent)

	g.Must(http.MethodGet, "/api/me", nil, http.StatusUnauthorized)
	dump := h.dump()
	for _, personal := range []string{email, "Vic's secret plan", "vic-laptop", "google-vic", k.Prefix, apikey.Hash(k.Key)} {
		if strings.Contains(dump, personal) {
			t.Errorf("after delete the database still holds %q", personal)
		}
	}
	for _, coll := range []string{accounts.CollSessions, accounts.CollKeys, accounts.CollProjects, accounts.CollIdentities, notices.CollDeliveries} {
		if n := h.count(coll, bson.D{{Key: "account_id", Value: m.AccountID}}); n != 0 {
			t.Errorf("%d %s of the deleted account left", n, coll)
		}
	}
	if n := h.count(notices.CollDeliveries, bson.D{{Key: "account_id", Value: bm.AccountID}}); n != 1 {
		t.Errorf("another account's notice delivery was deleted (%d left)", n)
	}
	if _, err := h.kv.Get(ctx, apikey.Hash(k.Key)); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("the deleted account's key is still in KV apikeys: %v", err)
	}
	lister, err := h.kv.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for hash := range lister.Keys() {
		e, err := h.kv.Get(ctx, hash)
		if err != nil {
			continue
		}
		if strings.Contains(string(e.Value()), m.AccountID) {
			t.Errorf("KV apikeys still holds a key of the deleted account: %s", e.Value())
		}
	}
	// The ledger's records stay, keyed by the opaque id, still balanced.
	var acc readmodel.Account
	if err := h.store.Collection(readmodel.CollAccounts).FindOne(ctx, bson.D{{Key: "_id", Value: m.AccountID}}).Decode(&acc); err != nil {
		t.Fatal(err)
	}
	cur, err := h.store.Collection(readmodel.CollJournal).Find(ctx, bson.D{{Key: "account_id", Value: m.AccountID}})
	if err != nil {
		t.Fatal(err)
	}
	var entries []struct {
		Amount int64 `bson:"amount_micros"`
	}
	if err := cur.All(ctx, &entries); err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, e := range entries {
		sum += e.Amount
	}
	if len(entries) != 2 || sum != acc.BalanceMicros {
		t.Errorf("ledger invariant: balance %d, journal sum %d over %d entries", acc.BalanceMicros, sum, len(entries))
	}
	// account.deleted went out.
	st, err := h.bus.JetStream().Stream(ctx, events.StreamAccounts)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := st.GetLastMsgForSubject(ctx, events.FamilyAccountDeleted+"."+m.AccountID)
	if err != nil {
		t.Fatalf("no account.deleted: %v", err)
	}
	if msg.Header.Get("Nats-Msg-Id") != "account.deleted:"+m.AccountID {
		t.Errorf("Nats-Msg-Id %q", msg.Header.Get("Nats-Msg-Id"))
	}
	// Bob is untouched, and the address can sign up afresh.
	bob.Must(http.MethodGet, "/api/projects/"+bm.DefaultProjectID+"/keys", nil, http.StatusOK)
	if _, err := h.kv.Get(ctx, apikey.Hash(bk.Key)); err != nil {
		t.Errorf("bob's key: %v", err)
	}
	_, again := h.signIn(email)
	if again.AccountID == m.AccountID {
		t.Error("a deleted account came back")
	}
}

func TestRelay_FinishesInterruptedCreationAndDeletion(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	// A user stored by a sign-in that crashed before settling it.
	u := accounts.User{ID: "acc_crashed", Email: "wes@example.com", CreatedAt: h.clock.Now()}
	if _, err := h.store.Collection(accounts.CollUsers).InsertOne(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := h.svc.RelayOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if n := h.count(accounts.CollProjects, bson.D{}); n != 0 {
		t.Fatal("the relay settled a user inside the grace period")
	}
	h.clock.Advance(time.Minute)
	if err := h.svc.RelayOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if n := h.count(accounts.CollProjects, bson.D{{Key: "account_id", Value: "acc_crashed"}}); n != 1 {
		t.Fatalf("%d default projects after relay", n)
	}
	st, err := h.bus.JetStream().Stream(ctx, events.StreamAccounts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetLastMsgForSubject(ctx, events.FamilyAccountCreated+".acc_crashed"); err != nil {
		t.Fatalf("no account.created after relay: %v", err)
	}
	// A deletion that stopped after the tombstone.
	if _, err := h.store.Collection(accounts.CollUsers).UpdateOne(ctx, bson.D{{Key: "_id", Value: "acc_crashed"}}, bson.D{{Key: "$set", Value: bson.D{
		{Key: "email", Value: "deleted:acc_crashed"}, {Key: "deleted_at", Value: h.clock.Now()}, {Key: "delete_announced", Value: false}}}}); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Minute)
	if err := h.svc.RelayOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if n := h.count(accounts.CollProjects, bson.D{{Key: "account_id", Value: "acc_crashed"}}); n != 0 {
		t.Fatal("relay did not finish the deletion")
	}
	if _, err := st.GetLastMsgForSubject(ctx, events.FamilyAccountDeleted+".acc_crashed"); err != nil {
		t.Fatalf("no account.deleted after relay: %v", err)
	}
}

func TestRelay_WritesKeyChangesThatMissedKV(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c, m := h.signIn("xu@example.com")
	var k keyOut
	c.Must(http.MethodPost, "/api/projects/"+m.DefaultProjectID+"/keys", map[string]any{"name": "k"}, http.StatusCreated).JSON(t, &k)
	if n := h.count(accounts.CollKeys, bson.D{{Key: "kv_synced", Value: true}}); n != 1 {
		t.Fatalf("a key written to KV is not marked synced")
	}
	// A revoke whose KV write failed: the database says revoked, KV active.
	ctx := context.Background()
	if _, err := h.store.Collection(accounts.CollKeys).UpdateOne(ctx, bson.D{{Key: "_id", Value: k.ID}}, bson.D{{Key: "$set", Value: bson.D{
		{Key: "status", Value: events.KeyRevoked}, {Key: "kv_synced", Value: false}, {Key: "updated_at", Value: h.clock.Now()}}}}); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Minute)
	if err := h.svc.RelayOnce(ctx); err != nil {
		t.Fatal(err)
	}
	e, err := h.kv.Get(ctx, apikey.Hash(k.Key))
	if err != nil {
		t.Fatal(err)
	}
	var v events.APIKeyV1
	if err := json.Unmarshal(e.Value(), &v); err != nil {
		t.Fatal(err)
	}
	if v.Status != events.KeyRevoked {
		t.Fatalf("after the relay KV says %s", v.Status)
	}
	if n := h.count(accounts.CollKeys, bson.D{{Key: "kv_synced", Value: false}}); n != 0 {
		t.Fatalf("%d keys still unsynced", n)
	}
}

func TestRights_DeletingTheAccountNeedsASignInWithinTenMinutes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	old, m := h.signIn("yan@example.com")
	h.clock.Advance(10*time.Minute + time.Second)
	r := old.Must(http.MethodDelete, "/api/account", nil, http.StatusForbidden)
	var body struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	r.JSON(t, &body)
	if body.Error.Code != "reauthentication_required" || !strings.Contains(body.Error.Message, "sign in again") {
		t.Errorf("answer %s, want reauthentication_required asking to sign in again", r.Body)
	}
	var still me
	old.Must(http.MethodGet, "/api/me", nil, http.StatusOK).JSON(t, &still)
	if still.AccountID != m.AccountID {
		t.Fatal("the account is gone after a refused deletion")
	}
	// A fresh sign-in may delete it, for 10 minutes.
	fresh, _ := h.signIn("yan@example.com")
	h.clock.Advance(9 * time.Minute)
	fresh.Must(http.MethodDelete, "/api/account", nil, http.StatusNoContent)
	old.Must(http.MethodGet, "/api/me", nil, http.StatusUnauthorized)
}

// TestRights_ExportTellsTheUserWhenAndWhyTheOperatorSuspendedTheirKeys
// suspends two of the user's keys through auth's operator request (as
// onekeyctl does), restores one and suspends it again: the export lists
// all three suspensions, oldest first, with the reason as the operator
// wrote it, the times, the restore, and the operator as the actor's kind
// without the operator's name; a key never suspended has none. Deleting
// the account deletes them.
func TestRights_ExportTellsTheUserWhenAndWhyTheOperatorSuspendedTheirKeys(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c, m := h.signIn("una@example.com")
	keys := make([]keyOut, 3)
	for i := range keys {
		c.Must(http.MethodPost, "/api/projects/"+m.DefaultProjectID+"/keys", map[string]any{"name": fmt.Sprintf("k%d", i)}, http.StatusCreated).JSON(t, &keys[i])
	}
	h.runUntilCleanup()
	ask := h.changeKeyStatus
	const reason = `abuse report #12: "free" credits resold`
	at := h.clock.Now()
	ask(events.KeyStatusRequestV1{V: 1, KeyID: keys[0].ID, Action: events.KeyActionSuspend, Actor: "operator:bob", Reason: reason})
	ask(events.KeyStatusRequestV1{V: 1, KeyID: keys[1].ID, Action: events.KeyActionSuspend, Actor: "operator:bob", Reason: "chargeback"})
	h.clock.Advance(time.Minute)
	ask(events.KeyStatusRequestV1{V: 1, KeyID: keys[1].ID, Action: events.KeyActionRestore, Actor: "operator:carol"})
	h.clock.Advance(time.Minute)
	ask(events.KeyStatusRequestV1{V: 1, KeyID: keys[1].ID, Action: events.KeyActionSuspend, Actor: "operator:carol", Reason: "chargeback again"})

	r := c.Must(http.MethodGet, "/api/account/export", nil, http.StatusOK)
	type suspension struct {
		KeyID       string     `json:"key_id"`
		By          string     `json:"by"`
		Reason      string     `json:"reason"`
		SuspendedAt time.Time  `json:"suspended_at"`
		RestoredAt  *time.Time `json:"restored_at"`
	}
	var x struct {
		Suspensions []suspension `json:"api_key_suspensions"`
	}
	r.JSON(t, &x)
	restored := at.Add(time.Minute)
	want := []suspension{
		{KeyID: keys[0].ID, By: "operator", Reason: reason, SuspendedAt: at},
		{KeyID: keys[1].ID, By: "operator", Reason: "chargeback", SuspendedAt: at, RestoredAt: &restored},
		{KeyID: keys[1].ID, By: "operator", Reason: "chargeback again", SuspendedAt: at.Add(2 * time.Minute)},
	}
	if len(x.Suspensions) != len(want) {
		t.Fatalf("the export has %d suspensions, want %d: %s", len(x.Suspensions), len(want), r.Body)
	}
	order := map[string]int{keys[0].ID: 0, keys[1].ID: 1} // of two at the same time
	slices.SortStableFunc(x.Suspensions, func(a, b suspension) int {
		return cmp.Or(a.SuspendedAt.Compare(b.SuspendedAt), cmp.Compare(order[a.KeyID], order[b.KeyID]))
	})
	for i, w := range want {
		g := x.Suspensions[i]
		if g.KeyID != w.KeyID || g.By != w.By || g.Reason != w.Reason || !g.SuspendedAt.Equal(w.SuspendedAt) ||
			(g.RestoredAt == nil) != (w.RestoredAt == nil) || g.RestoredAt != nil && !g.RestoredAt.Equal(*w.RestoredAt) {
			t.Errorf("suspension %d: %+v, want %+v", i, g, w)
		}
	}
	for _, name := range []string{"bob", "carol"} {
		if strings.Contains(string(r.Body), name) {
			t.Errorf("the export names the operator %q: %s", name, r.Body)
		}
	}

	c.Must(http.MethodDelete, "/api/account", nil, http.StatusNoContent)
	for _, coll := range []string{accounts.CollKeySuspensions, accounts.CollKeySuspensionLog} {
		if n := h.count(coll, bson.D{{Key: "account_id", Value: m.AccountID}}); n != 0 {
			t.Errorf("%d %s of the deleted account left", n, coll)
		}
	}
}
