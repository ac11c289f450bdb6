package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/bus/bustest"
	"github.com/onekey-oss/onekey/pkg/config"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func get(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The public port serves the API and the probes, never /metrics; the admin
// address (GATEWAY_ADMIN_ADDR) serves /metrics and the probes.
func TestRun_MetricsOnlyOnTheAdminAddressProbesOnBoth(t *testing.T) {
	nats := bustest.Start(t)
	public, admin := freeAddr(t), freeAddr(t)
	env := config.MapEnv(map[string]string{
		"NATS_URL": nats.ClientURL(), "NATS_CREDS_FILE": nats.CredsFile(bus.UserGateway), "GATEWAY_ADDR": public, "GATEWAY_ADMIN_ADDR": admin,
		"GATEWAY_OUTBOX_DIR": filepath.Join(t.TempDir(), "outbox"), "LOG_LEVEL": "error",
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, env) }()
	defer cancel()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if code, _ := get("http://" + public + "/readyz"); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("gateway not ready within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, body := get("http://" + public + "/metrics"); code != http.StatusNotFound || strings.Contains(body, "gateway_") {
		t.Errorf("public /metrics: %d %.200s; want 404 without metrics", code, body)
	}
	if code, body := get("http://" + admin + "/metrics"); code != http.StatusOK || !strings.Contains(body, "gateway_outbox_spilled") {
		t.Errorf("admin /metrics: %d %.200s; want 200 with the gateway's metrics", code, body)
	}
	for _, addr := range []string{public, admin} {
		for _, path := range []string{"/healthz", "/readyz"} {
			if code, _ := get("http://" + addr + path); code != http.StatusOK {
				t.Errorf("%s%s: %d", addr, path, code)
			}
		}
	}
	if code, _ := get("http://" + admin + "/v1/models"); code != http.StatusNotFound {
		t.Errorf("admin /v1/models: %d; the API is not on the admin address", code)
	}
	// A graceful shutdown closes both listeners.
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("gateway did not stop within 30s")
	}
	for _, addr := range []string{public, admin} {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after shutdown", addr)
		}
	}
}

func TestRun_RefusesTheAdminAddressOnThePublicPort(t *testing.T) {
	addr := freeAddr(t)
	err := run(context.Background(), nil, config.MapEnv(map[string]string{"NATS_URL": "nats://127.0.0.1:1", "GATEWAY_ADDR": addr, "GATEWAY_ADMIN_ADDR": addr}))
	if err == nil || !strings.Contains(err.Error(), "GATEWAY_ADMIN_ADDR") {
		t.Fatalf("run = %v, want a GATEWAY_ADMIN_ADDR config error", err)
	}
}

// Issue 14: gateways started together before the topology exists (a fresh
// cluster) neither exit nor declare it: they report not ready and wait,
// and are ready once the admin has declared it.
func TestRun_GatewaysStartedBeforeTheTopologyWaitNotReadyAndBecomeReadyOnceDeclared(t *testing.T) {
	nats := bustest.StartUndeclared(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var publics []string
	done := make(chan error, 2)
	for range 2 {
		public := freeAddr(t)
		publics = append(publics, public)
		env := config.MapEnv(map[string]string{
			"NATS_URL": nats.ClientURL(), "NATS_CREDS_FILE": nats.CredsFile(bus.UserGateway), "GATEWAY_ADDR": public, "GATEWAY_ADMIN_ADDR": freeAddr(t),
			"GATEWAY_OUTBOX_DIR": filepath.Join(t.TempDir(), "outbox"), "LOG_LEVEL": "error",
		})
		go func() { done <- run(ctx, nil, env) }()
	}
	waitFor := func(public string, want int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			if code, _ := get("http://" + public + "/readyz"); code == want {
				return
			}
			select {
			case err := <-done:
				t.Fatalf("a gateway exited: %v", err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s/readyz never answered %d", public, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for _, p := range publics {
		waitFor(p, http.StatusServiceUnavailable)
	}
	time.Sleep(2 * time.Second) // a few binding attempts: still running, still not ready
	for _, p := range publics {
		waitFor(p, http.StatusServiceUnavailable)
	}
	nats.Declare(t, bus.DefaultTopology())
	for _, p := range publics {
		waitFor(p, http.StatusOK)
	}
	cancel()
	for range publics {
		if err := <-done; err != nil {
			t.Fatalf("run: %v", err)
		}
	}
}
