package cluster_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/api/readmodel"
)

// loadSize is the failover test's load: E2E_CLUSTER_RPS requests per
// second (default 300) for E2E_CLUSTER_DURATION (default 60s); under the
// race detector or -short, 40 per second for 15 seconds unless the
// variables say otherwise.
func loadSize(t *testing.T) (rps int, dur time.Duration) {
	t.Helper()
	rps, dur = 300, time.Minute
	if raceEnabled || testing.Short() {
		rps, dur = 40, 15*time.Second
	}
	if v := os.Getenv("E2E_CLUSTER_RPS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("E2E_CLUSTER_RPS=%q: want a positive number", v)
		}
		rps = n
	}
	if v := os.Getenv("E2E_CLUSTER_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 5*time.Second {
			t.Fatalf("E2E_CLUSTER_DURATION=%q: want a duration of at least 5s", v)
		}
		dur = d
	}
	return rps, dur
}

// answers is what the load got back.
type answers struct {
	mu       sync.Mutex
	began    time.Time
	answered map[string]int // request id → account index, for every 200
	status   map[int]int
	// bySecond counts the answers by second of the load and status, for
	// the log: the 503s show when the stack could not bill.
	bySecond map[int]map[int]int
}

func (a *answers) add(code int, id string, acc int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.status[code]++
	sec := int(time.Since(a.began) / time.Second)
	if a.bySecond[sec] == nil {
		a.bySecond[sec] = map[int]int{}
	}
	a.bySecond[sec][code]++
	if code == http.StatusOK {
		a.answered[id] = acc
	}
}

