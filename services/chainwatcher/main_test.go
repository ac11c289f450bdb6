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
	env := map[string]string{"CRYPTO_CHAINS": "base", "CHAINWATCHER_POLL_INTERVAL": "often"}
	err := run(context.Background(), nil, func(k string) string { return env[k] })
	if err == nil {
		t.Fatal("run started without config")
	}
	for _, want := range []string{"NATS_URL", "MONGODB_URI", "CHAINWATCHER_POLL_INTERVAL", "CHAIN_BASE_DEPOSIT_ADDRESS", "CHAIN_BASE_TOKENS"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
}

// The admin server answers on CHAINWATCHER_ADMIN_ADDR, or on its older name
// CHAINWATCHER_ADDR (the manifests of before set it): /healthz at once,
// /readyz once a pass has read the pending claims, /metrics; it closes on
// shutdown.
func TestRun_AdminServerAnswersOnTheAdminAddressOrItsOlderName(t *testing.T) {
	nats := bustest.Start(t)
	for _, name := range []string{"CHAINWATCHER_ADMIN_ADDR", "CHAINWATCHER_ADDR"} {
		t.Run(name, func(t *testing.T) {
			admin := boottest.FreeAddr(t)
			env := config.MapEnv(map[string]string{
				"NATS_URL": nats.ClientURL(), "NATS_CREDS_FILE": nats.CredsFile(bus.UserChainwatcher), "MONGODB_URI": storetest.URI(t),
				"MONGODB_DB": "chainwatcher_main", "LOG_LEVEL": "error", name: admin,
			})
			svc := boottest.Start(t, func(ctx context.Context) error { return run(ctx, nil, env) })
			boottest.WaitStatus(t, "http://"+admin+"/readyz", http.StatusOK, svc.Done())
			boottest.CheckAdmin(t, admin, "target_info")
			svc.Stop(t)
			boottest.WaitClosed(t, admin)
		})
	}
}
