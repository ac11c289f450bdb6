package chainwatcher_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/core/types"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/onekey-oss/onekey/api/cryptopay"
	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
)

func TestChainwatcher_TransferFromLinkedWalletIsCreditedOnceAfterFinality(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	w.link("acc_alice", w.alice)
	// 2.5 USDC: 2_500_000 units of a 6-decimal token is $2.50. Code that
	// assumed 18 decimals would see a dust amount and refuse it.
	r := w.Mine(w.Call(w.alice, w.USDC, "transfer", w.deposit, usdc6(2_500_000)))
	id := w.claim("acc_alice", r.TxHash)

	w.poll()
	if c := w.claimDoc(id); c.Status != events.ClaimPending {
		t.Fatalf("claim %s before finality, want pending", c.Status)
	}
	if got := w.confirmed("acc_alice"); len(got) != 0 {
		t.Fatalf("credited before finality: %+v", got)
	}

	w.Finalize()
	w.poll()
	w.poll()
	if c := w.claimDoc(id); c.Status != events.ClaimConfirmed {
		t.Fatalf("claim %s (%s) after finality, want confirmed", c.Status, c.Reason)
	}
	// A pass that re-checks the claim (as after a crash before the status
	// was written) publishes the same id, which JetStream drops.
	if _, err := w.st.Collection(cryptopay.CollClaims).UpdateOne(context.Background(), bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: events.ClaimPending}}}}); err != nil {
		t.Fatal(err)
	}
	w.poll()
	got := w.confirmed("acc_alice")
	if len(got) != 1 {
		t.Fatalf("%d tx.confirmed, want 1: %+v", len(got), got)
	}
	ev := got[0]
	logIndex := r.Logs[0].Index
	want := events.TxConfirmedV1{
		V: 1, ID: events.ChainTxID(w.ChainID.Uint64(), r.TxHash.Hex(), logIndex), Time: ev.Time, AccountID: "acc_alice", ClaimID: id,
		Chain: chainName, TxHash: strings.ToLower(r.TxHash.Hex()), LogIndex: logIndex, Token: "USDC",
		From: strings.ToLower(w.alice.Addr.Hex()), To: strings.ToLower(w.deposit.Hex()),
		AmountMicros: 2_500_000, BlockNumber: r.BlockNumber.Uint64(), BlockHash: r.BlockHash.Hex(), ChainID: w.ChainID.Uint64(),
	}
	if ev != want {
		t.Errorf("tx.confirmed =\n %+v\nwant\n %+v", ev, want)
	}
	if ev.AmountMicros != money.Micros(2_500_000) {
		t.Errorf("amount %s, want $2.50", ev.AmountMicros)
	}
}

func TestChainwatcher_EachBadTransferIsRejectedWithItsReason(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	w.link("acc_alice", w.alice)
	w.link("acc_bob", w.bob)
	cases := []struct {
		name, account string
		tx            *types.Transaction
		reason        string
	}{
		// More than the balance: mined, and reverted by the contract.
		{"reverted", "acc_alice", w.Call(w.alice, w.USDC, "transfer", w.deposit, usdc6(5_000_000_000)), events.RejectReverted},
		{"wrong token contract", "acc_alice", w.Call(w.alice, w.other, "transfer", w.deposit, usdc6(1_000_000)), events.RejectWrongToken},
		{"wrong recipient", "acc_alice", w.Call(w.alice, w.USDC, "transfer", w.bob.Addr, usdc6(1_000_000)), events.RejectWrongRecipient},
		{"unlinked sender", "acc_alice", w.Call(w.mallory, w.USDC, "transfer", w.deposit, usdc6(1_000_000)), events.RejectWrongSender},
		{"sender linked to another account", "acc_bob", w.Call(w.alice, w.USDC, "transfer", w.deposit, usdc6(1_000_000)), events.RejectWrongSender},
		{"not a transfer", "acc_alice", w.Call(w.alice, w.USDC, "approve", w.deposit, usdc6(1)), events.RejectNoTransfer},
	}
	w.Sim.Commit()
	ids := make([]string, len(cases))
	for i, c := range cases {
		ids[i] = w.claim(c.account, c.tx.Hash())
	}
	w.Finalize()
	w.poll()
	for i, c := range cases {
		doc := w.claimDoc(ids[i])
		if doc.Status != events.ClaimRejected || doc.Reason != c.reason {
			t.Errorf("%s: claim %s (%s), want rejected (%s)", c.name, doc.Status, doc.Reason, c.reason)
		}
	}
	for _, acc := range []string{"acc_alice", "acc_bob"} {
		if got := w.confirmed(acc); len(got) != 0 {
			t.Errorf("%s credited: %+v", acc, got)
		}
	}
	rej := append(w.rejected("acc_alice"), w.rejected("acc_bob")...)
	if len(rej) != len(cases) {
		t.Errorf("%d tx.rejected, want %d (one each, for the notifier to mail)", len(rej), len(cases))
	}
}

