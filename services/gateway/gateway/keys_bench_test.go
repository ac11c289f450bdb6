package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/api/apikey"
	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/bus/bustest"
	"github.com/onekey-oss/onekey/pkg/ids"
	"github.com/onekey-oss/onekey/services/gateway/gateway"
)

// BenchmarkKeys_RevocationReachesTheGateway measures, per operation, the
// time from auth's write of a revoked key to KV apikeys (as auth writes
// it: a put of the key's hash) to the first request the gateway refuses
// with 401, polling /v1/credits without a pause. The target is 1 s (issue
// 3: "a revoked key stops working within 1 s"); the tests assert the
// order instead (TestKeys_RevokedKeyIsRefusedOnceTheGatewayHasTheRevocation:
// no cache or poll stands between KV and the decision), since a timed
// assertion fails on a loaded machine. Reported as revoke-ms (mean) and
// revoke-max-ms; the figures are in the README.
func BenchmarkKeys_RevocationReachesTheGateway(b *testing.B) {
	nats := bustest.Start(b)
	admin := nats.Connect(b, "bench")
	cfg := gateway.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.OutboxDir = filepath.Join(b.TempDir(), "outbox")
	cfg.Channels = []gateway.ChannelConfig{{Name: "openai", Provider: catalog.OpenAI, BaseURL: "http://127.0.0.1:1", APIKey: "sk-unused"}}
	svc, err := gateway.New(cfg, gateway.Deps{Bus: nats.ConnectAs(b, bus.UserGateway), Logger: slog.New(slog.DiscardHandler), SingleReplicaCredit: true})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("gateway Run: %v", err)
		}
	})
	kv, err := admin.KV(ctx, events.BucketAPIKeys)
	if err != nil {
		b.Fatal(err)
	}
	url := "http://" + svc.Addr() + "/v1/credits"
	status := func(key string) int {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	put := func(key string, v events.APIKeyV1) {
		raw, _ := json.Marshal(v)
		if _, err := kv.Put(ctx, apikey.Hash(key), raw); err != nil {
			b.Fatal(err)
		}
	}
	// until polls for want, failing after a minute (a gateway that never
	// applies the write is a failure, not a slow figure).
	until := func(key string, want int) {
		deadline := time.Now().Add(time.Minute)
		for status(key) != want {
			if time.Now().After(deadline) {
				b.Fatalf("key not answered %d within a minute of its KV write", want)
			}
		}
	}
	for !svc.Ready() {
		time.Sleep(10 * time.Millisecond)
	}

	var total, most time.Duration
	for b.Loop() {
		b.StopTimer()
		key, err := apikey.New(nil)
		if err != nil {
			b.Fatal(err)
		}
		v := events.APIKeyV1{V: 1, KeyID: ids.New("key"), ProjectID: ids.New("prj"), AccountID: ids.New("acc"), Status: events.KeyActive, UpdatedAt: time.Now().UTC()}
		put(key, v)
		until(key, http.StatusOK)
		b.StartTimer()

		t0 := time.Now()
		v.Status, v.UpdatedAt = events.KeyRevoked, time.Now().UTC()
		put(key, v)
		until(key, http.StatusUnauthorized)
		took := time.Since(t0)
		total += took
		most = max(most, took)
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "revoke-ms")
	b.ReportMetric(float64(most.Microseconds())/1000, "revoke-max-ms")
}
