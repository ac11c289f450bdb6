package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/boot/boottest"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/bus/bustest"
	"github.com/onekey-oss/onekey/pkg/config"
	"github.com/onekey-oss/onekey/pkg/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func TestRun_ReportsEveryConfigProblemTogether(t *testing.T) {
	t.Parallel()
	env := map[string]string{"LOG_LEVEL": "loud"}
	err := run(context.Background(), nil, func(k string) string { return env[k] })
	if err == nil {
		t.Fatal("run started without configuration")
	}
	for _, want := range []string{"NATS_URL", "MONGODB_URI", "LOG_LEVEL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
}

func TestRun_OpensAnAccountFromTheEnvironmentsSettingsAndStopsOnCancel(t *testing.T) {
	t.Parallel()
	srv := bustest.Start(t)
	b := srv.Connect(t, "test")
	st := storetest.New(t)
	env := map[string]string{
		"NATS_URL": srv.ClientURL(), "NATS_CREDS_FILE": srv.CredsFile(bus.UserLedger), "MONGODB_URI": storetest.URI(t), "MONGODB_DB": st.DB().Name(),
		"LEDGER_ADDR": "127.0.0.1:0", "LEDGER_FREE_REQUESTS": "7", "LOG_LEVEL": "warn",
	}
	svc := boottest.Start(t, func(ctx context.Context) error { return run(ctx, nil, func(k string) string { return env[k] }) })

	if _, err := b.Publish(context.Background(), events.AccountCreatedV1{V: 1, ID: "account.created:acc_main", Time: time.Now().UTC(), AccountID: "acc_main"}); err != nil {
		t.Fatal(err)
	}
	kv, err := b.KV(context.Background(), events.BucketBalances)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		e, err := kv.Get(context.Background(), "acc_main")
		if err == nil {
			var v events.BalanceV1
			if err := json.Unmarshal(e.Value(), &v); err != nil {
				t.Fatal(err)
			}
			if v.FreeRequestsLeft != 7 {
				t.Fatalf("free requests %d, want LEDGER_FREE_REQUESTS=7", v.FreeRequestsLeft)
			}
			break
		}
		if !errors.Is(err, jetstream.ErrKeyNotFound) {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the new account's balance did not reach KV within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	svc.Stop(t)
}

// The admin server (LEDGER_ADMIN_ADDR) answers /healthz at once, /readyz
// 503 until this process holds its partition's writer lease (the lease
// bucket and consumers are the bus admin's to declare), 200 after, and
// /metrics; it closes on shutdown.
func TestRun_AdminServerIsReadyOnceItHoldsTheWriterLease(t *testing.T) {
	t.Parallel()
	srv := bustest.StartUndeclared(t)
	admin := boottest.FreeAddr(t)
	env := config.MapEnv(map[string]string{
		"NATS_URL": srv.ClientURL(), "NATS_CREDS_FILE": srv.CredsFile(bus.UserLedger), "MONGODB_URI": storetest.URI(t), "MONGODB_DB": "ledger_admin",
		"LEDGER_ADMIN_ADDR": admin, "LOG_LEVEL": "error",
	})
	svc := boottest.Start(t, func(ctx context.Context) error { return run(ctx, nil, env) })
	boottest.CheckReadyOnceDeclared(t, admin, svc.Done(), func() { srv.Declare(t, bus.DefaultTopology()) })
	svc.Stop(t)
	boottest.WaitClosed(t, admin)
}

// /readyz answers 503 while the ledger holds its writer lease but one of
// its consumers is not declared, and 200 once it is (and it never exits
// meanwhile).
func TestRun_ReadyzAnswers503WhileAConsumerIsMissingEvenWithTheWriterLease(t *testing.T) {
	t.Parallel()
	srv := bustest.Start(t)
	b := srv.Connect(t, "test")
	ctx := context.Background()
	if err := b.JetStream().DeleteConsumer(ctx, events.StreamUsage, events.ConsumerLedgerUsage); err != nil {
		t.Fatal(err)
	}
	admin := boottest.FreeAddr(t)
	env := config.MapEnv(map[string]string{
		"NATS_URL": srv.ClientURL(), "NATS_CREDS_FILE": srv.CredsFile(bus.UserLedger), "MONGODB_URI": storetest.URI(t), "MONGODB_DB": "ledger_readyz",
		"LEDGER_ADMIN_ADDR": admin, "LOG_LEVEL": "error",
	})
	svc := boottest.Start(t, func(ctx context.Context) error { return run(ctx, nil, env) })

	leases, err := b.KV(ctx, events.BucketLeases)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := leases.Get(ctx, events.LeaseLedger); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the ledger did not take its writer lease within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for range 5 { // a few of the writer's attempts to bind
		if code, body := boottest.Get("http://" + admin + "/readyz"); code != http.StatusServiceUnavailable {
			t.Fatalf("/readyz answered %d %q holding the lease without consumer %s, want 503", code, body, events.ConsumerLedgerUsage)
		}
		time.Sleep(200 * time.Millisecond)
	}
	srv.Declare(t, bus.DefaultTopology())
	boottest.WaitStatus(t, "http://"+admin+"/readyz", http.StatusOK, svc.Done())
	svc.Stop(t)
}
