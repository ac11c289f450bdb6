package chainwatcher_test

import (
	"context"
	"math/big"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/api/cryptopay"
	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/services/chainwatcher/chainwatcher"
)

// switchingClient is the chain's real client whose eth_chainId answer the
// test can change: an RPC endpoint repointed (by a provider's mistake or
// an attacker) at another chain.
type switchingClient struct {
	chainwatcher.ChainClient
	id atomic.Pointer[big.Int]
}

func (c *switchingClient) ChainID(ctx context.Context) (*big.Int, error) {
	if id := c.id.Load(); id != nil {
		return id, nil
	}
	return c.ChainClient.ChainID(ctx)
}

// A chain whose endpoint answers another chain id than the one it was
// known by confirms nothing in that pass: its claims stay pending (and
// chainwatcher not ready) until the endpoint serves the chain again, and
// are then credited once. Before, the pass that noticed the change went
// on to check the claims against the cached id on the other chain.
func TestChainwatcher_AnEndpointServingAnotherChainConfirmsNothingUntilItServesTheChainAgain(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	rpc := &switchingClient{ChainClient: w.Client}
	svc, err := chainwatcher.New(chainwatcher.Config{Chains: []cryptopay.Chain{w.chain}, ClaimTimeout: time.Hour},
		chainwatcher.Deps{Bus: w.svcBus, Store: w.st, Clients: map[string]chainwatcher.ChainClient{chainName: rpc}, Now: w.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := svc.Poll(ctx); err != nil { // learns the chain id
		t.Fatal(err)
	}
	w.link("acc_alice", w.alice)
	r := w.Mine(w.Call(w.alice, w.USDC, "transfer", w.deposit, usdc6(3_000_000)))
	id := w.claim("acc_alice", r.TxHash)
	w.Finalize()

	rpc.id.Store(big.NewInt(424242))
	for range 2 {
		if err := svc.Poll(ctx); err == nil {
			t.Fatal("a pass on an endpoint serving another chain reported no error")
		}
	}
	if c := w.claimDoc(id); c.Status != events.ClaimPending {
		t.Fatalf("claim %s (%s) while the endpoint served another chain, want pending", c.Status, c.Reason)
	}
	if got := w.confirmed("acc_alice"); len(got) != 0 {
		t.Fatalf("credited while the endpoint served another chain: %+v", got)
	}

	rpc.id.Store(nil)
	if err := svc.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if c := w.claimDoc(id); c.Status != events.ClaimConfirmed {
		t.Fatalf("claim %s (%s) once the endpoint served the chain again, want confirmed", c.Status, c.Reason)
	}
	if got := w.confirmed("acc_alice"); len(got) != 1 || got[0].ChainID != w.ChainID.Uint64() {
		t.Fatalf("tx.confirmed = %+v, want one on chain %d", got, w.ChainID.Uint64())
	}
}