// Under steady load, the node leading the USAGE stream is killed, later
// restarted from its store, then the node leading BILLING (Stripe webhooks
// arriving at payments all along), then restarted too. Afterwards every
// answered request is in the journal exactly once at its cost and in the
// USAGE stream once, no other usage is, every Stripe credit is journaled
// once and mailed once, each balance equals its journal (and KV), reconcile
// passes, the gateways' outboxes are empty, and every service ran
// throughout: none's Run returned, all are ready.
func TestCluster_NodeFailuresUnderLoadLoseNothingAndApplyEverythingOnce(t *testing.T) {
	rps, dur := loadSize(t)
	t0 := time.Now()
	since := func() time.Duration { return time.Since(t0).Round(100 * time.Millisecond) }
	t.Logf("load: %d requests/s for %s (E2E_CLUSTER_RPS, E2E_CLUSTER_DURATION)", rps, dur)
	s := newStack(t)
	s.declare()
	s.startServices()
	waitFor(t, "every service ready", 90*time.Second, func() bool { s.noneExited(); return s.allReady() })
	t.Logf("%s: cluster declared, every service ready", since())

	const nAccounts = 10
	start := 1000 * money.Dollar
	accs, keys := s.openAccounts(nAccounts, start)

	t.Logf("%s: %d accounts open", since(), nAccounts)
	ans := &answers{began: time.Now(), answered: map[string]int{}, status: map[int]int{}, bySecond: map[int]map[int]int{}}
	var loadErrs atomic.Int64
	stopRequests := loadFrom(64, rps, func(i int) {
		acc := i % nAccounts
		code, id, err := s.chat(s.gws[i%len(s.gws)], keys[acc])
		if err != nil {
			if loadErrs.Add(1) <= 5 {
				t.Errorf("request %d: %v", i, err)
			}
			return
		}
		ans.add(code, id, acc)
	})
	defer stopRequests()
	ctx, stopPayments := context.WithCancel(context.Background())
	defer stopPayments()
	var workers sync.WaitGroup

	// Stripe: a paid session every 500 ms for a random account, delivered
	// until answered 2xx, one in four delivered a second time after that.
	var pays sync.WaitGroup
	var payMu sync.Mutex
	var paid []checkout
	var payErrs []error
	workers.Go(func() {
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			c := checkout{eventID: fmt.Sprintf("evt_%04d", i), sessionID: fmt.Sprintf("cs_%04d", i), account: accs[rand.IntN(nAccounts)], cents: 500}
			pays.Go(func() {
				err := s.deliverCheckout(c, 3*time.Minute)
				if err == nil && rand.IntN(4) == 0 {
					err = s.deliverCheckout(c, 3*time.Minute)
				}
				payMu.Lock()
				defer payMu.Unlock()
				if err != nil {
					payErrs = append(payErrs, err)
					return
				}
				paid = append(paid, c)
			})
		}
	})

	phase := dur / 5
	began := time.Now()
	time.Sleep(phase)
	s.failover(events.StreamUsage, phase)
	time.Sleep(phase / 2)
	s.failover(events.StreamBilling, phase)
	if rest := dur - time.Since(began); rest > 0 {
		time.Sleep(rest)
	}
	stopRequests()
	stopPayments()
	workers.Wait()
	pays.Wait()
	s.noneExited()
	t.Logf("%s: load over: answers by status %v, %d Stripe sessions paid", since(), ans.status, len(paid))
	for sec := range int(dur/time.Second) + 1 {
		t.Logf("second %3d: %v", sec, ans.bySecond[sec])
	}
	for _, err := range payErrs {
		t.Error(err)
	}
	// Every gateway admits requests again (each can get a credit lease):
	// on this shared machine the stack answers a part of the load with 503
	// while a node is down and while the ledger works off its backlog, so
	// the test asks for recovery, not for a rate.
	for i, gw := range s.gws {
		waitFor(t, fmt.Sprintf("gateway %d answers again", i), 2*time.Minute, func() bool {
			code, id, err := s.chat(gw, keys[i])
			if err != nil {
				t.Fatalf("gateway %d: %v", i, err)
			}
			ans.add(code, id, i)
			return code == http.StatusOK
		})
	}

	// Everything answered and paid reaches the ledger.
	// (Not fatal when it does not come: the checks below name what is
	// missing.)
	if !eventually(2*time.Minute, func() bool {
		n, err := s.st.Collection(readmodel.CollJournal).CountDocuments(context.Background(),
			bson.D{{Key: "account_id", Value: bson.D{{Key: "$in", Value: accs}}}, {Key: "kind", Value: readmodel.JournalUsage}})
		return err == nil && n >= int64(len(ans.answered))
	}) {
		t.Errorf("the journal does not hold every answered request after 2 minutes")
	}
	want := map[string]money.Micros{}
	for _, acc := range accs {
		want[acc] = start
	}
	for _, a := range ans.answered {
		want[accs[a]] -= nickel
	}
	for _, c := range paid {
		want[c.account] += money.Micros(c.cents) * money.Cent
	}
	for _, acc := range accs {
		if !eventually(time.Minute, func() bool {
			b, err := s.balanceKV(acc)
			return err == nil && b.BalanceMicros == want[acc]
		}) {
			b, err := s.balanceKV(acc)
			t.Errorf("account %s's balance in KV is %d (%v), want %d", acc, b.BalanceMicros, err, want[acc])
		}
	}

	t.Logf("%s: the ledger has applied everything", since())

	// Each usage exactly once, at its cost; each credit once.
	usage, credits := map[string]int{}, map[string]int{}
	for _, e := range s.journal(accs) {
		switch e.Kind {
		case readmodel.JournalUsage:
			usage[e.ID]++
			if e.AmountMicros != -nickel {
				t.Errorf("usage %s journaled at %d, want %d", e.ID, e.AmountMicros, -nickel)
			}
			if a, ok := ans.answered[e.ID]; !ok {
				t.Errorf("usage %s is journaled but no request was answered with it", e.ID)
			} else if accs[a] != e.AccountID {
				t.Errorf("usage %s journaled on %s, its request was %s's", e.ID, e.AccountID, accs[a])
			}
		case readmodel.JournalCredit:
			if e.CreditKind == events.CreditPurchase {
				credits[e.ID]++
			}
		}
	}
	missing := 0
	for id := range ans.answered {
		if usage[id] != 1 && missing < 10 {
			t.Errorf("answered request %s journaled %d times, want once", id, usage[id])
			missing++
		}
	}
	for _, c := range paid {
		if credits[c.eventID] != 1 {
			t.Errorf("Stripe credit %s journaled %d times, want once", c.eventID, credits[c.eventID])
		}
	}
	if len(credits) != len(paid) {
		t.Errorf("%d purchases journaled, %d paid", len(credits), len(paid))
	}

	// The USAGE stream holds each answered request's event once: a publish
	// retried through an election carried the same Nats-Msg-Id (the
	// journal, keyed by event id, would hide a second copy).
	perAccount := map[string]int{}
	for _, a := range ans.answered {
		perAccount[events.FamilyUsageRecorded+"."+accs[a]]++
	}
	stored := s.storedPerSubject(events.StreamUsage, events.FamilyUsageRecorded+".>")
	for _, acc := range accs {
		subj := events.FamilyUsageRecorded + "." + acc
		if stored[subj] != uint64(perAccount[subj]) {
			t.Errorf("USAGE holds %d usage events of %s, %d of its requests were answered", stored[subj], acc, perAccount[subj])
		}
	}

	// Each Stripe credit mailed once (its receipt's Idempotency-Key is the
	// credit.applied id).
	waitFor(t, "a receipt for every Stripe credit", time.Minute, func() bool {
		keys := map[string]bool{}
		for _, m := range s.rs.Mails() {
			keys[m.IdempotencyKey] = true
		}
		for _, c := range paid {
			if !keys["applied:"+c.eventID] {
				return false
			}
		}
		return true
	})

	for i, gw := range s.gws {
		waitFor(t, fmt.Sprintf("gateway %d's outbox empty", i), time.Minute, func() bool { return gw.OutboxSpilled() == 0 })
	}
	waitFor(t, "every service ready at the end", time.Minute, func() bool { s.noneExited(); return s.allReady() })

	// Stopped cleanly (each Run returns nil), the ledger's books balance.
	s.stopAll()
	for _, acc := range accs {
		if got := s.account(acc).BalanceMicros; money.Micros(got) != want[acc] {
			t.Errorf("account %s: balance %d, want %d (start + credits - answered requests)", acc, got, want[acc])
		}
	}
	s.reconcile()
}

