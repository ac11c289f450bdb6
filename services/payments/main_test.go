package main

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/onekey-oss/onekey/pkg/boot/boottest"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/bus/bustest"
	"github.com/onekey-oss/onekey/pkg/config"
	"github.com/onekey-oss/onekey/pkg/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func TestRun_ReportsEveryConfigProblemTogether(t *testing.T) {
	env := map[string]string{"CHECKOUT_MAX_USD": "lots", "LOG_LEVEL": "loud"}
	err := run(context.Background(), nil, func(k string) string { return env[k] })
	if err == nil {
		t.Fatal("run started without config")
	}
	for _, want := range []string{"NATS_URL", "MONGODB_URI", "CHECKOUT_MAX_USD", "loud"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
	if err := run(context.Background(), []string{"bogus"}, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("unknown command: %v", err)
	}
}

// The admin server (PAYMENTS_ADMIN_ADDR) answers /healthz at once, /readyz
// 503 until payments is bound to its consumers (declared by the bus admin),
// 200 after, and /metrics; the public webhook listener serves neither
// probes nor metrics; both close on shutdown.
func TestRun_AdminServerIsReadyOnceBoundToTheTopology(t *testing.T) {
	nats := bustest.StartUndeclared(t)
	public, admin := boottest.FreeAddr(t), boottest.FreeAddr(t)
	env := config.MapEnv(map[string]string{
		"NATS_URL": nats.ClientURL(), "NATS_CREDS_FILE": nats.CredsFile(bus.UserPayments), "MONGODB_URI": storetest.URI(t), "MONGODB_DB": "payments_main",
		"PAYMENTS_ADDR": public, "PAYMENTS_ADMIN_ADDR": admin, "LOG_LEVEL": "error",
	})
	svc := boottest.Start(t, func(ctx context.Context) error { return run(ctx, nil, env) })
	boottest.CheckReadyOnceDeclared(t, admin, svc.Done(), func() { nats.Declare(t, bus.DefaultTopology()) })
	for _, p := range []string{"/healthz", "/metrics"} {
		if code, _ := boottest.Get("http://" + public + p); code != http.StatusNotFound {
			t.Errorf("public %s: %d, want 404 (the admin server's)", p, code)
		}
	}
	svc.Stop(t)
	boottest.WaitClosed(t, admin)
	boottest.WaitClosed(t, public)
}
