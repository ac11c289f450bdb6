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
	uid, prj := rs.newUser(t, "held@example.com")
	for i := range 30 {
		full, k, err := rs.CreateKey(ctx, uid, prj, fmt.Sprintf("k%d", i), accounts.KeyLimits{})
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
			if _, err := rs.RevokeKey(ctx, uid, prj, k.ID); err != nil {
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
	rs.requireAllRevoked(t, uid, prj)
}

// TestKeys_StartupSyncFinishesASuspensionOrRestoreThatStoppedAfterItsRecord:
// auth stopped between a suspension's record and the key's document (or a
// restore's deleted record and the document), so the document and KV
// still say what they said before; the start-up sync makes KV and the
// document say what the record says.
func TestKeys_StartupSyncFinishesASuspensionOrRestoreThatStoppedAfterItsRecord(t *testing.T) {
	t.Parallel()
	rs := newRaceStore(t) // nothing armed: a plain store
	st, kv := rs.db, rs.kv
	ctx := context.Background()
	uid, _ := rs.newUser(t, "crash@example.com")
	full, k, err := rs.CreateKey(ctx, uid, accounts.DefaultProjectID(uid), "k", accounts.KeyLimits{})
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
	if _, err := st.Collection(accounts.CollKeySuspensions).InsertOne(ctx, bson.D{{Key: "_id", Value: k.ID}, {Key: "account_id", Value: uid},
		{Key: "actor", Value: "operator:bob"}, {Key: "reason", Value: "abuse"}, {Key: "at", Value: time.Now().UTC()}}); err != nil {
		t.Fatal(err)
	}
	if kvS, docS := status(); kvS != events.KeyActive || docS != events.KeyActive {
		t.Fatalf("before the sync: KV %s, document %s", kvS, docS)
	}
	if _, err := rs.SyncKeys(ctx); err != nil {
		t.Fatal(err)
	}
	if kvS, docS := status(); kvS != events.KeySuspended || docS != events.KeySuspended {
		t.Fatalf("after the sync of a suspension: KV %s, document %s", kvS, docS)
	}

	// The restore's deleted record, and nothing after it.
	if _, err := st.Collection(accounts.CollKeySuspensions).DeleteOne(ctx, bson.D{{Key: "_id", Value: k.ID}}); err != nil {
		t.Fatal(err)
	}
	if _, err := rs.SyncKeys(ctx); err != nil {
		t.Fatal(err)
	}
	if kvS, docS := status(); kvS != events.KeyActive || docS != events.KeyActive {
		t.Fatalf("after the sync of a restore: KV %s, document %s", kvS, docS)
	}
}
