package chainwatcher_test

import (
	"context"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/onekey-oss/onekey/api/cryptopay"
	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/services/chainwatcher/chainwatcher"
)

func TestChainwatcher_EighteenDecimalTransferWithDustIsCreditedRoundedDown(t *testing.T) {
	t.Parallel()
	// The same contract, configured as an 18-decimal stablecoin (USDT on
	// BSC-style chains): 1.0000005 of it is 1_000_000_500_000_000_000 units.
	w := newWorld(t, func(c *cryptopay.Chain) { c.Tokens[0].Decimals = 18 })
	w.link("acc_alice", w.alice)
	units, _ := new(big.Int).SetString("1000000500000000000", 10)
	w.Mine(w.Call(w.alice, w.USDC, "mint", w.alice.Addr, units))
	r := w.Mine(w.Call(w.alice, w.USDC, "transfer", w.deposit, units))
	id := w.claim("acc_alice", r.TxHash)
	w.Finalize()
	w.poll()
	if c := w.claimDoc(id); c.Status != events.ClaimConfirmed {
		t.Fatalf("claim %s (%s), want confirmed", c.Status, c.Reason)
	}
	got := w.confirmed("acc_alice")
	if len(got) != 1 || got[0].AmountMicros != 1_000_000 {
		t.Errorf("tx.confirmed = %+v, want one of 1,000,000 micro-USD (the dust below a micro dropped)", got)
	}
}