func TestChainwatcher_SomeoneElseClaimingTheSameTxGetsNothingAndTheOwnerIsCreditedOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	w.link("acc_alice", w.alice)
	w.link("acc_mallory", w.mallory)
	r := w.Mine(w.Call(w.alice, w.USDC, "transfer", w.deposit, usdc6(7_000_000)))
	thief := w.claim("acc_mallory", r.TxHash)
	owner := w.claim("acc_alice", r.TxHash)
	w.Finalize()
	w.poll()
	if c := w.claimDoc(thief); c.Status != events.ClaimRejected || c.Reason != events.RejectWrongSender {
		t.Errorf("thief's claim %s (%s)", c.Status, c.Reason)
	}
	if c := w.claimDoc(owner); c.Status != events.ClaimConfirmed {
		t.Errorf("owner's claim %s (%s)", c.Status, c.Reason)
	}
	// Even if the wallet later moved to another account, the transfer
	// stays credited to the first one: once, to one account, ever.
	if _, err := w.st.Collection(cryptopay.CollWallets).DeleteOne(context.Background(), bson.D{{Key: "_id", Value: strings.ToLower(w.alice.Addr.Hex())}}); err != nil {
		t.Fatal(err)
	}
	w.link("acc_other", w.alice)
	again := w.claim("acc_other", r.TxHash)
	w.poll()
	if c := w.claimDoc(again); c.Status != events.ClaimRejected || c.Reason != events.RejectAlreadyCredited {
		t.Errorf("second account's claim %s (%s), want already_credited", c.Status, c.Reason)
	}
	if got := w.confirmed("acc_alice"); len(got) != 1 || got[0].AmountMicros != 7*money.Dollar {
		t.Errorf("owner credits = %+v", got)
	}
	if got := append(w.confirmed("acc_mallory"), w.confirmed("acc_other")...); len(got) != 0 {
		t.Errorf("others credited: %+v", got)
	}
}