// failover kills the node leading stream, waits until another node leads
// it, lets the load run for hold, and restarts the node from its store.
func (s *stack) failover(stream string, hold time.Duration) {
	s.t.Helper()
	old := s.c.Leader(s.t, s.admin, stream)
	killed := time.Now()
	s.c.Kill(old)
	waitFor(s.t, fmt.Sprintf("a new leader of %s", stream), time.Minute, func() bool {
		return s.c.Leader(s.t, s.admin, stream) != old
	})
	s.t.Logf("killed node %s, leader of %s; %s leads it %s later", s.c.NodeName(old), stream,
		s.c.NodeName(s.c.Leader(s.t, s.admin, stream)), time.Since(killed).Round(time.Millisecond))
	time.Sleep(hold)
	s.c.Restart(s.t, old)
	s.t.Logf("restarted node %s from its store", s.c.NodeName(old))
}

// storedPerSubject counts the messages stream holds on each subject that
// filter matches, retrying while the cluster cannot answer (a node just
// restarted).
func (s *stack) storedPerSubject(stream, filter string) map[string]uint64 {
	s.t.Helper()
	var out map[string]uint64
	waitFor(s.t, "the stream's state", time.Minute, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		st, err := s.admin.JetStream().Stream(ctx, stream)
		if err != nil {
			return false
		}
		info, err := st.Info(ctx, jetstream.WithSubjectFilter(filter))
		if err != nil {
			return false
		}
		out = info.State.Subjects
		return true
	})
	return out
}
