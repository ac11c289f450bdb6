package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/onekey-oss/onekey/api/apikey"
	"github.com/onekey-oss/onekey/api/events"
)

type keyOut struct {
	Key            string     `json:"key"`
	ID             string     `json:"id"`
	ProjectID      string     `json:"project_id"`
	Name           string     `json:"name"`
	Prefix         string     `json:"prefix"`
	Status         string     `json:"status"`
	RPM            int        `json:"rpm"`
	SpendCapMicros int64      `json:"spend_cap_micros"`
	ExpiresAt      *time.Time `json:"expires_at"`
	CreatedAt      time.Time  `json:"created_at"`
	LastUsed       string     `json:"last_used"`
}

// kvWatch follows KV apikeys as the gateway does and reports each value.
func kvWatch(t *testing.T, h *harness) <-chan jetstream.KeyValueEntry {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w, err := h.kv.WatchAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Stop() })
	out := make(chan jetstream.KeyValueEntry, 64)
	go func() {
		for e := range w.Updates() {
			if e != nil {
				out <- e
			}
		}
		close(out)
	}()
	return out
}

// nextValue waits up to within for the next KV value of hash.
func nextValue(t *testing.T, ch <-chan jetstream.KeyValueEntry, hash string, within time.Duration) (events.APIKeyV1, jetstream.KeyValueOp) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				t.Fatal("watch ended")
			}
			if e.Key() != hash {
				continue
			}
			var v events.APIKeyV1
			if e.Operation() == jetstream.KeyValuePut {
				if err := json.Unmarshal(e.Value(), &v); err != nil {
					t.Fatal(err)
				}
			}
			return v, e.Operation()
		case <-deadline:
			t.Fatalf("no KV apikeys change for the key within %s", within)
		}
	}
}

func TestKeys_LifecycleReachesKVWithinOneSecond(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c, m := h.signIn("mo@example.com")
	watch := kvWatch(t, h)

	exp := h.clock.Now().Add(30 * 24 * time.Hour)
	var k keyOut
	c.Must(http.MethodPost, "/api/projects/"+m.DefaultProjectID+"/keys",
		map[string]any{"name": "prod", "rpm": 120, "spend_cap_micros": 5_000_000, "expires_at": exp}, http.StatusCreated).JSON(t, &k)
	if err := apikey.Check(k.Key); err != nil {
		t.Fatalf("new key %q is malformed: %v", k.Key, err)
	}
	if !strings.HasPrefix(k.Key, apikey.Prefix) || k.Prefix != apikey.Display(k.Key) {
		t.Errorf("key %q shown with prefix %q", k.Key, k.Prefix)
	}
	hash := apikey.Hash(k.Key)
	v, _ := nextValue(t, watch, hash, time.Second)
	want := events.APIKeyV1{V: 1, KeyID: k.ID, ProjectID: m.DefaultProjectID, AccountID: m.AccountID, Status: events.KeyActive, RPM: 120, SpendCapMicros: 5_000_000}
	if v.KeyID != want.KeyID || v.ProjectID != want.ProjectID || v.AccountID != want.AccountID || v.Status != want.Status || v.RPM != want.RPM || v.SpendCapMicros != want.SpendCapMicros || v.ExpiresAt == nil || !v.ExpiresAt.Equal(exp) {
		t.Fatalf("KV value %+v, want %+v expiring %s", v, want, exp)
	}
	if !v.Active(h.clock.Now()) {
		t.Fatal("a new key is not active for the gateway")
	}

	// The listing never shows the key again.
	var list struct {
		Keys []keyOut `json:"keys"`
	}
	r := c.Must(http.MethodGet, "/api/projects/"+m.DefaultProjectID+"/keys", nil, http.StatusOK)
	r.JSON(t, &list)
	if strings.Contains(string(r.Body), k.Key) || len(list.Keys) != 1 || list.Keys[0].Prefix != k.Prefix || list.Keys[0].Name != "prod" {
		t.Fatalf("listing: %s", r.Body)
	}

	// Limits can change; the gateway sees them.
	c.Must(http.MethodPatch, "/api/projects/"+m.DefaultProjectID+"/keys/"+k.ID, map[string]any{"rpm": 10}, http.StatusOK)
	v, _ = nextValue(t, watch, hash, time.Second)
	if v.RPM != 10 || v.SpendCapMicros != 0 || v.ExpiresAt != nil || !v.Active(h.clock.Now()) {
		t.Fatalf("after update: %+v", v)
	}

	c.Must(http.MethodDelete, "/api/projects/"+m.DefaultProjectID+"/keys/"+k.ID, nil, http.StatusOK)
	v, _ = nextValue(t, watch, hash, time.Second)
	if v.Status != events.KeyRevoked || v.Active(h.clock.Now()) {
		t.Fatalf("after revoke the gateway would still accept the key: %+v", v)
	}
	// Revoking again is harmless.
	c.Must(http.MethodDelete, "/api/projects/"+m.DefaultProjectID+"/keys/"+k.ID, nil, http.StatusOK)
	// Revocation is one-way: a revoked key's limits cannot be changed.
	c.Must(http.MethodPatch, "/api/projects/"+m.DefaultProjectID+"/keys/"+k.ID, map[string]any{"rpm": 5}, http.StatusBadRequest)
}

