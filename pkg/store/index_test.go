package store_test

import (
	"slices"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/onekey-oss/onekey/pkg/store"
	"github.com/onekey-oss/onekey/pkg/store/storetest"
)

func TestStore_EnsureIndexesIsIdempotentAndCompoundUniqueIndexHolds(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	ctx := t.Context()
	indexes := []store.Index{
		{Collection: "rollups", Keys: bson.D{{Key: "account_id", Value: 1}, {Key: "day", Value: -1}}, Unique: true, Name: "account_day"},
		{Collection: "rollups", Keys: bson.D{{Key: "model", Value: 1}}},
		{Collection: "journal", Keys: bson.D{{Key: "event_id", Value: 1}}, Unique: true},
	}
	// rollups has two indexes: re-creating two existing indexes in one createIndexes command crashes
	// FerretDB v1.24, which is why EnsureIndexes sends one command per index.
	for range 3 { // every start-up declares the same indexes again
		if err := st.EnsureIndexes(ctx, indexes); err != nil {
			t.Fatalf("EnsureIndexes: %v", err)
		}
	}

	for coll, want := range map[string][]string{
		"rollups": {"_id_", "account_day", "model_1"},
		"journal": {"_id_", "event_id_1"},
	} {
		specs, err := st.Collection(coll).Indexes().ListSpecifications(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range specs {
			got = append(got, s.Name)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("indexes of %s = %v, want %v", coll, got, want)
		}
	}

	rollups := st.Collection("rollups")
	for _, doc := range []bson.D{
		{{Key: "account_id", Value: "a"}, {Key: "day", Value: "2025-01-01"}, {Key: "model", Value: "m"}},
		{{Key: "account_id", Value: "a"}, {Key: "day", Value: "2025-01-02"}, {Key: "model", Value: "m"}},
		{{Key: "account_id", Value: "b"}, {Key: "day", Value: "2025-01-01"}, {Key: "model", Value: "m"}},
	} {
		if _, err := rollups.InsertOne(ctx, doc); err != nil {
			t.Fatalf("insert %v: %v", doc, err)
		}
	}
	_, err := rollups.InsertOne(ctx, bson.D{{Key: "account_id", Value: "a"}, {Key: "day", Value: "2025-01-01"}, {Key: "model", Value: "other"}})
	if !store.IsDuplicate(err) {
		t.Fatalf("second (a, 2025-01-01) rollup: err = %v, want a duplicate-key error", err)
	}
}

func TestStore_EnsureIndexesRejectsInvalidAndConflictingDeclarations(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	ctx := t.Context()
	if err := st.EnsureIndexes(ctx, []store.Index{
		{Collection: "c", Keys: bson.D{{Key: "a", Value: 1}}, Name: "by_a"},
	}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		idx  store.Index
	}{
		{"no collection", store.Index{Keys: bson.D{{Key: "a", Value: 1}}}},
		{"no keys", store.Index{Collection: "c"}},
		{"same name, other keys", store.Index{Collection: "c", Keys: bson.D{{Key: "b", Value: 1}}, Name: "by_a"}},
	} {
		if err := st.EnsureIndexes(ctx, []store.Index{tc.idx}); err == nil {
			t.Errorf("%s: EnsureIndexes succeeded, want an error", tc.name)
		}
	}
}
