package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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

// rpcEndpoint is a chain's JSON-RPC endpoint as chainwatcher sees it when
// it has no claims to look up: it answers eth_chainId (JSON-RPC 2.0 over
// HTTP POST) with Base's id, or, while down, 503.
func rpcEndpoint(t *testing.T, down *atomic.Bool) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		var req struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if req.Method != "eth_chainId" {
			_ = json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": req.ID, "error": map[string]any{"code": -32601, "message": "method not found"}})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": req.ID, "result": "0x2105"})
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// chainwatcher binds to no consumer or bucket: /readyz answers 503 until
// the streams it publishes tx.confirmed and tx.rejected into exist and
// while its chain's RPC endpoint does not answer, 200 when both hold, and
// it never exits meanwhile.
func TestRun_NotReadyUntilTheStreamsItPublishesIntoExistAndItsChainAnswers(t *testing.T) {
	nats := bustest.StartUndeclared(t)
	var down atomic.Bool
	admin := boottest.FreeAddr(t)
	env := config.MapEnv(map[string]string{
		"NATS_URL": nats.ClientURL(), "NATS_CREDS_FILE": nats.CredsFile(bus.UserChainwatcher), "MONGODB_URI": storetest.URI(t),
		"MONGODB_DB": "chainwatcher_ready", "LOG_LEVEL": "error", "CHAINWATCHER_ADMIN_ADDR": admin,
		"CHAINWATCHER_POLL_INTERVAL": "50ms", "CHAINWATCHER_RPC_TIMEOUT": "1s",
		"CRYPTO_CHAINS": "base", "CHAIN_BASE_RPC_URL": rpcEndpoint(t, &down), "CHAIN_BASE_CHAIN_ID": "8453",
		"CHAIN_BASE_DEPOSIT_ADDRESS": "0x1111111111111111111111111111111111111111",
		"CHAIN_BASE_TOKENS":          "USDC:0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913:6",
	})
	svc := boottest.Start(t, func(ctx context.Context) error { return run(ctx, nil, env) })
	done := svc.Done()
	readyz := "http://" + admin + "/readyz"
	notReadyFor := func(why string) {
		t.Helper()
		for range 10 { // several passes
			if code, _ := boottest.Get(readyz); code != http.StatusServiceUnavailable {
				t.Fatalf("/readyz answered %d %s, want 503", code, why)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	boottest.WaitStatus(t, "http://"+admin+"/healthz", http.StatusOK, done)
	notReadyFor("before the streams are declared")
	nats.Declare(t, bus.DefaultTopology())
	boottest.WaitStatus(t, readyz, http.StatusOK, done)

	down.Store(true)
	boottest.WaitStatus(t, readyz, http.StatusServiceUnavailable, done)
	notReadyFor("while the chain's RPC endpoint is down")
	down.Store(false)
	boottest.WaitStatus(t, readyz, http.StatusOK, done)

	svc.Stop(t)
}
