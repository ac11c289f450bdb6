package main

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/pkg/boot/boottest"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/bus/bustest"
	"github.com/onekey-oss/onekey/pkg/config"
)

// The public port serves the API and the probes, never /metrics; the admin
// server (GATEWAY_ADMIN_ADDR, pkg/boot's) serves /metrics and the probes,
// and nothing else; both close on shutdown.
func TestRun_MetricsOnlyOnTheAdminAddressProbesOnBoth(t *testing.T) {
	nats := bustest.Start(t)
	public, admin := boottest.FreeAddr(t), boottest.FreeAddr(t)
	env := config.MapEnv(map[string]string{
		"NATS_URL": nats.ClientURL(), "NATS_CREDS_FILE": nats.CredsFile(bus.UserGateway), "GATEWAY_ADDR": public, "GATEWAY_ADMIN_ADDR": admin,
		"GATEWAY_OUTBOX_DIR": filepath.Join(t.TempDir(), "outbox"), "LOG_LEVEL": "error",
	})
	svc := boottest.Start(t, func(ctx context.Context) error { return run(ctx, nil, env) })
	boottest.WaitStatus(t, "http://"+public+"/readyz", http.StatusOK, svc.Done())
	if code, body := boottest.Get("http://" + public + "/metrics"); code != http.StatusNotFound || strings.Contains(body, "gateway_") {
		t.Errorf("public /metrics: %d %.200s; want 404 without metrics", code, body)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body := boottest.Get("http://" + public + path); code != http.StatusOK || body != "ok\n" {
			t.Errorf("public %s: %d %q", path, code, body)
		}
	}
	boottest.CheckAdmin(t, admin, "gateway_outbox_spilled")
	// A graceful shutdown closes both listeners.
	svc.Stop(t)
	boottest.WaitClosed(t, public)
	boottest.WaitClosed(t, admin)
}

func TestRun_RefusesTheAdminAddressOnThePublicPort(t *testing.T) {
	addr := boottest.FreeAddr(t)
	err := run(context.Background(), nil, config.MapEnv(map[string]string{"NATS_URL": "nats://127.0.0.1:1", "GATEWAY_ADDR": addr, "GATEWAY_ADMIN_ADDR": addr}))
	if err == nil || !strings.Contains(err.Error(), "GATEWAY_ADMIN_ADDR") {
		t.Fatalf("run = %v, want a GATEWAY_ADMIN_ADDR config error", err)
	}
}

// Issue 14: gateways started together before the topology exists (a fresh
// cluster) neither exit nor declare it: they report not ready, on the public
// port and the admin server alike, and wait, and are ready once the admin
// has declared it.
func TestRun_GatewaysStartedBeforeTheTopologyWaitNotReadyAndBecomeReadyOnceDeclared(t *testing.T) {
	nats := bustest.StartUndeclared(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var probes []string
	done := make(chan error, 2)
	for range 2 {
		public, admin := boottest.FreeAddr(t), boottest.FreeAddr(t)
		probes = append(probes, "http://"+public+"/readyz", "http://"+admin+"/readyz")
		env := config.MapEnv(map[string]string{
			"NATS_URL": nats.ClientURL(), "NATS_CREDS_FILE": nats.CredsFile(bus.UserGateway), "GATEWAY_ADDR": public, "GATEWAY_ADMIN_ADDR": admin,
			"GATEWAY_OUTBOX_DIR": filepath.Join(t.TempDir(), "outbox"), "LOG_LEVEL": "error",
		})
		go func() { done <- run(ctx, nil, env) }()
	}
	for _, p := range probes {
		boottest.WaitStatus(t, p, http.StatusServiceUnavailable, done)
	}
	time.Sleep(2 * time.Second) // a few binding attempts: still running, still not ready
	for _, p := range probes {
		boottest.WaitStatus(t, p, http.StatusServiceUnavailable, done)
	}
	nats.Declare(t, bus.DefaultTopology())
	for _, p := range probes {
		boottest.WaitStatus(t, p, http.StatusOK, done)
	}
	cancel()
	for range 2 {
		if err := <-done; err != nil {
			t.Fatalf("run: %v", err)
		}
	}
}
