package cluster_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/services/ledger/ledger"
)

// The node a service is connected to goes away (not a stream's leader as
// such: the node its own connection is on), first the ledger's, then a
// gateway's, under a light load. The ledger's goes while lease requests
// from both gateways wait in its queue (its writer held after a batch, the
// buckets it writes led elsewhere): once its connection has moved, its
// answers must reach the gateways (before the fix the new node refused
// them, a publish violation, and the gateways answered 503
// billing_unavailable). Each time, once the service's connection has
// moved, both gateways get credit leases again: a request for an account
// neither gateway has a lease on yet (so it needs the ledger's answer) is
// answered 200 again, not 503 for ever. Afterwards every answered request
// is journaled exactly once at its cost, balance = journal = KV, reconcile
// passes and no service's Run returned.
func TestCluster_TheLedgersNodeKilledLeasesAreGrantedAgainFromAnotherNode(t *testing.T) {
	t0 := time.Now()
	since := func() time.Duration { return time.Since(t0).Round(100 * time.Millisecond) }
	s := newStack(t)
	s.leaseTimeout = 15 * time.Second // longer than the ledger is held below
	s.declare()
	s.startServices()
	waitFor(t, "every service ready", 90*time.Second, func() bool { s.noneExited(); return s.allReady() })

	// Accounts 0 and 1 carry the load all along; the others are each
	// asked for once, on one gateway, after a node went away.
	const nAccounts = 8
	start := 100 * money.Dollar
	accs, keys := s.openAccounts(nAccounts, start)
	t.Logf("%s: every service ready, %d accounts open", since(), nAccounts)
	ans := newAnswers()
	stop := load(10, func(i int) { s.ask(i%2, keys[(i/2)%2], (i/2)%2, false, ans) })
	defer stop()
	for g := range s.gws {
		s.untilOK(g, keys[0], 0, ans, time.Minute)
	}

	fresh := 2
	for _, victim := range []string{"ledger", "gateway 0"} {
		var n int
		waitFor(t, victim+" connected", time.Minute, func() bool { n = s.nodeOf(victim); return n >= 0 })
		var with []string
		for name := range s.buses {
			if s.nodeOf(name) == n {
				with = append(with, name)
			}
		}
		var inFlight []chan int
		var release func()
		if victim == "ledger" {
			// What the ledger writes is led elsewhere, so the node's loss
			// is only its connection's move; its writer is held after a
			// batch, and a lease request for a new account from each
			// gateway reaches it (through node n) meanwhile. Once its
			// connection has moved, the batch ends and the writer answers
			// them: the answers must reach the gateways.
			for _, stream := range []string{"KV_" + events.BucketLeases, "KV_" + events.BucketBalances} {
				s.leadOn(stream, (n+1)%s.c.Size())
			}
			release = s.holdLedger()
			for g := range s.gws {
				code := make(chan int, 1)
				inFlight = append(inFlight, code)
				go func(acc int) { code <- s.ask(g, keys[acc], acc, false, ans) }(fresh)
				fresh++
			}
			time.Sleep(time.Second) // the requests reach the ledger's connection
		} else {
			// The harshest case: the node also leads what the gateway
			// writes and reads, so its loss means elections as well.
			for _, stream := range []string{"KV_" + events.BucketAPIKeys, "KV_" + events.BucketBalances, events.StreamUsage} {
				s.leadOn(stream, n)
			}
		}
		s.c.Kill(n)
		killed := time.Now()
		waitFor(t, victim+" reconnected to another node", time.Minute, func() bool {
			m := s.nodeOf(victim)
			return m >= 0 && m != n
		})
		t.Logf("%s: killed node %s (%v connected to it); %s reconnected to %s %s later", since(), s.c.NodeName(n), with,
			victim, s.c.NodeName(s.nodeOf(victim)), time.Since(killed).Round(time.Millisecond))
		if release != nil {
			release()
			for g, code := range inFlight {
				if c := <-code; c != http.StatusOK {
					t.Errorf("gateway %d: a lease request the ledger received before its connection moved was answered %d, want 200 (its answer did not arrive)", g, c)
				}
			}
		}
		for g := range s.gws {
			took, refused := s.untilOK(g, keys[fresh], fresh, ans, 2*time.Minute)
			t.Logf("%s: gateway %d got a lease for a new account %s after the %s's reconnection (%d refused first)",
				since(), g, took.Round(time.Millisecond), victim, refused)
			fresh++
		}
		s.c.Restart(t, n)
		s.waitReplicated()
		t.Logf("%s: node %s restarted and current", since(), s.c.NodeName(n))
	}
	stop()
	s.noneExited()
	t.Logf("%s: answers by status %v", since(), ans.counts())

	want := map[string]money.Micros{}
	spent := ans.spent(accs)
	for _, acc := range accs {
		want[acc] = start - spent[acc]
	}
	s.checkBooks(accs, ans, want)
}

// waitReplicated waits until every stream (KV buckets included) has a
// leader and all its replicas current: a node restarted has caught up, so
// the cluster can lose another one.
func (s *stack) waitReplicated() {
	s.t.Helper()
	waitFor(s.t, "every stream led and replicated on every node", 2*time.Minute, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		l := s.admin.JetStream().ListStreams(ctx)
		n := 0
		for info := range l.Info() {
			n++
			c := info.Cluster
			if c == nil || c.Leader == "" || len(c.Replicas) != s.c.Size()-1 {
				return false
			}
			for _, r := range c.Replicas {
				if !r.Current || r.Offline {
					return false
				}
			}
		}
		return l.Err() == nil && n > 0
	})
}

// holdLedger holds the ledger's writer after the next batch it writes
// (before it acks and answers) until release is called.
func (s *stack) holdLedger() (release func()) {
	held, done := make(chan struct{}), make(chan struct{})
	var once sync.Once
	at := func(point string) {
		if point == ledger.PointDone {
			once.Do(func() { close(held); <-done })
		}
	}
	s.ledgerAt.Store(&at)
	var released sync.Once
	release = func() { released.Do(func() { s.ledgerAt.Store(nil); close(done) }) }
	s.t.Cleanup(release) // a test that failed meanwhile does not leave it held
	select {
	case <-held:
	case <-time.After(time.Minute):
		s.t.Fatal("the ledger wrote no batch within a minute")
	}
	return release
}

// leadOn moves the leadership of stream to node (a stepdown naming it the
// preferred leader), waiting until it leads it.
func (s *stack) leadOn(stream string, node int) {
	s.t.Helper()
	req := fmt.Sprintf(`{"placement":{"preferred":%q}}`, s.c.NodeName(node))
	waitFor(s.t, fmt.Sprintf("node %s leads %s", s.c.NodeName(node), stream), time.Minute, func() bool {
		if s.c.Leader(s.t, s.admin, stream) == node {
			return true
		}
		_, _ = s.admin.Conn().Request("$JS.API.STREAM.LEADER.STEPDOWN."+stream, []byte(req), 5*time.Second)
		time.Sleep(500 * time.Millisecond)
		return s.c.Leader(s.t, s.admin, stream) == node
	})
}
