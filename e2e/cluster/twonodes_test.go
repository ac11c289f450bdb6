package cluster_test

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/api/readmodel"
)

// Two of the three nodes go down at once under load (the ledger's among
// them), for longer than the ledger's writer lease lives without a
// renewal, so the R3 streams and buckets have no quorum: nothing can be
// journaled, granted or stored. Meanwhile an account a gateway holds a
// credit lease on is still answered within that lease, a request that
// needs a new lease (an account not asked for before) is refused with 503
// billing_unavailable, never served on credit nobody granted, and a Stripe
// webhook is answered 503. Once the nodes are back the ledger grants
// leases again, and accounts of small credit, spent down through both
// gateways until both answer 402, never spent more than they held (the
// hard cap); every answered request is journaled exactly once at its
// cost, the webhook's credit once, balance = journal = KV, reconcile
// passes and no service's Run returned.
func TestCluster_TwoNodesDownAtOnceNoAccountSpendsMoreThanItHolds(t *testing.T) {
	t0 := time.Now()
	since := func() time.Duration { return time.Since(t0).Round(100 * time.Millisecond) }
	s := newStack(t)
	s.declare()
	s.startServices()
	waitFor(t, "every service ready", 90*time.Second, func() bool { s.noneExited(); return s.allReady() })

	// Account 0 is rich: its leases outlast the outage. Accounts 1 to 3
	// hold 24 requests each and are spent down. Accounts 4 and 5 are
	// first asked for while the nodes are down.
	const rich, small, nAccounts = 0, 3, 6
	fresh := []int{4, 5}
	richStart, smallStart := 100*money.Dollar, 24*money.Micros(nickel)
	accs, keys := s.openAccounts(1, richStart)
	a, k := s.openAccounts(nAccounts-1, smallStart)
	accs, keys = append(accs, a...), append(keys, k...)
	start := map[string]money.Micros{}
	for i, acc := range accs {
		start[acc] = smallStart
		if i == rich {
			start[acc] = richStart
		}
	}
	t.Logf("%s: every service ready, %d accounts open", since(), nAccounts)

	// phase: 0 before the outage, 1 while both nodes are down, 2 after.
	// Before it a quarter of the load asks for the rich account only;
	// from it on all of it for every account, a fifth for the fresh ones.
	var phase atomic.Int32
	ans := newAnswers()
	var mu sync.Mutex
	inOutage := map[int]int{} // answers sent and received while both nodes were down, by status
	servedFresh := 0          // of which fresh accounts' 200s
	stop := load(20, func(i int) {
		g, acc := i%2, rich
		p := phase.Load()
		if p == 0 && i%4 != 0 {
			return // a quarter of the load: the rich account's lease lasts
		}
		if p > 0 {
			acc = (i / 2) % (small + 1)
			if i%5 == 0 {
				acc = fresh[(i/5)%2]
			}
		}
		code := s.ask(g, keys[acc], acc, true, ans)
		if p == 1 && phase.Load() == 1 {
			mu.Lock()
			inOutage[code]++
			if acc > small && code == http.StatusOK {
				servedFresh++
			}
			mu.Unlock()
		}
	})
	defer stop()
	// Each gateway holds a lease on the rich account and on each small
	// one (a few requests' worth).
	for acc := range small + 1 {
		for g := range s.gws {
			s.untilOK(g, keys[acc], acc, ans, time.Minute)
		}
	}
	time.Sleep(2 * time.Second)

	var ln int
	waitFor(t, "the ledger connected", time.Minute, func() bool { ln = s.nodeOf("ledger"); return ln >= 0 })
	down := []int{ln, (ln + 1) % s.c.Size()}
	s.c.Kill(down[0])
	s.c.Kill(down[1])
	phase.Store(1)
	t.Logf("%s: nodes %s (the ledger's) and %s killed", since(), s.c.NodeName(down[0]), s.c.NodeName(down[1]))

	// Within its lease the rich account is still answered, by each
	// gateway; an account with no lease is refused; a webhook too.
	for g := range s.gws {
		if code := s.ask(g, keys[rich], rich, false, ans); code != http.StatusOK {
			t.Errorf("gateway %d answers the leased account %d with two nodes down, want 200", g, code)
		}
		if code := s.ask(g, keys[fresh[g]], fresh[g], false, ans); code != http.StatusServiceUnavailable {
			t.Errorf("gateway %d answers an account it has no lease on %d with two nodes down, want 503", g, code)
		}
	}
	paid := checkout{eventID: "evt_twodown", sessionID: "cs_twodown", account: accs[rich], cents: 500}
	if code, err := s.postCheckout(paid); err != nil || code != http.StatusServiceUnavailable {
		t.Errorf("a Stripe webhook with two nodes down is answered %d (%v), want 503", code, err)
	}
	// Down until the ledger has lost its writer lease (it cannot renew
	// it without a quorum): it must take it again once the nodes are back.
	waitFor(t, "the ledger stops writing", time.Minute, func() bool { return !s.led.Writing() })
	t.Logf("%s: the ledger lost its writer lease (answers so far by status %v)", since(), ans.counts())
	time.Sleep(time.Second)
	phase.Store(2)
	s.c.Restart(t, down[0])
	s.c.Restart(t, down[1])
	t.Logf("%s: nodes restarted", since())
	for g := range s.gws {
		took, refused := s.untilOK(g, keys[fresh[g]], fresh[g], ans, 2*time.Minute)
		t.Logf("%s: gateway %d got a lease for account %d %s after the restart (%d refused first)",
			since(), g, fresh[g], took.Round(time.Millisecond), refused)
	}
	// Spend the small accounts down: each until both gateways refuse it
	// for want of credit.
	var drain sync.WaitGroup
	for acc := 1; acc <= small; acc++ {
		drain.Go(func() {
			refused := 0
			if !eventually(2*time.Minute, func() bool {
				switch s.ask(refused%2, keys[acc], acc, true, ans) {
				case http.StatusPaymentRequired:
					refused++
				case http.StatusServiceUnavailable:
					time.Sleep(100 * time.Millisecond)
					refused = 0
				default:
					refused = 0
				}
				return refused >= 2
			}) {
				t.Errorf("account %d: not refused by both gateways for want of credit within 2 minutes", acc)
			}
		})
	}
	drain.Wait()
	t.Logf("%s: the small accounts are spent", since())
	stop()
	s.noneExited()
	t.Logf("%s: load over: answers by status %v", since(), ans.counts())
	mu.Lock()
	t.Logf("answers of the load while both nodes were down, by status: %v", inOutage)
	mu.Unlock()
	if servedFresh > 0 {
		t.Errorf("%d requests of accounts with no lease were answered 200 while two nodes were down", servedFresh)
	}
	if err := s.deliverCheckout(paid, 2*time.Minute); err != nil {
		t.Error(err)
	}

	spent := ans.spent(accs)
	want := map[string]money.Micros{}
	for i, acc := range accs {
		if spent[acc] > start[acc] {
			t.Errorf("account %d spent %d, it held %d", i, spent[acc], start[acc])
		}
		want[acc] = start[acc] - spent[acc]
		if i == rich {
			want[acc] += money.Micros(paid.cents) * money.Cent
		}
	}
	for i := 1; i <= small; i++ {
		t.Logf("account %d: spent %d of %d", i, spent[accs[i]], start[accs[i]])
	}
	s.checkBooks(accs, ans, want)
	s.creditedOnce(accs, paid.eventID)
}

// creditedOnce checks that the Stripe event's credit is journaled exactly
// once.
func (s *stack) creditedOnce(accs []string, eventID string) {
	s.t.Helper()
	n := 0
	for _, e := range s.journal(accs) {
		if e.Kind == readmodel.JournalCredit && e.ID == eventID {
			n++
		}
	}
	if n != 1 {
		s.t.Errorf("Stripe credit %s journaled %d times, want once", eventID, n)
	}
}
