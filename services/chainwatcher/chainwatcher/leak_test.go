package chainwatcher_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/onekey-oss/onekey/api/events"
)

// TestService_RunStopsWithoutLeakingGoroutines runs serially (parallel
// tests wait for it), so a goroutine left after Run returned is ours.
func TestService_RunStopsWithoutLeakingGoroutines(t *testing.T) {
	before := goleak.IgnoreCurrent()
	t.Run("run then stop", func(t *testing.T) {
		w := newWorld(t, nil)
		w.link("acc_alice", w.alice)
		r := w.Mine(w.Call(w.alice, w.USDC, "transfer", w.deposit, usdc6(1_000_000)))
		id := w.claim("acc_alice", r.TxHash)
		w.Finalize()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.svc.Run(ctx) }()
		deadline := time.Now().Add(30 * time.Second)
		for w.claimDoc(id).Status != events.ClaimConfirmed {
			if time.Now().After(deadline) {
				t.Fatal("claim not confirmed by Run within 30s")
			}
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
	goleak.VerifyNone(t, before,
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*Server).startGoRoutine.func1"),
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.(*ipQueue[...]).push"),
		// go-ethereum's process-wide sender cache, and a leveldb pool its
		// simulated backend (the test's chain, not chainwatcher) leaves.
		goleak.IgnoreTopFunction("github.com/ethereum/go-ethereum/core.(*txSenderCacher).cache"),
		goleak.IgnoreTopFunction("github.com/syndtr/goleveldb/leveldb.(*DB).mpoolDrain"),
	)
}
