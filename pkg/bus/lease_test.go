package bus_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/onekey-oss/onekey/api/events"
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
	// a releases: its entry is deleted at once (b's taking over does not
	// wait for the TTL to remove it), and b takes the lease. The bound
	// only catches "never": what shows that b need not wait out the TTL is
	// the entry gone (or already b's) as soon as Release returns.
	leases, err := a.KV(ctx, events.BucketLeases)
	if err != nil {
		t.Fatal(err)
	}
	released := time.Now()
	if err := la.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if e, err := leases.Get(ctx, "test"); err == nil && string(e.Value()) != "b" {
		t.Fatalf("after a released, the lease entry is still %q's", e.Value())
	} else if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatal(err)
	}
	var lb *bus.Lease
	select {
	case lb = <-gotB:
	case <-time.After(10 * ttl):
		t.Fatal("b did not take the released lease")
	}
	t.Logf("b took over %v after a released", time.Since(released).Round(time.Millisecond))

	// b is killed (its connection drops; it neither renews nor releases):
	// c takes over once the TTL has passed, and only after b has counted
	// its lease as lost (b stops TTL/2 after its last renewal was sent, the
	// entry expires TTL after it was written): checked as an order, when c
	// gets the lease, b's Lost must already be closed. The bounds only
	// catch "never".
	gotC := acquireAsync(ctx, c, "c")
	killed := time.Now()
	b.Conn().Close()
	var lc *bus.Lease
	select {
	case lc = <-gotC:
	case <-time.After(15 * ttl):
		t.Fatal("c did not take over after the TTL")
	}
	cTook := time.Since(killed)
	select {
	case <-lb.Lost():
	default:
		t.Errorf("c took the lease %v after the kill while b still counted it as held: two holders overlapped", cTook)
	}
	t.Logf("c took over %v after the kill", cTook.Round(time.Millisecond))
	select {
	case <-lc.Lost():
		t.Error("c lost its lease at once")
	default:
	}
	if err := lc.Release(context.Background()); err != nil {
		t.Error(err)
	}
}