func TestKeys_LimitsAreValidated(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c, m := h.signIn("ned@example.com")
	path := "/api/projects/" + m.DefaultProjectID + "/keys"
	for _, bad := range []map[string]any{
		{"name": ""},
		{"name": strings.Repeat("x", 101)},
		{"name": "k", "rpm": -1},
		{"name": "k", "spend_cap_micros": -5},
		{"name": "k", "expires_at": h.clock.Now().Add(-time.Minute)},
	} {
		c.Must(http.MethodPost, path, bad, http.StatusBadRequest)
	}
}

func TestProjects_DeletingAProjectRevokesItsKeys(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c, _ := h.signIn("ola@example.com")
	var p struct{ ID, Name string }
	c.Must(http.MethodPost, "/api/projects", map[string]string{"name": "side"}, http.StatusCreated).JSON(t, &p)
	c.Must(http.MethodPatch, "/api/projects/"+p.ID, map[string]string{"name": "side project"}, http.StatusOK).JSON(t, &p)
	if p.Name != "side project" {
		t.Fatalf("rename: %+v", p)
	}
	var k keyOut
	c.Must(http.MethodPost, "/api/projects/"+p.ID+"/keys", map[string]any{"name": "k"}, http.StatusCreated).JSON(t, &k)
	c.Must(http.MethodDelete, "/api/projects/"+p.ID, nil, http.StatusNoContent)
	c.Must(http.MethodGet, "/api/projects/"+p.ID+"/keys", nil, http.StatusNotFound)
	e, err := h.kv.Get(context.Background(), apikey.Hash(k.Key))
	if err != nil {
		t.Fatal(err)
	}
	var v events.APIKeyV1
	if err := json.Unmarshal(e.Value(), &v); err != nil {
		t.Fatal(err)
	}
	if v.Status != events.KeyRevoked {
		t.Fatalf("key of a deleted project is %s in KV", v.Status)
	}
}

func TestKeys_StartupSyncRepairsKV(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c, m := h.signIn("pia@example.com")
	var k keyOut
	c.Must(http.MethodPost, "/api/projects/"+m.DefaultProjectID+"/keys", map[string]any{"name": "k"}, http.StatusCreated).JSON(t, &k)
	// Lose the KV value, as a failed write after the database write would.
	if err := h.kv.Purge(context.Background(), apikey.Hash(k.Key)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.svc.Run(ctx) }()
	eventually(t, 10*time.Second, "key back in KV", func() bool {
		_, err := h.kv.Get(context.Background(), apikey.Hash(k.Key))
		return err == nil
	})
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}

func TestKeys_StartupSyncDeletesEntriesOfKeysThatNoLongerExist(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c, m := h.signIn("quin@example.com")
	var k keyOut
	c.Must(http.MethodPost, "/api/projects/"+m.DefaultProjectID+"/keys", map[string]any{"name": "k"}, http.StatusCreated).JSON(t, &k)
	// An entry no key in the database stands behind (left by a deletion
	// that stopped half-way, or written back by a stale writer).
	ctx := context.Background()
	orphan, err := apikey.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(events.APIKeyV1{V: 1, KeyID: "key_gone", ProjectID: m.DefaultProjectID, AccountID: m.AccountID, Status: events.KeyActive, UpdatedAt: h.clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.kv.Put(ctx, apikey.Hash(orphan), raw); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- h.svc.Run(runCtx) }()
	eventually(t, 10*time.Second, "orphan entry deleted", func() bool {
		_, err := h.kv.Get(ctx, apikey.Hash(orphan))
		return errors.Is(err, jetstream.ErrKeyNotFound)
	})
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if _, err := h.kv.Get(ctx, apikey.Hash(k.Key)); err != nil {
		t.Fatalf("the live key's entry: %v", err)
	}
}
