package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/boot/boottest"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/bus/bustest"
	"github.com/onekey-oss/onekey/pkg/config"
	"github.com/onekey-oss/onekey/pkg/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func TestRun_ReportsEveryConfigProblemTogether(t *testing.T) {
	err := run(context.Background(), nil, config.MapEnv(map[string]string{"LOG_LEVEL": "loud"}))
	if err == nil {
		t.Fatal("ran without NATS_URL or MONGODB_URI")
	}
	for _, want := range []string{"NATS_URL", "MONGODB_URI", "LOG_LEVEL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestRun_ServesUntilCancelledThenStopsCleanly(t *testing.T) {
	nats := bustest.Start(t)
	st := storetest.New(t)
	addr, metrics := freeAddr(t), freeAddr(t)
	env := config.MapEnv(map[string]string{
		"NATS_URL": nats.ClientURL(), "NATS_CREDS_FILE": nats.CredsFile(bus.UserAuth), "MONGODB_URI": storetest.URI(t), "MONGODB_DB": st.DB().Name(),
		"AUTH_ADDR": addr, "AUTH_METRICS_ADDR": metrics, "LOG_LEVEL": "error",
		"AUTH_FREE_GRANT_SECRET": "a test secret of at least 32 characters", "MAIL_SEAL_KEY": events.NewMailSealKey(),
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, env) }()
	get := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			return 0, ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if code, _ := get("http://" + addr + "/healthz"); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("auth did not come up within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, _ := get("http://" + addr + "/api/me"); code != http.StatusUnauthorized {
		t.Errorf("/api/me without a session: %d", code)
	}
	if code, body := get("http://" + metrics + "/metrics"); code != http.StatusOK || !strings.Contains(body, "auth_request_duration_seconds") {
		t.Errorf("/metrics: %d", code)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("auth did not stop within 30s")
	}
}

// The admin server answers on AUTH_ADMIN_ADDR, or on its older name
// AUTH_METRICS_ADDR: /healthz at once, /readyz 503 until auth is bound to
// KV apikeys (declared by the bus admin) and serves, 200 after, /metrics;
// it closes on shutdown.
func TestRun_AdminServerIsReadyOnceBoundToTheTopology(t *testing.T) {
	for _, name := range []string{"AUTH_ADMIN_ADDR", "AUTH_METRICS_ADDR"} {
		t.Run(name, func(t *testing.T) {
			nats := bustest.StartUndeclared(t)
			admin := boottest.FreeAddr(t)
			env := config.MapEnv(map[string]string{
				"NATS_URL": nats.ClientURL(), "NATS_CREDS_FILE": nats.CredsFile(bus.UserAuth), "MONGODB_URI": storetest.URI(t), "MONGODB_DB": "auth_admin",
				"AUTH_ADDR": boottest.FreeAddr(t), name: admin, "LOG_LEVEL": "error",
				"AUTH_FREE_GRANT_SECRET": "a test secret of at least 32 characters", "MAIL_SEAL_KEY": events.NewMailSealKey(),
			})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- run(ctx, nil, env) }()
			boottest.WaitStatus(t, "http://"+admin+"/healthz", http.StatusOK, done)
			time.Sleep(time.Second) // a few binding attempts
			boottest.WaitStatus(t, "http://"+admin+"/readyz", http.StatusServiceUnavailable, done)
			nats.Declare(t, bus.DefaultTopology())
			boottest.WaitStatus(t, "http://"+admin+"/readyz", http.StatusOK, done)
			boottest.CheckAdmin(t, admin, "target_info")
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("run: %v", err)
			}
			boottest.WaitClosed(t, admin)
		})
	}
}
