package auth_test

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/e2e/internal/e2estack"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/services/gateway/gateway"
)

// TestKeys_GatewayAcceptsNewKeyAndRefusesRevokedOnceItsKeyViewHasTheRevocation
// runs the real gateway on the same bus: it learns keys only from KV
// apikeys. A key made in the account API authenticates at the gateway (GET
// /v1/credits, which needs no upstream); once revoked, the gateway refuses
// it as soon as its key view has the revocation. That is asserted by
// order, not by a clock (it was "within one second", which a loaded
// machine can miss): auth writes KV before it answers, so once the gateway
// knows a key made after the revoke answered, the revoked key must be
// refused. The time taken is logged.
func TestKeys_GatewayAcceptsNewKeyAndRefusesRevokedOnceItsKeyViewHasTheRevocation(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	gw, err := gateway.New(gateway.Config{
		Addr:            "127.0.0.1:0",
		OutboxDir:       filepath.Join(t.TempDir(), "outbox"),
		ShutdownTimeout: 5 * time.Second,
		Channels:        []gateway.ChannelConfig{{Name: "openai", Provider: "openai", BaseURL: "http://127.0.0.1:9/v1", APIKey: "unused"}},
	}, gateway.Deps{Bus: h.nats.ConnectAs(t, bus.UserGateway), Logger: h.log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gw.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway: %v", err)
		}
	})
	e2estack.WaitWithin(t, time.Minute, "gateway ready", gw.Ready)

	status := func(key string) int {
		req, err := http.NewRequest(http.MethodGet, "http://"+gw.Addr()+"/v1/credits", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	c, m := h.signIn("zed@example.com")
	var k keyOut
	c.Must(http.MethodPost, "/api/projects/"+m.DefaultProjectID+"/keys", map[string]any{"name": "gw"}, http.StatusCreated).JSON(t, &k)
	e2estack.WaitWithin(t, time.Minute, "gateway accepts the new key", func() bool { return status(k.Key) == http.StatusOK })

	c.Must(http.MethodDelete, "/api/projects/"+m.DefaultProjectID+"/keys/"+k.ID, nil, http.StatusOK)
	revoked := time.Now()
	var later keyOut
	c.Must(http.MethodPost, "/api/projects/"+m.DefaultProjectID+"/keys", map[string]any{"name": "later"}, http.StatusCreated).JSON(t, &later)
	e2estack.WaitWithin(t, time.Minute, "gateway accepts the key made after the revoke", func() bool { return status(later.Key) == http.StatusOK })
	if got := status(k.Key); got != http.StatusUnauthorized {
		t.Fatalf("the revoked key answered %d once the gateway knew a key made after the revoke", got)
	}
	t.Logf("refused within %s after the revoke answered", time.Since(revoked).Round(time.Millisecond))
}
