package cluster_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/api/readmodel"
)

// Two gateways, the ledger, payments and the notifier started all at once
// on a fresh 3-node cluster, before the admin has declared anything, wait:
// none exits, none reports ready (and payments answers Stripe 5xx, so Stripe
// delivers again), and once the admin declares the topology with Replicas 3
// they all become ready and a request and a payment go all the way through.
// (The failure: two gateways started together on a fresh cluster
// both exited with "declare stream BILLING: context deadline exceeded".)
func TestCluster_ServicesStartedAllAtOnceBeforeTheTopologyWaitAndBecomeReady(t *testing.T) {
	s := newStack(t)
	s.startServices()

	// Long enough for the cluster to elect its meta leader and for every
	// service to try binding several times, with backoff.
	hold := time.Now().Add(8 * time.Second)
	early := checkout{eventID: "evt_early", sessionID: "cs_early", account: "acc_early", cents: 500}
	for time.Now().Before(hold) {
		s.noneExited()
		for name, ok := range s.ready() {
			if ok {
				t.Fatalf("%s reports ready before the topology is declared", name)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	code, err := s.postCheckout(early)
	if err != nil {
		t.Fatal(err)
	}
	if code < 500 {
		t.Fatalf("a Stripe webhook before the topology exists was answered %d, want 5xx (Stripe then delivers it again)", code)
	}

	declared := time.Now()
	s.declare()
	t.Logf("the admin declared the topology (R3) in %s", time.Since(declared).Round(time.Millisecond))
	waitFor(t, "every service ready after the declare", 90*time.Second, func() bool {
		s.noneExited()
		return s.allReady()
	})
	t.Logf("every service ready %s after the declare began", time.Since(declared).Round(time.Millisecond))

	// Ready means working: a request is billed and a payment credited.
	accs, keys := s.openAccounts(1, money.Dollar)
	acc, key := accs[0], keys[0]
	var ids []string
	for i := range 4 {
		code, id, err := s.chat(s.gws[i%2], key)
		if err != nil || code != http.StatusOK {
			t.Fatalf("request %d through gateway %d: %d %v", i, i%2, code, err)
		}
		ids = append(ids, id)
	}
	paid := checkout{eventID: "evt_after", sessionID: "cs_after", account: acc, cents: 500}
	if err := s.deliverCheckout(paid, time.Minute); err != nil {
		t.Fatal(err)
	}
	want := money.Dollar + 5*money.Dollar - 4*nickel
	waitFor(t, fmt.Sprintf("the balance at %s", want), time.Minute, func() bool {
		b, err := s.balanceKV(acc)
		return err == nil && b.BalanceMicros == want
	})
	got := map[string]bool{}
	for _, e := range s.journal([]string{acc}) {
		if e.Kind == readmodel.JournalUsage {
			got[e.ID] = true
		}
	}
	for _, id := range ids {
		if !got[id] {
			t.Errorf("request %s is not in the journal", id)
		}
	}
	s.noneExited()
	s.stopAll()
	s.reconcile()
}
