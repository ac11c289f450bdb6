package boot_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/boot"
	"github.com/onekey-oss/onekey/pkg/boot/boottest"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/bus/bustest"
	"github.com/onekey-oss/onekey/pkg/config"
)

func TestOpen_ConnectsAsTheServiceThenClosesInOrder(t *testing.T) {
	nats := bustest.Start(t)
	env := config.MapEnv(map[string]string{"NATS_URL": nats.ClientURL(), "NATS_CREDS_FILE": nats.CredsFile(bus.UserGateway), "LOG_LEVEL": "error"})
	ctx := context.Background()
	rt, err := boot.Open(ctx, env, boot.Options{Service: bus.UserGateway}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Connected as the gateway: a usage event lands in its stream.
	if _, err := rt.Bus.Publish(ctx, events.UsageRecordedV1{V: 1, ID: "r1", AccountID: "acc1"}); err != nil {
		t.Fatalf("publish after Open: %v", err)
	}
	var order []string
	rt.OnClose(func(context.Context) error {
		if rt.Bus.Conn().IsClosed() {
			t.Error("the bus was closed before what was opened on top of it")
		}
		order = append(order, "mine")
		return nil
	})
	if err := rt.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if len(order) != 1 || !rt.Bus.Conn().IsClosed() {
		t.Fatalf("after Close: steps %v, bus closed %v", order, rt.Bus.Conn().IsClosed())
	}
}

func TestOpen_ReportsEveryProblemOfTheEnvironmentAtOnce(t *testing.T) {
	serviceErr := errors.New("GATEWAY_ADDR: bad address")
	_, err := boot.Open(context.Background(), config.MapEnv(map[string]string{"LOG_LEVEL": "loud"}),
		boot.Options{Service: "test", AdminAddr: boottest.FreeAddr(t)}, serviceErr)
	if err == nil {
		t.Fatal("Open succeeded with a broken environment")
	}
	for _, want := range []string{"GATEWAY_ADDR", "NATS_URL", "LOG_LEVEL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
}

// The admin server's contract, the same in every service: /healthz answers
// from the start; /readyz answers 503 until Run and while the service's
// ready func says no, 200 while it says yes, 503 again once the service has
// stopped; /metrics serves the service's metrics; nothing else is served;
// Close stops it.
func TestAdmin_AnswersHealthReadinessAndMetricsAlikeInEveryService(t *testing.T) {
	nats := bustest.Start(t)
	addr := boottest.FreeAddr(t)
	env := config.MapEnv(map[string]string{"NATS_URL": nats.ClientURL(), "NATS_CREDS_FILE": nats.CredsFile(bus.UserLedger), "LOG_LEVEL": "error"})
	ctx := context.Background()
	rt, err := boot.Open(ctx, env, boot.Options{Service: bus.UserLedger, AdminAddr: addr}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rt.Admin == nil || rt.Admin.Addr() != addr {
		t.Fatalf("admin server not on %s", addr)
	}
	counter, err := rt.Telemetry.MeterProvider.Meter("boot_test").Int64Counter("boot_test_things")
	if err != nil {
		t.Fatal(err)
	}
	counter.Add(ctx, 1)
	url := "http://" + addr
	if code, body := boottest.Get(url + "/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz before Run: %d %q, want 200 ok", code, body)
	}
	if code, _ := boottest.Get(url + "/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz before Run: %d, want 503", code)
	}

	var ready atomic.Bool
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- rt.Run(runCtx, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }, ready.Load)
	}()
	boottest.WaitStatus(t, url+"/readyz", http.StatusServiceUnavailable, done)
	ready.Store(true)
	boottest.WaitStatus(t, url+"/readyz", http.StatusOK, done)
	boottest.CheckAdmin(t, addr, "boot_test_things")

	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel = %v, want nil (a clean exit)", err)
	}
	if code, _ := boottest.Get(url + "/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz after the service stopped: %d, want 503", code)
	}
	if code, _ := boottest.Get(url + "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz until Close: %d, want 200", code)
	}
	if err := rt.Close(ctx); err != nil {
		t.Fatal(err)
	}
	boottest.WaitClosed(t, addr)
}

func TestOpen_WithoutAdminAddrServesNoAdmin(t *testing.T) {
	nats := bustest.Start(t)
	rt, err := boot.Open(context.Background(), config.MapEnv(map[string]string{"NATS_URL": nats.ClientURL(), "NATS_CREDS_FILE": nats.CredsFile(bus.UserGateway)}), boot.Options{Service: bus.UserGateway}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	if rt.Admin != nil {
		t.Fatal("an admin server without an address")
	}
}
