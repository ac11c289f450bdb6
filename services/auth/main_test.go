package main

import (
	"context"
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

func TestRun_ServesUntilCancelledThenStopsCleanly(t *testing.T) {
	nats := bustest.Start(t)
	st := storetest.New(t)
	addr, metrics := boottest.FreeAddr(t), boottest.FreeAddr(t)
	env := config.MapEnv(map[string]string{
		"NATS_URL": nats.ClientURL(), "NATS_CREDS_FILE": nats.CredsFile(bus.UserAuth), "MONGODB_URI": storetest.URI(t), "MONGODB_DB": st.DB().Name(),
		"AUTH_ADDR": addr, "AUTH_METRICS_ADDR": metrics, "LOG_LEVEL": "error",
		"AUTH_FREE_GRANT_SECRET": "a test secret of at least 32 characters", "MAIL_SEAL_KEY": events.NewMailSealKey(),
	})
	svc := boottest.Start(t, func(ctx context.Context) error { return run(ctx, nil, env) })
	boottest.WaitStatus(t, "http://"+addr+"/healthz", http.StatusOK, svc.Done())
	if code, _ := boottest.Get("http://" + addr + "/api/me"); code != http.StatusUnauthorized {
		t.Errorf("/api/me without a session: %d", code)
	}
	if code, body := boottest.Get("http://" + metrics + "/metrics"); code != http.StatusOK || !strings.Contains(body, "auth_request_duration_seconds") {
		t.Errorf("/metrics: %d", code)
	}
	svc.Stop(t)
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
			svc := boottest.Start(t, func(ctx context.Context) error { return run(ctx, nil, env) })
			boottest.CheckReadyOnceDeclared(t, admin, svc.Done(), func() { nats.Declare(t, bus.DefaultTopology()) })
			svc.Stop(t)
			boottest.WaitClosed(t, admin)
		})
	}
}

// With the dashboard assistant on, auth binds to KV assistant as well as
// to apikeys: /readyz answers 503 until that bucket is declared too (the
// assistant would refuse every question), 200 after, and auth never exits
// meanwhile.
func TestRun_WithTheAssistantNotReadyUntilTheAssistantBucketExists(t *testing.T) {
	nats := bustest.Start(t)
	if err := nats.Connect(t, "test").JetStream().DeleteKeyValue(context.Background(), events.BucketAssistant); err != nil {
		t.Fatal(err)
	}
	admin := boottest.FreeAddr(t)
	env := config.MapEnv(map[string]string{
		"NATS_URL": nats.ClientURL(), "NATS_CREDS_FILE": nats.CredsFile(bus.UserAuth), "MONGODB_URI": storetest.URI(t), "MONGODB_DB": "auth_ready",
		"AUTH_ADDR": boottest.FreeAddr(t), "AUTH_ADMIN_ADDR": admin, "LOG_LEVEL": "error",
		"AUTH_FREE_GRANT_SECRET": "a test secret of at least 32 characters", "MAIL_SEAL_KEY": events.NewMailSealKey(),
		"ASSISTANT_ANTHROPIC_API_KEY": "sk-ant-test", "ASSISTANT_ANTHROPIC_BASE_URL": "http://127.0.0.1:1",
	})
	svc := boottest.Start(t, func(ctx context.Context) error { return run(ctx, nil, env) })
	done := svc.Done()
	boottest.WaitStatus(t, "http://"+admin+"/healthz", http.StatusOK, done)
	time.Sleep(time.Second) // KV apikeys is bound and synced at once
	for range 5 {
		if code, body := boottest.Get("http://" + admin + "/readyz"); code != http.StatusServiceUnavailable {
			t.Fatalf("/readyz answered %d %q without KV assistant, want 503", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	nats.Declare(t, bus.DefaultTopology())
	boottest.WaitStatus(t, "http://"+admin+"/readyz", http.StatusOK, done)
	svc.Stop(t)
}
