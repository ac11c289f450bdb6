package stack_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/tools/devstack/stack"
)

// balanceOf reads the demo account's balance from KV balances, as the
// gateway sees it. While no ledger runs in devstack there is no balance to
// read and it returns ""; once the ledger runs, the balance must appear.
func balanceOf(t *testing.T, s *started) string {
	t.Helper()
	var natsURL, account string
	ledger := false
	for _, l := range s.lines {
		f := strings.Fields(l)
		switch {
		case len(f) >= 3 && f[0] == "NATS" && f[1] == "JetStream":
			natsURL = f[2]
		case len(f) >= 3 && f[0] == "demo" && f[1] == "account":
			account = f[2]
		case len(f) >= 1 && f[0] == "ledger":
			ledger = true
		}
	}
	if natsURL == "" || account == "" {
		t.Fatalf("devstack did not print the NATS URL and demo account:\n%s", strings.Join(s.lines, "\n"))
	}
	if !ledger {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// As another process joins a running devstack: with the gateway's
	// credentials file from the data directory (NATS_CREDS_FILE).
	b, err := bus.Connect(ctx, bus.Config{URL: natsURL, Name: "devstack-test", User: bus.UserGateway,
		CredsFile: bus.CredsFile(stack.CredsDir(s.dir), bus.UserGateway)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	kv, err := b.KV(ctx, events.BucketBalances)
	if err != nil {
		t.Fatal(err)
	}
	// The ledger applies the demo credit asynchronously: wait for it.
	for {
		e, err := kv.Get(ctx, account)
		if err == nil {
			var v events.BalanceV1
			if err := json.Unmarshal(e.Value(), &v); err != nil {
				t.Fatal(err)
			}
			if v.BalanceMicros > 0 {
				return fmt.Sprintf("%s, %d free requests", v.BalanceMicros, v.FreeRequestsLeft)
			}
		} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
			t.Fatal(err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the demo account's balance did not appear in KV %s", events.BucketBalances)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
