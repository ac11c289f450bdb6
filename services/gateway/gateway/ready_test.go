package gateway_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/bus/bustest"
	"github.com/onekey-oss/onekey/services/gateway/gateway"
)

// With stored responses on, the gateway binds to KV responses as well as
// to apikeys and balances: until that bucket is declared it is not ready
// (a stored response could not be bound to its account), and it waits
// for it without exiting.
func TestGateway_WithStoredResponsesNotReadyUntilTheResponsesBucketExists(t *testing.T) {
	t.Parallel()
	srv := bustest.Start(t)
	admin := srv.Connect(t, "gateway-test")
	ctx := context.Background()
	if err := admin.JetStream().DeleteKeyValue(ctx, events.BucketResponses); err != nil {
		t.Fatal(err)
	}
	svc, err := gateway.New(gateway.Config{OutboxDir: filepath.Join(t.TempDir(), "outbox"), ResponsesStore: true},
		gateway.Deps{Bus: srv.ConnectAs(t, bus.UserGateway), SingleReplicaCredit: true})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Run(rctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway Run: %v", err)
		}
	})

	for range 10 { // the views load at once; several attempts at KV responses
		if svc.Ready() {
			t.Fatal("ready while KV responses is not declared")
		}
		select {
		case err := <-done:
			t.Fatalf("the gateway exited while waiting for KV responses: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	srv.Declare(t, bus.DefaultTopology())
	waitFor(t, 20*time.Second, "ready once KV responses is declared", svc.Ready)
}
