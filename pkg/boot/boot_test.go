package boot_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/boot"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/bus/bustest"
	"github.com/onekey-oss/onekey/pkg/config"
	"github.com/onekey-oss/onekey/pkg/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func TestOpen_ConnectsAsTheServiceAndOpensTheStoreThenClosesInOrder(t *testing.T) {
	nats := bustest.Start(t)
	env := config.MapEnv(map[string]string{
		"NATS_URL": nats.ClientURL(), "NATS_CREDS_FILE": nats.CredsFile(bus.UserGateway),
		"MONGODB_URI": storetest.URI(t), "MONGODB_DB": "boot_test", "LOG_LEVEL": "error",
	})
	ctx := context.Background()
	rt, err := boot.Open(ctx, env, boot.Options{Service: bus.UserGateway, Store: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Connected as the gateway: a usage event lands in its stream.
	if _, err := rt.Bus.Publish(ctx, events.UsageRecordedV1{V: 1, ID: "r1", AccountID: "acc1"}); err != nil {
		t.Fatalf("publish after Open: %v", err)
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
}

func TestOpen_WithoutStoreNeedsNoDatabase(t *testing.T) {
	nats := bustest.Start(t)
	rt, err := boot.Open(context.Background(), config.MapEnv(map[string]string{"NATS_URL": nats.ClientURL(), "NATS_CREDS_FILE": nats.CredsFile(bus.UserGateway)}), boot.Options{Service: bus.UserGateway}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	if rt.Store != nil {
		t.Fatal("a store was opened for a service that asked for none")
	}
}

func TestOpen_ReportsEveryProblemOfTheEnvironmentAtOnce(t *testing.T) {
	serviceErr := errors.New("GATEWAY_ADDR: bad address")
	_, err := boot.Open(context.Background(), config.MapEnv(map[string]string{"LOG_LEVEL": "loud"}),
		boot.Options{Service: "test", Store: true}, serviceErr)
	if err == nil {
		t.Fatal("Open succeeded with a broken environment")
	}
	for _, want := range []string{"GATEWAY_ADDR", "NATS_URL", "MONGODB_URI", "LOG_LEVEL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
}
