package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/services/ledger/ledger"
)

// instance is one ledger process: its own bus connection, a count of the
// batch steps it ran (its FailPoint hook, never failing).
type instance struct {
	svc   *ledger.Service
	bus   *bus.Bus
	steps atomic.Int64
	run   *running
}

func (h *harness) startInstance(name string, top bus.Topology) *instance {
	h.t.Helper()
	in := &instance{bus: h.srv.ConnectAs(h.t, bus.UserLedger)}
	h.srv.Declare(h.t, top)
	svc, err := ledger.New(testConfig(), ledger.Deps{Bus: in.bus, Store: h.st, Logger: testLogger(h.t),
		FailPoint: func(string) error { in.steps.Add(1); return nil }})
	if err != nil {
		h.t.Fatal(err)
	}
	in.svc = svc
	ctx, cancel := context.WithCancel(context.Background())
	in.run = &running{cancel: cancel, done: make(chan error, 1)}
	go func() { in.run.done <- svc.Run(ctx) }()
	h.t.Cleanup(func() { in.run.stop(h.t) })
	return in
}

func TestLedger_SecondInstanceAppliesNothingWhileTheFirstHoldsTheWriterLeaseAndTakesOverAfterIt(t *testing.T) {
	h := newHarness(t)
	const ttl = 2 * time.Second
	top := bus.DefaultTopology()
	top.LeaseTTL = ttl
	if err := h.bus.Declare(context.Background(), top); err != nil {
		t.Fatal(err)
	}
	n := 0
	credit1 := func(acc string) {
		n++
		h.publish(credit(fmt.Sprintf("cs_lease_%d", n), acc, money.Dollar))
		h.waitBalance(acc, func(b events.BalanceV1) bool { return b.BalanceMicros >= money.Dollar })
	}

	first := h.startInstance("ledger-1", top)
	waitFor(t, "first ledger writing", first.svc.Writing)
	second := h.startInstance("ledger-2", top)
	for i := range 20 {
		credit1(fmt.Sprintf("acc_lease_a%d", i))
	}
	time.Sleep(ttl) // past a lease TTL: the first renews, the second keeps waiting
	credit1("acc_lease_a20")
	if s := second.steps.Load(); s != 0 || second.svc.Writing() {
		t.Fatalf("second ledger ran %d batch steps (writing %v) while the first held the lease", s, second.svc.Writing())
	}
	if first.steps.Load() == 0 {
		t.Fatal("first ledger applied nothing")
	}

	// The first stops (a rollout): it releases the lease, so the second
	// need not wait out the TTL: the lease entry is gone (or already the
	// second's) as soon as the first has stopped. The second then takes
	// over and applies what comes next (waitFor's minute only catches
	// "never").
	leases, err := h.bus.KV(context.Background(), events.BucketLeases)
	if err != nil {
		t.Fatal(err)
	}
	key := events.LedgerLease(1, 0)
	held, err := leases.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	first.run.stop(t)
	stopped := time.Now()
	if e, err := leases.Get(context.Background(), key); err == nil && string(e.Value()) == string(held.Value()) {
		t.Fatal("the first ledger stopped and its writer lease is still in KV: the second must wait out the TTL")
	} else if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatal(err)
	}
	waitFor(t, "second ledger writing", second.svc.Writing)
	t.Logf("second took over %v after the first stopped", time.Since(stopped).Round(time.Millisecond))
	credit1("acc_lease_b")
	if second.steps.Load() == 0 {
		t.Error("second ledger applied nothing after taking over")
	}

	// The second is killed (its connection drops; it neither renews nor
	// releases): a third takes over once the lease has expired, never
	// while the second still writes (checked at every look: an order, not
	// a clock).
	third := h.startInstance("ledger-3", top)
	time.Sleep(200 * time.Millisecond)
	if third.svc.Writing() || third.steps.Load() != 0 {
		t.Fatal("third ledger writes while the second holds the lease")
	}
	killed := time.Now()
	second.bus.Conn().Close()
	waitFor(t, "third ledger writing", func() bool {
		if !third.svc.Writing() {
			return false
		}
		if second.svc.Writing() {
			t.Fatalf("third took over %v after the kill while the second still held the lease", time.Since(killed))
		}
		return true
	})
	t.Logf("third took over %v after the kill", time.Since(killed).Round(time.Millisecond))
	credit1("acc_lease_c")
	if third.steps.Load() == 0 {
		t.Error("third ledger applied nothing after taking over")
	}
}
