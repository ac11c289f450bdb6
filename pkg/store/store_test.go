package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/onekey-oss/onekey/pkg/store"
	"github.com/onekey-oss/onekey/pkg/store/storetest"
)

func TestStore_ConcurrentUniqueInsertsHaveExactlyOneWinner(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	ctx := t.Context()
	if err := st.EnsureIndexes(ctx, []store.Index{
		{Collection: "claims", Keys: bson.D{{Key: "claim", Value: 1}}, Unique: true},
	}); err != nil {
		t.Fatal(err)
	}

	const writers = 50
	var (
		start      = make(chan struct{})
		wg         sync.WaitGroup
		mu         sync.Mutex
		wins, dups int
		others     []error
	)
	for i := range writers {
		wg.Go(func() {
			<-start
			_, err := st.Collection("claims").InsertOne(ctx, bson.D{{Key: "claim", Value: "tx:0xabc"}, {Key: "writer", Value: i}})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case store.IsDuplicate(fmt.Errorf("claim tx: %w", err)):
				dups++
			default:
				others = append(others, err)
			}
		})
	}
	close(start)
	wg.Wait()

	if len(others) > 0 {
		t.Fatalf("inserts failed with errors other than duplicate key: %v", errors.Join(others...))
	}
	if wins != 1 || dups != writers-1 {
		t.Fatalf("got %d successful inserts and %d duplicates, want 1 and %d", wins, dups, writers-1)
	}
	n, err := st.Collection("claims").CountDocuments(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("collection holds %d documents, want 1", n)
	}
}

func TestIsDuplicate_RecognizesOnlyDuplicateKeyErrors(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	ctx := t.Context()
	if err := st.EnsureIndexes(ctx, []store.Index{
		{Collection: "c", Keys: bson.D{{Key: "k", Value: 1}}, Unique: true},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Collection("c").InsertOne(ctx, bson.D{{Key: "k", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	_, insertErr := st.Collection("c").InsertOne(ctx, bson.D{{Key: "k", Value: 1}})
	// An unordered bulk insert where one document of three collides.
	_, bulkErr := st.Collection("c").InsertMany(ctx, []any{
		bson.D{{Key: "k", Value: 2}}, bson.D{{Key: "k", Value: 1}}, bson.D{{Key: "k", Value: 3}},
	}, options.InsertMany().SetOrdered(false))
	_, findErr := st.Collection("c").Find(ctx, bson.D{{Key: "$bogus", Value: 1}})

	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"insert", insertErr, true},
		{"wrapped insert", fmt.Errorf("outer: %w", fmt.Errorf("inner: %w", insertErr)), true},
		{"joined insert", errors.Join(errors.New("other"), insertErr), true},
		{"bulk insert", bulkErr, true},
		{"nil", nil, false},
		{"plain error", errors.New("E11000 duplicate key error"), false},
		{"other server error", findErr, false},
		{"timeout", context.DeadlineExceeded, false},
	} {
		if got := store.IsDuplicate(tc.err); got != tc.want {
			t.Errorf("%s: IsDuplicate(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
	if findErr == nil {
		t.Error("find with an unknown operator succeeded; the non-duplicate server error case tested nothing")
	}
	// The unordered bulk insert still wrote the two documents that did not collide.
	if n, err := st.Collection("c").CountDocuments(ctx, bson.D{}); err != nil || n != 3 {
		t.Errorf("count = %d, %v; want 3 documents", n, err)
	}
}

func TestOpen_FailsWithinContextWhenServerIsUnreachable(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	began := time.Now()
	// Port 1 on loopback refuses connections.
	st, err := store.Open(ctx, "mongodb://127.0.0.1:1/?connectTimeoutMS=500", "x", nil)
	if err == nil {
		_ = st.Close(context.Background())
		t.Fatal("Open succeeded against a closed port")
	}
	if elapsed := time.Since(began); elapsed > 5*time.Second {
		t.Fatalf("Open took %v to fail; it should respect its context", elapsed)
	}
}

func TestOpen_RejectsEmptyDatabaseName(t *testing.T) {
	t.Parallel()
	if _, err := store.Open(t.Context(), storetest.URI(t), "", nil); err == nil {
		t.Fatal("Open with an empty database name succeeded")
	}
}
