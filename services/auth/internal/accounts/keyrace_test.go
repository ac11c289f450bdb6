package accounts_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/onekey-oss/onekey/api/apikey"
	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/bus/bustest"
	"github.com/onekey-oss/onekey/pkg/store"
	"github.com/onekey-oss/onekey/pkg/store/storetest"
	"github.com/onekey-oss/onekey/services/auth/internal/accounts"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// raceStore is an accounts.Store whose KV writers call, between their
// reads and their write of a key, what the test armed for that key (once).
type raceStore struct {
	*accounts.Store
	db    *store.Store
	kv    jetstream.KeyValue
	armed atomic.Pointer[armed]
}

type armed struct {
	keyID string
	run   func()
}

func newRaceStore(t *testing.T) *raceStore {
	t.Helper()
	b := bustest.Start(t).ConnectAs(t, bus.UserAuth)
	kv, err := b.KV(context.Background(), events.BucketAPIKeys)
	if err != nil {
		t.Fatal(err)
	}
	rs := &raceStore{db: storetest.New(t), kv: kv}
	rs.Store = accounts.New(accounts.Deps{Store: rs.db, Bus: b, Keys: kv, BeforeKVWrite: func(keyID string) {
		if a := rs.armed.Load(); a != nil && a.keyID == keyID && rs.armed.CompareAndSwap(a, nil) {
			a.run()
		}
	}})
	if err := rs.EnsureIndexes(context.Background()); err != nil {
		t.Fatal(err)
	}
	return rs
}

// interleave runs inner between outer's reads of key keyID and its KV
// write of it.
func (rs *raceStore) interleave(keyID string, outer, inner func()) {
	rs.armed.Store(&armed{keyID: keyID, run: inner})
	outer()
	if rs.armed.Swap(nil) != nil {
		panic("the interleaving was not forced: no KV write of " + keyID) // a broken test, not a finding
	}
}

// kvKey is what the gateway would read for a key: its KV value, or
// found=false when the bucket has none.
func (rs *raceStore) kvKey(t *testing.T, hash string) (v events.APIKeyV1, found bool) {
	t.Helper()
	e, err := rs.kv.Get(context.Background(), hash)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return v, false
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(e.Value(), &v); err != nil {
		t.Fatal(err)
	}
	return v, true
}

// newUser is a new user of email and its default project.
func (rs *raceStore) newUser(t *testing.T, email string) (userID, prj string) {
	t.Helper()
	u, err := rs.UserForEmail(context.Background(), email, "")
	if err != nil {
		t.Fatal(err)
	}
	return u.ID, accounts.DefaultProjectID(u.ID)
}

// requireAllRevoked fails the test unless the database says every key of
// the project is revoked.
func (rs *raceStore) requireAllRevoked(t *testing.T, userID, prj string) {
	t.Helper()
	keys, err := rs.Keys(context.Background(), userID, prj)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.Status != events.KeyRevoked {
			t.Errorf("the database says key %s is %s", k.Name, k.Status)
		}
	}
}

// TestKeys_RevokeRacingLimitUpdateLeavesKeyRevoked forces, 100 times (50
// each way), the interleaving in which one writer of KV apikeys has read the key
// and the other finishes before it writes: a limit update overtaken by a
// revoke, and a revoke overtaken by a limit update. Every time the key
// must end revoked in the database and in KV, so the gateway (which admits
// a key only when its KV value is Active) refuses it.
func TestKeys_RevokeRacingLimitUpdateLeavesKeyRevoked(t *testing.T) {
	t.Parallel()
	rs := newRaceStore(t)
	ctx := context.Background()
	uid, prj := rs.newUser(t, "race@example.com")
	for i := range 100 {
		full, k, err := rs.CreateKey(ctx, uid, prj, fmt.Sprintf("k%d", i), accounts.KeyLimits{})
		if err != nil {
			t.Fatal(err)
		}
		update := func() {
			// Refused once the key is revoked; either answer is fine here.
			_, _ = rs.UpdateKeyLimits(ctx, uid, prj, k.ID, accounts.KeyLimits{RPM: 10 + i})
		}
		revoke := func() {
			if _, err := rs.RevokeKey(ctx, uid, prj, k.ID); err != nil {
				t.Errorf("revoke: %v", err)
			}
		}
		way := "limit update overtaken by a revoke"
		if i%2 == 0 {
			rs.interleave(k.ID, update, revoke)
		} else {
			way = "revoke overtaken by a limit update"
			rs.interleave(k.ID, revoke, update)
		}
		v, found := rs.kvKey(t, apikey.Hash(full))
		if !found || v.Status != events.KeyRevoked || v.Active(time.Now()) {
			t.Fatalf("round %d (%s): KV apikeys holds %+v (found %v): the gateway would accept the revoked key", i, way, v, found)
		}
	}
	rs.requireAllRevoked(t, uid, prj)
}

// TestKeys_DeletedAccountsKeyStaysGoneWhenAnUpdateRaces: a limit update
// that read the key before the account was deleted must not write it back
// to KV apikeys after the deletion removed it.
func TestKeys_DeletedAccountsKeyStaysGoneWhenAnUpdateRaces(t *testing.T) {
	t.Parallel()
	rs := newRaceStore(t)
	ctx := context.Background()
	for i := range 10 {
		uid, prj := rs.newUser(t, fmt.Sprintf("gone%d@example.com", i))
		full, k, err := rs.CreateKey(ctx, uid, prj, "k", accounts.KeyLimits{})
		if err != nil {
			t.Fatal(err)
		}
		rs.interleave(k.ID, func() {
			_, _ = rs.UpdateKeyLimits(ctx, uid, prj, k.ID, accounts.KeyLimits{RPM: 5})
		}, func() {
			if err := rs.DeleteAccount(ctx, uid); err != nil {
				t.Errorf("delete account: %v", err)
			}
		})
		if v, found := rs.kvKey(t, apikey.Hash(full)); found {
			t.Fatalf("round %d: KV apikeys still holds the deleted account's key: %+v", i, v)
		}
	}
}

// TestKeys_StartupSyncRacingRevokeLeavesKeyRevoked: a start-up sync (of a
// second auth replica, say) that read a key before it was revoked must not
// write it back as active.
func TestKeys_StartupSyncRacingRevokeLeavesKeyRevoked(t *testing.T) {
	t.Parallel()
	rs := newRaceStore(t)
	ctx := context.Background()
	uid, prj := rs.newUser(t, "sync@example.com")
	for i := range 10 {
		full, k, err := rs.CreateKey(ctx, uid, prj, fmt.Sprintf("k%d", i), accounts.KeyLimits{})
		if err != nil {
			t.Fatal(err)
		}
		// Make sure the sync has something to write for this key.
		if err := rs.kv.Purge(ctx, apikey.Hash(full)); err != nil {
			t.Fatal(err)
		}
		rs.interleave(k.ID, func() {
			if _, err := rs.SyncKeys(ctx); err != nil {
				t.Errorf("sync: %v", err)
			}
		}, func() {
			if _, err := rs.RevokeKey(ctx, uid, prj, k.ID); err != nil {
				t.Errorf("revoke: %v", err)
			}
		})
		if v, found := rs.kvKey(t, apikey.Hash(full)); !found || v.Active(time.Now()) {
			t.Fatalf("round %d: KV apikeys holds %+v (found %v) after sync and revoke", i, v, found)
		}
	}
}