func TestChainwatcher_ReorgBeforeFinalityCreditsOnlyTheCanonicalBlock(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	w.link("acc_alice", w.alice)
	parent, err := w.Client.HeaderByNumber(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := w.Mine(w.Call(w.alice, w.USDC, "transfer", w.deposit, usdc6(3_000_000)))
	id := w.claim("acc_alice", r.TxHash)
	w.poll()
	if c := w.claimDoc(id); c.Status != events.ClaimPending || c.SeenBlock != r.BlockHash.Hex() {
		t.Fatalf("claim %+v, want pending and seen in %s", c, r.BlockHash.Hex())
	}

	// Reorg: the block is replaced; the transaction comes back from the
	// pool into a new block with another hash.
	if err := w.Sim.Fork(parent.Hash()); err != nil {
		t.Fatal(err)
	}
	w.Sim.AdjustTime(time.Second) // a different timestamp gives the new block another hash
	w.Sim.Commit()
	var moved *types.Receipt
	deadline := time.Now().Add(30 * time.Second)
	for moved == nil || moved.BlockHash == r.BlockHash {
		if time.Now().After(deadline) {
			t.Fatal("transaction not re-mined after the fork")
		}
		w.Sim.Commit()
		moved, _ = w.Client.TransactionReceipt(context.Background(), r.TxHash)
	}
	w.poll()
	if c := w.claimDoc(id); c.Status != events.ClaimPending || c.SeenBlock != moved.BlockHash.Hex() {
		t.Fatalf("after the reorg claim %+v, want pending and seen in %s", c, moved.BlockHash.Hex())
	}
	w.Finalize()
	w.poll()
	got := w.confirmed("acc_alice")
	if len(got) != 1 || got[0].BlockHash != moved.BlockHash.Hex() || got[0].BlockHash == r.BlockHash.Hex() {
		t.Fatalf("tx.confirmed = %+v, want one in the canonical block %s", got, moved.BlockHash.Hex())
	}
}

func TestChainwatcher_TransferDroppedByAReorgIsRejectedAsRemoved(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	w.link("acc_alice", w.alice)
	parent, err := w.Client.HeaderByNumber(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	tx := w.Call(w.alice, w.USDC, "transfer", w.deposit, usdc6(4_000_000))
	w.Mine(tx)
	id := w.claim("acc_alice", tx.Hash())
	w.poll()
	if err := w.Sim.Fork(parent.Hash()); err != nil {
		t.Fatal(err)
	}
	// In the new branch the sender spends the same nonce elsewhere, at a
	// higher fee, so the claimed transaction can never be mined.
	usdc := w.USDC
	w.sendReplacement(tx.Nonce(), &usdc, w.Pack("transfer", w.bob.Addr, usdc6(4_000_000)))
	for range 3 {
		w.Sim.Commit()
	}
	if _, err := w.Client.TransactionReceipt(context.Background(), tx.Hash()); err == nil {
		t.Fatal("the claimed transaction survived the reorg")
	}
	w.Finalize()
	w.poll()
	if c := w.claimDoc(id); c.Status != events.ClaimPending {
		t.Fatalf("claim %s before the timeout, want pending (it may come back)", c.Status)
	}
	w.clock.Advance(2 * time.Hour)
	w.poll()
	if c := w.claimDoc(id); c.Status != events.ClaimRejected || c.Reason != events.RejectRemoved {
		t.Errorf("claim %s (%s), want rejected (removed)", c.Status, c.Reason)
	}
	if got := w.confirmed("acc_alice"); len(got) != 0 {
		t.Errorf("credited: %+v", got)
	}
}

func TestChainwatcher_SafeRuleBelowACapConfirmsWithoutWaitingForFinalized(t *testing.T) {
	t.Parallel()
	w := newWorld(t, func(c *cryptopay.Chain) { c.SafeBelow = 10 * money.Dollar })
	w.link("acc_alice", w.alice)
	small := w.Mine(w.Call(w.alice, w.USDC, "transfer", w.deposit, usdc6(5_000_000)))
	large := w.Mine(w.Call(w.alice, w.USDC, "transfer", w.deposit, usdc6(50_000_000)))
	smallID, largeID := w.claim("acc_alice", small.TxHash), w.claim("acc_alice", large.TxHash)
	w.Sim.Commit()
	w.poll()
	if c := w.claimDoc(smallID); c.Status != events.ClaimConfirmed {
		t.Errorf("$5 claim %s at the safe block, want confirmed", c.Status)
	}
	if c := w.claimDoc(largeID); c.Status != events.ClaimPending {
		t.Errorf("$50 claim %s before finalized, want pending", c.Status)
	}
	w.Finalize()
	w.poll()
	if c := w.claimDoc(largeID); c.Status != events.ClaimConfirmed {
		t.Errorf("$50 claim %s after finalized", c.Status)
	}
}
