package ledger_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

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

	// The first stops (a rollout): it releases the lease, the second takes
	// over at once and applies what comes next.
	first.run.stop(t)
	stopped := time.Now()
	waitFor(t, "second ledger writing", second.svc.Writing)
	if took := time.Since(stopped); took > ttl {
		t.Errorf("second took over %v after a clean stop, want less than the TTL (%v)", took, ttl)
	}
	credit1("acc_lease_b")
	if second.steps.Load() == 0 {
		t.Error("second ledger applied nothing after taking over")
	}

	// The second is killed (its connection drops; it neither renews nor
	// releases): a third takes over once the lease has expired.
	third := h.startInstance("ledger-3", top)
	time.Sleep(200 * time.Millisecond)
	if third.svc.Writing() || third.steps.Load() != 0 {
		t.Fatal("third ledger writes while the second holds the lease")
	}
	killed := time.Now()
	second.bus.Conn().Close()
	waitFor(t, "second ledger stops writing", func() bool { return !second.svc.Writing() })
	secondStopped := time.Since(killed)
	waitFor(t, "third ledger writing", third.svc.Writing)
	if took := time.Since(killed); took < secondStopped || took > 3*ttl {
		t.Errorf("third took over %v after the kill (second stopped after %v), want after the second stopped and within ~TTL", took, secondStopped)
	}
	t.Logf("second stopped writing %v after the kill, third took over at %v", secondStopped.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
	credit1("acc_lease_c")
	if third.steps.Load() == 0 {
		t.Error("third ledger applied nothing after taking over")
	}
}
