package ledger_test

import (
	"context"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/services/ledger/ledger"
)

// A ledger that holds its writer lease but whose consumer is not declared
// (yet, or any more) cannot apply what that consumer carries: it is not
// ready until it is bound to it, and it waits for it without exiting.
func TestLedger_NotReadyUntilItsConsumersAreBound(t *testing.T) {
	for _, missing := range []string{events.ConsumerLedgerUsage, events.ConsumerLedgerBilling, events.ConsumerLedgerAccounts} {
		t.Run(missing, func(t *testing.T) {
			h := newHarness(t)
			ctx := context.Background()
			if err := h.bus.JetStream().DeleteConsumer(ctx, events.ConsumerStream(missing), missing); err != nil {
				t.Fatal(err)
			}
			svc, err := ledger.New(testConfig(), ledger.Deps{Bus: h.srv.ConnectAs(t, bus.UserLedger), Store: h.st, Logger: testLogger(t)})
			if err != nil {
				t.Fatal(err)
			}
			rctx, cancel := context.WithCancel(ctx)
			r := &running{cancel: cancel, done: make(chan error, 1)}
			go func() { r.done <- svc.Run(rctx) }()
			t.Cleanup(func() { r.stop(t) })

			waitFor(t, "the ledger holds its writer lease", svc.Writing)
			for range 10 { // a few of the writer's attempts to bind
				if svc.Ready() {
					t.Fatalf("ready while consumer %s is not declared", missing)
				}
				select {
				case err := <-r.done:
					t.Fatalf("the ledger exited while waiting for consumer %s: %v", missing, err)
				case <-time.After(100 * time.Millisecond):
				}
			}

			h.srv.Declare(t, bus.DefaultTopology())
			waitFor(t, "ready once consumer "+missing+" is declared", svc.Ready)
		})
	}
}

// Readiness follows the lease: a ledger whose lease is lost (its
// connection dropped, so it cannot renew) is not ready, and the one that
// takes the lease over becomes ready.
func TestLedger_NotReadyOnceItLosesTheWriterLease(t *testing.T) {
	h := newHarness(t)
	top := bus.DefaultTopology()
	top.LeaseTTL = 2 * time.Second
	first := h.startInstance("ledger-1", top)
	waitFor(t, "first ledger ready", first.svc.Ready)
	second := h.startInstance("ledger-2", top)
	time.Sleep(500 * time.Millisecond)
	if second.svc.Ready() {
		t.Fatal("second ledger ready while the first holds the lease")
	}
	first.bus.Conn().Close()
	waitFor(t, "first ledger not ready after losing the lease", func() bool { return !first.svc.Ready() })
	waitFor(t, "second ledger ready after taking the lease over", second.svc.Ready)
	if first.svc.Ready() {
		t.Fatal("both ledgers ready")
	}
}
