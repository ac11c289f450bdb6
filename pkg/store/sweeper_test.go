package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/onekey-oss/onekey/pkg/store"
	"github.com/onekey-oss/onekey/pkg/store/storetest"
)

func TestSweeper_DeletesOnlyDocumentsPastExpiresAt(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	ctx := t.Context()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { return now }
	sw := store.NewSweeper(st, nil, time.Hour, clock, "sessions", "magic_links")
	if err := st.EnsureIndexes(ctx, sw.Indexes()); err != nil {
		t.Fatal(err)
	}

	date := func(d time.Duration) bson.DateTime { return bson.NewDateTimeFromTime(now.Add(d)) }
	docs := []struct {
		coll      string
		expiresAt any // nil: no expires_at field
		survives  bool
	}{
		{"sessions", date(-7 * 24 * time.Hour), false},
		{"sessions", date(-time.Millisecond), false},
		{"sessions", date(0), true}, // not before now
		{"sessions", date(time.Millisecond), true},
		{"sessions", date(24 * time.Hour), true},
		{"sessions", nil, true},
		{"sessions", bson.Null{}, true},
		{"sessions", "2000-01-01T00:00:00Z", true}, // not a date: never expires
		{"magic_links", date(-time.Minute), false},
		{"magic_links", date(-time.Minute), false},
		{"magic_links", date(time.Minute), true},
		{"magic_links", nil, true},
		{"usage", date(-time.Hour), true}, // not a swept collection
	}
	wantSurvivors := map[string][]int{}
	wantDeleted := int64(0)
	for i, d := range docs {
		doc := bson.D{{Key: "_id", Value: i}}
		if d.expiresAt != nil {
			doc = append(doc, bson.E{Key: store.ExpiresAtField, Value: d.expiresAt})
		}
		if _, err := st.Collection(d.coll).InsertOne(ctx, doc); err != nil {
			t.Fatal(err)
		}
		if d.survives {
			wantSurvivors[d.coll] = append(wantSurvivors[d.coll], i)
		} else {
			wantDeleted++
		}
	}

	deleted, err := sw.SweepOnce(ctx)
	if err != nil {
		t.Fatalf("SweepOnce: %v", err)
	}
	if deleted != wantDeleted {
		t.Errorf("SweepOnce deleted %d documents, want %d", deleted, wantDeleted)
	}
	for _, coll := range []string{"sessions", "magic_links", "usage"} {
		if got := ids(t, st, coll); !slices.Equal(got, wantSurvivors[coll]) {
			t.Errorf("%s survivors = %v, want %v", coll, got, wantSurvivors[coll])
		}
	}

	if deleted, err := sw.SweepOnce(ctx); err != nil || deleted != 0 {
		t.Errorf("second SweepOnce = %d, %v; want 0, nil", deleted, err)
	}
}

func TestSweeper_RunSweepsRepeatedlyAndReturnsNilOnCancel(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	coll := st.Collection("sessions")
	sw := store.NewSweeper(st, nil, 20*time.Millisecond, nil, "sessions")

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- sw.Run(ctx) }()

	// A document that expires while Run is already running must be deleted by a later tick.
	if _, err := coll.InsertOne(t.Context(), bson.D{{Key: store.ExpiresAtField, Value: bson.NewDateTimeFromTime(time.Now().Add(100 * time.Millisecond))}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := coll.CountDocuments(t.Context(), bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not delete the expired document within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run returned %v after cancel, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s of cancel")
	}
}

func ids(t *testing.T, st *store.Store, coll string) []int {
	t.Helper()
	cur, err := st.Collection(coll).Find(t.Context(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var docs []struct {
		ID int `bson:"_id"`
	}
	if err := cur.All(t.Context(), &docs); err != nil {
		t.Fatal(err)
	}
	out := make([]int, 0, len(docs))
	for _, d := range docs {
		out = append(out, d.ID)
	}
	slices.Sort(out)
	return out
}
