package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/bus/bustest"
	"github.com/onekey-oss/onekey/pkg/config"
)

func TestDeclare_AsTheAdminDeclaresWhatServicesBindToAndNoServiceCanDeclare(t *testing.T) {
	srv := bustest.StartUndeclared(t)
	ctx := context.Background()
	env := func(user string) config.Getenv {
		return config.MapEnv(map[string]string{"NATS_URL": srv.ClientURL(), "NATS_CREDS_FILE": srv.CredsFile(user)})
	}
	// A service's credentials cannot declare (here: the ledger's, which
	// writes KV balances and so may open it, but not create it).
	var out bytes.Buffer
	if err := run(ctx, []string{"declare", "--timeout", "3s"}, env(bus.UserLedger), &out, &out); err == nil {
		t.Fatalf("the ledger's credentials declared the topology: %s", out.String())
	}
	gw := srv.ConnectAs(t, bus.UserGateway)
	if _, err := gw.KV(ctx, events.BucketAPIKeys); err == nil {
		t.Fatal("bucket apikeys exists before the admin declared it")
	}
	out.Reset()
	if err := run(ctx, []string{"declare"}, env(bus.UserAdmin), &out, &out); err != nil {
		t.Fatalf("declare: %v\n%s", err, out.String())
	}
	if _, err := gw.KV(ctx, events.BucketAPIKeys); err != nil {
		t.Fatalf("the gateway cannot bind apikeys after declare: %v", err)
	}
	notifier := srv.ConnectAs(t, bus.UserNotifier)
	if _, err := notifier.Consumer(ctx, events.ConsumerNotifierMail); err != nil {
		t.Fatalf("the notifier cannot bind its mail consumer after declare: %v", err)
	}
	// Idempotent: a second run changes nothing and succeeds.
	if err := run(ctx, []string{"declare"}, env(bus.UserAdmin), &out, &out); err != nil {
		t.Fatalf("second declare: %v", err)
	}
}

func TestDeclare_WaitsForABusThatIsNotUpYet(t *testing.T) {
	srv := bustest.StartUndeclared(t)
	srv.Stop()
	// Read before Resume replaces the server (a read inside the goroutine
	// raced with it).
	env := config.MapEnv(map[string]string{"NATS_URL": srv.ClientURL(), "NATS_CREDS_FILE": srv.CredsFile(bus.UserAdmin)})
	done := make(chan error, 1)
	go func() {
		var out bytes.Buffer
		done <- run(context.Background(), []string{"declare", "--timeout", "60s"}, env, &out, &out)
	}()
	time.Sleep(time.Second)
	srv.Resume(t)
	if err := <-done; err != nil {
		t.Fatalf("declare: %v", err)
	}
	if _, err := srv.Connect(t, "check").KV(context.Background(), events.BucketBalances); err != nil {
		t.Fatal(err)
	}
}

// deployments/nats/users.conf is what pkg/bus/users.go says.
func TestNatsConfig_TheCommittedUsersFileIsGenerated(t *testing.T) {
	got, err := os.ReadFile(filepath.Join("..", "..", "deployments", "nats", "users.conf"))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"nats-config"}, config.MapEnv(nil), &out, &out); err != nil {
		t.Fatal(err)
	}
	if string(got) != out.String() {
		t.Fatal("deployments/nats/users.conf differs from pkg/bus/users.go: run `go run ./tools/busadmin nats-config > deployments/nats/users.conf`")
	}
}

func TestKeys_WritesOneFilePerUserAndKeepsThemOnARerun(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"keys", "--out", dir}, config.MapEnv(nil), &out, &out); err != nil {
		t.Fatal(err)
	}
	first := map[string][]byte{}
	for _, u := range bus.Users() {
		seed, err := bus.ReadSeed(bus.CredsFile(dir, u))
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		first[u] = seed
	}
	env, err := os.ReadFile(filepath.Join(dir, "nats-users.env"))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range bus.Users() {
		if !strings.Contains(string(env), bus.NkeyEnv(u)+"=U") {
			t.Errorf("nats-users.env has no public key for %s", u)
		}
	}
	if err := run(context.Background(), []string{"keys", "--out", dir}, config.MapEnv(nil), &out, &out); err != nil {
		t.Fatal(err)
	}
	for _, u := range bus.Users() {
		if seed, _ := bus.ReadSeed(bus.CredsFile(dir, u)); !bytes.Equal(seed, first[u]) {
			t.Errorf("a rerun replaced %s's key", u)
		}
	}
}

func TestRun_HelpAndUnknownCommands(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"--help"}, config.MapEnv(nil), &out, &out); err == nil || !strings.Contains(out.String(), "declare") {
		t.Fatalf("--help: %v %q", err, out.String())
	}
	if err := run(context.Background(), []string{"explode"}, config.MapEnv(nil), &out, &out); err == nil {
		t.Fatal("an unknown command ran")
	}
}

func TestLedgerConsumers_ReportsTheOldPartitionCountUntilDrainedThenDeletesIt(t *testing.T) {
	srv := bustest.Start(t) // LEDGER_PARTITIONS=1
	ctx := context.Background()
	admin := srv.Connect(t, "test")
	if _, err := admin.JetStream().Publish(ctx, events.FamilyUsageRecorded+".acc_1", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	env := config.MapEnv(map[string]string{"NATS_URL": srv.ClientURL(), "NATS_CREDS_FILE": srv.CredsFile(bus.UserAdmin), "LEDGER_PARTITIONS": "2"})
	var out bytes.Buffer
	if err := run(ctx, []string{"declare"}, env, &out, &out); err != nil {
		t.Fatalf("declare: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"ledger-consumers", "--delete-drained"}, env, &out, &out); !errors.Is(err, errBacklog) {
		t.Fatalf("ledger-consumers with ledger-usage holding a message: %v, want the backlog error\n%s", err, out.String())
	}
	c, err := admin.Consumer(ctx, events.ConsumerLedgerUsage)
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.Next()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.DoubleAck(ctx); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(ctx, []string{"ledger-consumers", "--delete-drained"}, env, &out, &out); err != nil {
		t.Fatalf("ledger-consumers once drained: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "deleted ledger-usage\n") {
		t.Fatalf("output %q does not name ledger-usage as deleted", out.String())
	}
}
