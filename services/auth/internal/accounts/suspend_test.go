package accounts_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/onekey-oss/onekey/api/apikey"
	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/bus/bustest"
	"github.com/onekey-oss/onekey/pkg/store/storetest"
	"github.com/onekey-oss/onekey/services/auth/internal/accounts"
)

// TestKeys_SuspendOrRestoreRacingRevokeLeavesKeyRevoked forces, 30 times,
// the interleavings in which the operator's suspension (or restore) has
// read the key and the user's revoke finishes before it writes KV
// apikeys, and the other way round. Every time the key ends revoked in KV
// and in the database, and a restore is refused.
func TestKeys_SuspendOrRestoreRacingRevokeLeavesKeyRevoked(t *testing.T) {
	t.Parallel()
	rs := newRaceStore(t)
	ctx := context.Background()
	u, err := rs.UserForEmail(ctx, "held@example.com", "")
	if err != nil {
		t.Fatal(err)
	}
	prj := accounts.DefaultProjectID(u.ID)
	for i := range 30 {
		full, k, err := rs.CreateKey(ctx, u.ID, prj, fmt.Sprintf("k%d", i), accounts.KeyLimits{})
		if err != nil {
			t.Fatal(err)
		}
		suspend := func() {
			if _, _, err := rs.SuspendKey(ctx, k.ID, "operator:bob", "abuse"); err != nil && !errors.Is(err, accounts.ErrKeyRevoked) {
				t.Errorf("suspend: %v", err)
			}
		}
		restore := func() {
			if _, _, err := rs.RestoreKey(ctx, k.ID, "operator:bob"); err != nil && !errors.Is(err, accounts.ErrKeyRevoked) {
				t.Errorf("restore: %v", err)
			}
		}
		revoke := func() {
			if _, err := rs.RevokeKey(ctx, u.ID, prj, k.ID); err != nil {
				t.Errorf("revoke: %v", err)
			}
		}
		var way string
		switch i % 3 {
		case 0:
			way = "suspension overtaken by a revoke"
			rs.interleave(k.ID, suspend, revoke)
		case 1:
			way = "revoke overtaken by a suspension"
			rs.interleave(k.ID, revoke, suspend)
		case 2:
			way = "restore overtaken by a revoke"
			suspend()
			rs.interleave(k.ID, restore, revoke)
		}
		if v, found := rs.kvKey(t, apikey.Hash(full)); !found || v.Status != events.KeyRevoked {
			t.Fatalf("round %d (%s): KV apikeys holds %+v (found %v), want revoked", i, way, v, found)
		}
		if _, _, err := rs.RestoreKey(ctx, k.ID, "operator:bob"); !errors.Is(err, accounts.ErrKeyRevoked) {
			t.Fatalf("round %d (%s): restore of the revoked key: %v", i, way, err)
		}
	}
	keys, err := rs.Keys(ctx, u.ID, prj)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.Status != events.KeyRevoked {
			t.Errorf("the database says key %s is %s", k.Name, k.Status)
		}
	}
}

// TestKeys_StartupSyncFinishesASuspensionOrRestoreThatStoppedAfterItsRecord:
// auth stopped between a suspension's record and the key's document (or a
// restore's deleted record and the document), so the document and KV
// still say what they said before; the start-up sync makes KV and the
// document say what the record says.
func TestKeys_StartupSyncFinishesASuspensionOrRestoreThatStoppedAfterItsRecord(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	b := bustest.Start(t).ConnectAs(t, bus.UserAuth)
	kv, err := b.KV(context.Background(), events.BucketAPIKeys)
	if err != nil {
		t.Fatal(err)
	}
	acc := accounts.New(accounts.Deps{Store: st, Bus: b, Keys: kv})
	ctx := context.Background()
	if err := acc.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	u, err := acc.UserForEmail(ctx, "crash@example.com", "")
	if err != nil {
		t.Fatal(err)
	}
	prj := accounts.DefaultProjectID(u.ID)
	full, k, err := acc.CreateKey(ctx, u.ID, prj, "k", accounts.KeyLimits{})
	if err != nil {
		t.Fatal(err)
	}
	status := func() (kvStatus, docStatus string) {
		t.Helper()
		e, err := kv.Get(ctx, apikey.Hash(full))
		if err != nil {
			t.Fatal(err)
		}
		var v events.APIKeyV1
		if err := json.Unmarshal(e.Value(), &v); err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Status string `bson:"status"`
		}
		if err := st.Collection(accounts.CollKeys).FindOne(ctx, bson.D{{Key: "_id", Value: k.ID}}).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		return v.Status, doc.Status
	}

	// The suspension's record, and nothing after it.
	if _, err := st.Collection(accounts.CollKeySuspensions).InsertOne(ctx, bson.D{{Key: "_id", Value: k.ID}, {Key: "account_id", Value: u.ID},
		{Key: "actor", Value: "operator:bob"}, {Key: "reason", Value: "abuse"}, {Key: "at", Value: time.Now().UTC()}}); err != nil {
		t.Fatal(err)
	}
	if kvS, docS := status(); kvS != events.KeyActive || docS != events.KeyActive {
		t.Fatalf("before the sync: KV %s, document %s", kvS, docS)
	}
	if _, err := acc.SyncKeys(ctx); err != nil {
		t.Fatal(err)
	}
	if kvS, docS := status(); kvS != events.KeySuspended || docS != events.KeySuspended {
		t.Fatalf("after the sync of a suspension: KV %s, document %s", kvS, docS)
	}

	// The restore's deleted record, and nothing after it.
	if _, err := st.Collection(accounts.CollKeySuspensions).DeleteOne(ctx, bson.D{{Key: "_id", Value: k.ID}}); err != nil {
		t.Fatal(err)
	}
	if _, err := acc.SyncKeys(ctx); err != nil {
		t.Fatal(err)
	}
	if kvS, docS := status(); kvS != events.KeyActive || docS != events.KeyActive {
		t.Fatalf("after the sync of a restore: KV %s, document %s", kvS, docS)
	}
}
