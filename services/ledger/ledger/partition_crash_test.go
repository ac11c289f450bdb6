package ledger_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/api/readmodel"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/services/ledger/ledger"
)

// mixedEvents is the crash test's mix: accounts opened (most), credits
// and usage, 5% out of order; dups are 10% of them sent again later
// without Nats-Msg-Id (so JetStream keeps the copy).
func mixedEvents(rng *rand.Rand, prefix string, nAccounts, nEvents int) (evs []events.Event, dups map[int]bool) {
	for i := range nAccounts {
		if rng.IntN(10) < 9 {
			evs = append(evs, opened(fmt.Sprintf("%s_%03d", prefix, i)))
		}
	}
	for i := range nEvents {
		acc := fmt.Sprintf("%s_%03d", prefix, rng.IntN(nAccounts))
		if rng.IntN(5) == 0 {
			evs = append(evs, credit(fmt.Sprintf("cs_%s_%05d", prefix, i), acc, money.Micros(1+rng.IntN(5_000_000))))
			continue
		}
		u := usage(fmt.Sprintf("req_%s_%05d", prefix, i), acc, money.Micros(rng.IntN(100_000)))
		u.Time = t0.Add(time.Duration(rng.IntN(12*60)) * time.Minute)
		if rng.IntN(2) == 0 {
			u.Replica = fmt.Sprintf("gw_%d", rng.IntN(3))
			u.Free = rng.IntN(8) == 0
		}
		evs = append(evs, u)
	}
	for range len(evs) / 20 {
		i, j := rng.IntN(len(evs)), rng.IntN(len(evs))
		evs[i], evs[j] = evs[j], evs[i]
	}
	dups = map[int]bool{}
	for range nEvents / 10 {
		dups[rng.IntN(len(evs))] = true
	}
	return evs, dups
}

// publishMixed publishes evs[lo:hi], each duplicate once more raw.
func (h *harness) publishMixed(evs []events.Event, dups map[int]bool, lo, hi int) {
	h.t.Helper()
	ctx := context.Background()
	for i := lo; i < hi; i++ {
		if _, err := h.bus.PublishAsync(ctx, evs[i]); err != nil {
			h.t.Fatal(err)
		}
		if dups[i] {
			msg := nats.NewMsg(subject(evs[i]))
			msg.Data = mustJSON(h.t, evs[i])
			if _, err := h.bus.JetStream().PublishMsgAsync(msg); err != nil {
				h.t.Fatal(err)
			}
		}
	}
	select {
	case <-h.bus.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
		h.t.Fatal("publishes not acked within 30s")
	}
}

func distinctEvents(evs []events.Event) map[string]events.Event {
	out := map[string]events.Event{}
	for _, ev := range evs {
		out[ev.EventID()] = ev
	}
	return out
}

