package payments_test

import (
	"context"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
)

func TestRelay_PublishesWhatACrashLeftStoredButUnpublished(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ctx := context.Background()
	// As a process that stopped between storing and publishing leaves it.
	old := time.Now().Add(-time.Hour).UTC()
	if _, err := h.st.Collection("card_payments").InsertOne(ctx, bson.D{
		{Key: "_id", Value: "purchase:cs_crash"}, {Key: "kind", Value: events.CreditPurchase}, {Key: "event_id", Value: "evt_crash"},
		{Key: "event_time", Value: old}, {Key: "account_id", Value: "acc_crash"}, {Key: "session_id", Value: "cs_crash"},
		{Key: "amount_micros", Value: int64(15 * money.Dollar)}, {Key: "published", Value: false}, {Key: "created_at", Value: old},
	}); err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{1, 0} {
		n, err := h.svc.RelayUnpublished(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Errorf("relay %d published %d, want %d", i, n, want)
		}
	}
	cs := credits(t, h.bus, "acc_crash")
	if len(cs) != 1 || cs[0].ID != "evt_crash" || cs[0].AmountMicros != 15*money.Dollar {
		t.Errorf("credits = %+v", cs)
	}
}
