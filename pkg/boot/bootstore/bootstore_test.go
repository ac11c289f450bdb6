package bootstore_test

import (
	"context"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/onekey-oss/onekey/pkg/boot"
	"github.com/onekey-oss/onekey/pkg/boot/bootstore"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/bus/bustest"
	"github.com/onekey-oss/onekey/pkg/config"
	"github.com/onekey-oss/onekey/pkg/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func TestOpen_OpensTheStoreAndClosesItBeforeTheBus(t *testing.T) {
	nats := bustest.Start(t)
	env := config.MapEnv(map[string]string{
		"NATS_URL": nats.ClientURL(), "NATS_CREDS_FILE": nats.CredsFile(bus.UserLedger),
		"MONGODB_URI": storetest.URI(t), "MONGODB_DB": "boot_test", "LOG_LEVEL": "error",
	})
	ctx := context.Background()
	rt, err := bootstore.Open(ctx, env, boot.Options{Service: bus.UserLedger}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rt.Store.DB().Name() != "boot_test" {
		t.Fatalf("database %q, want boot_test", rt.Store.DB().Name())
	}
	if _, err := rt.Store.Collection("x").InsertOne(ctx, bson.D{{Key: "a", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := rt.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if !rt.Bus.Conn().IsClosed() {
		t.Fatal("bus connection still open after Close")
	}
	if _, err := rt.Store.Collection("x").InsertOne(ctx, bson.D{{Key: "a", Value: 2}}); err == nil {
		t.Fatal("the store still writes after Close")
	}
}

func TestOpen_ReportsTheDatabaseWithEveryOtherProblem(t *testing.T) {
	_, err := bootstore.Open(context.Background(), config.MapEnv(map[string]string{"LOG_LEVEL": "loud"}), boot.Options{Service: "test"}, nil)
	if err == nil {
		t.Fatal("Open succeeded with a broken environment")
	}
	for _, want := range []string{"MONGODB_URI", "NATS_URL", "LOG_LEVEL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
}