func TestChainwatcher_CreditIdIsTheChainIdSoRenamingTheChainCreditsNothingAgain(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	w.link("acc_alice", w.alice)
	r := w.Mine(w.Call(w.alice, w.USDC, "transfer", w.deposit, usdc6(6_000_000)))
	w.claim("acc_alice", r.TxHash)
	w.Finalize()
	w.poll()
	wantID := "eip155:" + w.ChainID.String() + ":" + strings.ToLower(r.TxHash.Hex()) + ":" + big.NewInt(int64(r.Logs[0].Index)).String()
	if got := w.confirmed("acc_alice"); len(got) != 1 || got[0].ID != wantID || got[0].ChainID != w.ChainID.Uint64() {
		t.Fatalf("tx.confirmed = %+v, want one with id %s", got, wantID)
	}

	// The operator renames the chain (base → base-mainnet): the same
	// transfer, claimed under the new name by another account, is already
	// credited; claimed by the owner, it is published under the same id.
	renamed := w.chain
	renamed.Name = "base-mainnet"
	svc, err := chainwatcher.New(chainwatcher.Config{Chains: []cryptopay.Chain{renamed}, ClaimTimeout: time.Hour},
		chainwatcher.Deps{Bus: w.svcBus, Store: w.st, Clients: map[string]chainwatcher.ChainClient{renamed.Name: w.Client}, Now: w.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.st.Collection(cryptopay.CollWallets).DeleteOne(context.Background(), bson.D{{Key: "_id", Value: strings.ToLower(w.alice.Addr.Hex())}}); err != nil {
		t.Fatal(err)
	}
	w.link("acc_other", w.alice)
	other := claimOn(t, w, renamed.Name, "acc_other", r.TxHash)
	if err := svc.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c := w.claimDoc(other); c.Status != events.ClaimRejected || c.Reason != events.RejectAlreadyCredited {
		t.Errorf("claim under the new name by another account: %s (%s), want already_credited", c.Status, c.Reason)
	}
	if got := w.confirmed("acc_other"); len(got) != 0 {
		t.Errorf("credited again under the new name: %+v", got)
	}
}

func TestChainwatcher_TransferCreditedUnderTheOldNameIdIsNeverCreditedAgain(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	w.link("acc_alice", w.alice)
	w.link("acc_bob", w.bob)
	r := w.Mine(w.Call(w.alice, w.USDC, "transfer", w.deposit, usdc6(3_000_000)))
	tx := strings.ToLower(r.TxHash.Hex())
	// Credited by an older chainwatcher, under chain:tx:log; its claim
	// left pending (it stopped before writing the status).
	oldID := events.TxID(chainName, tx, r.Logs[0].Index)
	if _, err := w.st.Collection(cryptopay.CollCredits).InsertOne(context.Background(), cryptopay.Credit{
		ID: oldID, AccountID: "acc_alice", ClaimID: cryptopay.ClaimID(chainName, tx, "acc_alice"), Chain: chainName, TxHash: tx,
		LogIndex: r.Logs[0].Index, Token: "USDC", From: strings.ToLower(w.alice.Addr.Hex()), AmountMicros: 3_000_000, CreatedAt: time.Now(),
	}); err != nil {
		t.Fatal(err)
	}
	own := w.claim("acc_alice", r.TxHash)
	w.Finalize()
	w.poll()
	if c := w.claimDoc(own); c.Status != events.ClaimConfirmed {
		t.Errorf("owner's claim %s (%s)", c.Status, c.Reason)
	}
	for _, ev := range w.confirmed("acc_alice") {
		if ev.ID != oldID {
			t.Errorf("published under %s, want only the id it was credited under (%s)", ev.ID, oldID)
		}
	}
	n, err := w.st.Collection(cryptopay.CollCredits).CountDocuments(context.Background(), bson.D{})
	if err != nil || n != 1 {
		t.Errorf("%d credits (%v), want the old one only", n, err)
	}
}

// claimOn records a claim on a chain by name, as payments does.
func claimOn(t *testing.T, w *world, chain, account string, tx common.Hash) string {
	t.Helper()
	now := w.clock.Now()
	c := cryptopay.Claim{ID: cryptopay.ClaimID(chain, tx.Hex(), account), AccountID: account, Chain: chain, TxHash: strings.ToLower(tx.Hex()), Status: events.ClaimPending, CreatedAt: now, UpdatedAt: now}
	if _, err := w.st.Collection(cryptopay.CollClaims).InsertOne(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	return c.ID
}

// slowRPC stands in for a JSON-RPC endpoint that is slow to say it does
// not know a transaction: lookups of the hashes in hang wait until the
// caller gives up, or, once the hash releaseOn has been looked up, say
// not found. It counts lookups per hash, and how many lookups of hanging
// hashes had started when releaseOn was first looked up.
type slowRPC struct {
	chainwatcher.ChainClient
	hang      map[common.Hash]bool
	releaseOn common.Hash
	release   chan struct{}
	mu        sync.Mutex
	calls     map[common.Hash]int
	hung      int // lookups of hanging hashes started
	hungFirst int // hung when releaseOn was first looked up; -1 before
}

func (s *slowRPC) TransactionReceipt(ctx context.Context, h common.Hash) (*types.Receipt, error) {
	s.mu.Lock()
	s.calls[h]++
	if s.hang[h] {
		s.hung++
	}
	if h == s.releaseOn && s.release != nil && s.hungFirst < 0 {
		s.hungFirst = s.hung
		close(s.release)
	}
	s.mu.Unlock()
	if s.hang[h] {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.release:
			return nil, ethereum.NotFound
		}
	}
	return s.ChainClient.TransactionReceipt(ctx, h)
}

func (s *slowRPC) callsOf(h common.Hash) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[h]
}

func fakeHash(i int) common.Hash { return common.BigToHash(big.NewInt(int64(0xfa4e0000 + i))) }

// Asserted as an order, not a clock: the real claim, made after thirty
// fake ones whose lookups hang, is confirmed by the first pass that sees
// it (one poll interval), and its lookup starts in the pass's first
// round, before the fake claims fill more than the other slots. Checked
// in the order of the claims' creation, the real claim would wait behind
// rounds of hanging lookups: the fakes would be released only by their
// RPC timeout, and the assertion on the order fails whatever the
// machine's speed.
func TestChainwatcher_ABurstOfFakeClaimsDoesNotDelayARealOneBeyondAPollInterval(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	w.link("acc_alice", w.alice)
	r := w.Mine(w.Call(w.alice, w.USDC, "transfer", w.deposit, usdc6(9_000_000)))
	w.Finalize()
	rpc := &slowRPC{ChainClient: w.Client, hang: map[common.Hash]bool{}, calls: map[common.Hash]int{},
		releaseOn: r.TxHash, release: make(chan struct{}), hungFirst: -1}
	// Three attackers with ten made-up claims each (payments' cap), made
	// just before the real one.
	for a := range 3 {
		acc := "acc_attacker" + string(rune('a'+a))
		for i := range 10 {
			h := fakeHash(a*10 + i)
			rpc.hang[h] = true
			claimOn(t, w, chainName, acc, h)
		}
	}
	claimOn(t, w, chainName, "acc_alice", r.TxHash)
	const concurrency = 8
	svc, err := chainwatcher.New(chainwatcher.Config{Chains: []cryptopay.Chain{w.chain}, ClaimTimeout: time.Hour, PollInterval: time.Second,
		RPCTimeout: 5 * time.Second, Concurrency: concurrency},
		chainwatcher.Deps{Bus: w.svcBus, Store: w.st, Clients: map[string]chainwatcher.ChainClient{chainName: rpc}})
	if err != nil {
		t.Fatal(err)
	}
	_ = svc.Poll(context.Background()) // the fakes' lookups may fail; the pass goes on
	if got := len(w.confirmed("acc_alice")); got != 1 {
		t.Fatalf("real claim confirmed %d times by the first pass after it was made, want 1", got)
	}
	rpc.mu.Lock()
	defer rpc.mu.Unlock()
	if rpc.hungFirst < 0 || rpc.hungFirst >= concurrency {
		t.Errorf("the real claim was looked up after %d hanging lookups of fake claims had started, want fewer than the %d slots", rpc.hungFirst, concurrency)
	}
}

func TestChainwatcher_ClaimWhoseTransactionIsNotFoundIsLookedUpLessOftenThanEveryPass(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	rpc := &slowRPC{ChainClient: w.Client, hang: map[common.Hash]bool{}, calls: map[common.Hash]int{}}
	svc, err := chainwatcher.New(chainwatcher.Config{Chains: []cryptopay.Chain{w.chain}, ClaimTimeout: time.Hour, PollInterval: time.Second, NotFoundBackoffMax: time.Minute},
		chainwatcher.Deps{Bus: w.svcBus, Store: w.st, Clients: map[string]chainwatcher.ChainClient{chainName: rpc}, Now: w.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	fake := fakeHash(1)
	id := claimOn(t, w, chainName, "acc_alice", fake)
	for range 6 {
		if err := svc.Poll(context.Background()); err != nil {
			t.Fatal(err)
		}
		w.clock.Advance(time.Second) // one poll interval
	}
	// Misses wait 2, 4, 8... intervals: looked up at 0 and 2 s, next at 6 s.
	if n := rpc.callsOf(fake); n != 2 {
		t.Errorf("looked up %d times in 6 passes, want 2 (backing off)", n)
	}
	w.clock.Advance(time.Minute)
	if err := svc.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := rpc.callsOf(fake); n != 3 {
		t.Errorf("looked up %d times after the longest wait, want 3", n)
	}
	if c := w.claimDoc(id); c.Status != events.ClaimPending {
		t.Errorf("claim %s before its timeout, want pending", c.Status)
	}
	w.clock.Advance(2 * time.Hour)
	if err := svc.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c := w.claimDoc(id); c.Status != events.ClaimRejected || c.Reason != events.RejectTimeout {
		t.Errorf("claim %s (%s) after its timeout, want rejected (timeout), whatever the backoff", c.Status, c.Reason)
	}
}
