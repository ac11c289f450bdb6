package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/bus/bustest"
)

// shortLeases re-declares the topology with a lease TTL of ttl.
func shortLeases(t *testing.T, srv *bustest.Server, ttl time.Duration) {
	t.Helper()
	top := bus.DefaultTopology()
	top.LeaseTTL = ttl
	srv.Declare(t, top)
}

// acquireAsync starts taking the lease and returns a channel that gets it.
func acquireAsync(ctx context.Context, b *bus.Bus, holder string) <-chan *bus.Lease {
	ch := make(chan *bus.Lease, 1)
	go func() {
		l, err := b.AcquireLease(ctx, bus.LeaseOptions{Name: "test", Holder: holder})
		if err == nil {
			ch <- l
		}
		close(ch)
	}()
	return ch
}

func TestLease_OneHolderAtATimeAndTheNextTakesOverOnReleaseOrAfterTheTTL(t *testing.T) {
	t.Parallel()
	const ttl = 2 * time.Second
	srv := bustest.Start(t)
	// As the ledger, whose writer lease this is: its permissions suffice.
	a, b, c := srv.ConnectAs(t, bus.UserLedger), srv.ConnectAs(t, bus.UserLedger), srv.ConnectAs(t, bus.UserLedger)
	shortLeases(t, srv, ttl)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	la, err := a.AcquireLease(ctx, bus.LeaseOptions{Name: "test", Holder: "a"})
	if err != nil {
		t.Fatal(err)
	}
	gotB := acquireAsync(ctx, b, "b")
	// Held and renewed by a: b waits however long it takes (past the TTL).
	select {
	case <-gotB:
		t.Fatal("b took the lease while a held it")
	case <-la.Lost():
		t.Fatal("a lost a lease it was renewing")
	case <-time.After(2 * ttl):
	}
	// a releases: b takes it without waiting out the TTL.
	released := time.Now()
	if err := la.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	var lb *bus.Lease
	select {
	case lb = <-gotB:
	case <-time.After(ttl):
		t.Fatal("b did not take the released lease within the TTL")
	}
	t.Logf("b took over %v after a released", time.Since(released).Round(time.Millisecond))

	// b is killed (its connection drops; it neither renews nor releases):
	// c takes over once the TTL has passed, not before b's own deadline.
	gotC := acquireAsync(ctx, c, "c")
	killed := time.Now()
	b.Conn().Close()
	select {
	case <-lb.Lost():
	case <-time.After(ttl):
		t.Fatal("b did not notice it lost the lease within the TTL")
	}
	bStopped := time.Since(killed)
	var lc *bus.Lease
	select {
	case lc = <-gotC:
	case <-time.After(3 * ttl):
		t.Fatal("c did not take over after the TTL")
	}
	cTook := time.Since(killed)
	if cTook <= bStopped {
		t.Errorf("c took the lease %v after the kill, before b stopped (%v): two holders overlapped", cTook, bStopped)
	}
	t.Logf("b stopped %v after the kill, c took over at %v", bStopped.Round(time.Millisecond), cTook.Round(time.Millisecond))
	select {
	case <-lc.Lost():
		t.Error("c lost its lease at once")
	default:
	}
	if err := lc.Release(context.Background()); err != nil {
		t.Error(err)
	}
}