// waitConverged waits until the journal holds want entries and every
// ledger consumer is drained.
func (h *harness) waitConverged(want int) {
	h.t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(90 * time.Second)
	for {
		n, err := h.st.Collection(readmodel.CollJournal).CountDocuments(ctx, bson.D{})
		if err == nil && n == int64(want) && h.idle() {
			return
		}
		if time.Now().After(deadline) {
			h.t.Errorf("not converged within 90s: journal %d (err %v) for %d events, idle %v", n, err, want, h.idle())
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Two partitions, each crashed at random fail points (independently of
// the other) and restarted, with events for both published between the
// rounds: afterwards the crash test's invariants hold for every account of
// each partition (each event in the journal once, balance = journal, KV,
// rollups, read models and reconcile agree), and both partitions had work.
// LEDGER_SEED replays a run.
func TestLedgerPartitions_TwoPartitionsCrashedAndRestartedEachApplyEveryEventOnce(t *testing.T) {
	rng, seed := seededRand(t)
	h := newHarness(t)
	h.partition(2, bus.DefaultTopology())

	nAccounts, nEvents, nRounds := 60, 4_000, 12
	if raceEnabled || testing.Short() {
		nAccounts, nEvents, nRounds = 20, 800, 6
	}
	evs, dups := mixedEvents(rng, "acc", nAccounts, nEvents)
	points := ledger.FailPoints()
	chunk := (len(evs) + nRounds - 1) / nRounds
	crashes := 0
	for round := range nRounds {
		h.publishMixed(evs, dups, round*chunk, min((round+1)*chunk, len(evs)))
		var crashed [2]atomic.Bool
		var runs [2]*running
		for p := range 2 {
			point, skip := points[rng.IntN(len(points))], int64(rng.IntN(2))
			var hits atomic.Int64
			runs[p] = h.start(partitionConfig(2, p), func(name string) error {
				if name == point && hits.Add(1) > skip && crashed[p].CompareAndSwap(false, true) {
					return errCrash
				}
				return nil
			})
		}
		waitFor(t, fmt.Sprintf("round %d: each partition crashed or idle", round), func() bool {
			return (crashed[0].Load() || h.partitionIdle(2, 0)) && (crashed[1].Load() || h.partitionIdle(2, 1))
		})
		for p := range 2 {
			if crashed[p].Load() {
				crashes++
			}
			runs[p].stop(t)
		}
	}
	t.Logf("seed %d: %d events, %d crashes by fail point in %d rounds of two partitions", seed, len(evs), crashes, nRounds)

	h.start(partitionConfig(2, 0), nil)
	h.start(partitionConfig(2, 1), nil)
	distinct := distinctEvents(evs)
	h.waitConverged(len(distinct))
	perPartition := [2]int{}
	for _, ev := range distinct {
		perPartition[events.PartitionOf(events.AccountOf(subject(ev)), 2)]++
	}
	if perPartition[0] == 0 || perPartition[1] == 0 {
		t.Fatalf("events per partition %v: both must have work", perPartition)
	}
	checkInvariants(t, h, distinct)
}

// Going from one partition to two with events in flight, by the README's
// procedure: declare two partitions while the single ledger runs, let it
// drain what was stored before, stop it, start the two. A two-partition
// writer started too early (the single one still running) waits. Nothing
// is lost or applied twice, and the first layout's consumers can then be
// deleted.
func TestLedgerPartitions_GoingFromOneToTwoPartitionsLosesNothing(t *testing.T) {
	h := newHarness(t)
	rng := rand.New(rand.NewPCG(1, 2))
	nAccounts, nEvents := 30, 3_000
	if raceEnabled || testing.Short() {
		nAccounts, nEvents = 20, 1_000
	}
	evs, dups := mixedEvents(rng, "acc_mv", nAccounts, nEvents)
	single := h.start(testConfig(), nil)

	// Events keep coming all through the change.
	var wg sync.WaitGroup
	var published atomic.Int64
	wg.Go(func() {
		const step = 50
		for lo := 0; lo < len(evs); lo += step {
			h.publishMixed(evs, dups, lo, min(lo+step, len(evs)))
			published.Store(int64(min(lo+step, len(evs))))
			time.Sleep(10 * time.Millisecond)
		}
	})
	waitFor(t, "a third published", func() bool { return published.Load() > int64(len(evs)/3) })
	h.partition(2, bus.DefaultTopology()) // busadmin declare with LEDGER_PARTITIONS=2

	var earlySteps atomic.Int64
	h.start(partitionConfig(2, 0), func(string) error { earlySteps.Add(1); return nil })
	waitFor(t, "the single ledger drains the first layout's consumers", func() bool { return h.partitionIdle(1, 0) })
	if n := earlySteps.Load(); n != 0 {
		t.Fatalf("a two-partition writer ran %d batch steps while the single ledger ran", n)
	}
	single.stop(t)
	h.start(partitionConfig(2, 1), nil)
	wg.Wait()

	distinct := distinctEvents(evs)
	h.waitConverged(len(distinct))
	checkInvariants(t, h, distinct)
	if _, err := h.bus.DeleteLedgerConsumers(context.Background(), 2); err != nil {
		t.Fatalf("the first layout's consumers are not drained: %v", err)
	}
}
