package payments_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/onekey-oss/onekey/api/cryptopay"
	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/services/payments/payments"
)

func withChains(c *payments.Config) {
	c.Chains = []cryptopay.Chain{{Name: "base", DepositAddress: "0x00000000000000000000000000000000000000aa", Finality: cryptopay.Finalized,
		Tokens: []cryptopay.Token{{Symbol: "USDC", Contract: "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913", Decimals: 6}}}}
}

// personalSign signs msg as a wallet's personal_sign does (v = 27/28).
func personalSign(t *testing.T, msg string) (addr, sig string, sign func(string) string) {
	t.Helper()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	sign = func(m string) string {
		s, err := crypto.Sign(accounts.TextHash([]byte(m)), key)
		if err != nil {
			t.Fatal(err)
		}
		s[64] += 27
		return hexutil.Encode(s)
	}
	return crypto.PubkeyToAddress(key.PublicKey).Hex(), sign(msg), sign
}

func link(t *testing.T, h *harness, account string) (string, func(string) string) {
	t.Helper()
	addr, _, sign := personalSign(t, "")
	n := request[events.WalletNonceReplyV1](t, h, events.SubjectWalletNonce, events.WalletNonceRequestV1{V: 1, AccountID: account, Address: addr})
	if n.Code != "" {
		t.Fatalf("nonce: %+v", n)
	}
	rep := request[events.WalletLinkReplyV1](t, h, events.SubjectWalletLink, events.WalletLinkRequestV1{V: 1, AccountID: account, Address: addr, Nonce: n.Nonce, Signature: sign(n.Message)})
	if rep.Code != "" || rep.Address != strings.ToLower(addr) {
		t.Fatalf("link: %+v", rep)
	}
	return addr, sign
}

func TestWallet_LinkedOnlyWithThatWalletsPersonalSignOfAFreshNonce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withChains)
	addr, _, sign := personalSign(t, "")
	nonce := func(acc string) events.WalletNonceReplyV1 {
		return request[events.WalletNonceReplyV1](t, h, events.SubjectWalletNonce, events.WalletNonceRequestV1{V: 1, AccountID: acc, Address: addr})
	}
	linkReq := func(acc, nonce, sig string) events.WalletLinkReplyV1 {
		return request[events.WalletLinkReplyV1](t, h, events.SubjectWalletLink, events.WalletLinkRequestV1{V: 1, AccountID: acc, Address: addr, Nonce: nonce, Signature: sig})
	}
	n := nonce("acc_a")
	if !strings.Contains(n.Message, "acc_a") || !strings.Contains(n.Message, strings.ToLower(addr)) || !strings.Contains(n.Message, n.Nonce) {
		t.Fatalf("message does not name account, wallet and nonce: %q", n.Message)
	}
	_, otherSig, _ := personalSign(t, n.Message)
	if rep := linkReq("acc_a", n.Nonce, otherSig); rep.Code != events.CodeBadSignature {
		t.Errorf("another wallet's signature: %+v", rep)
	}
	if rep := linkReq("acc_a", n.Nonce, sign(n.Message+"x")); rep.Code != events.CodeBadSignature {
		t.Errorf("signature of another message: %+v", rep)
	}
	if rep := linkReq("acc_b", n.Nonce, sign(n.Message)); rep.Code != events.CodeNonceInvalid {
		t.Errorf("nonce of another account: %+v", rep)
	}
	if rep := linkReq("acc_a", n.Nonce, sign(n.Message)); rep.Code != "" || rep.Address != strings.ToLower(addr) {
		t.Fatalf("valid link: %+v", rep)
	}
	if rep := linkReq("acc_a", n.Nonce, sign(n.Message)); rep.Code != events.CodeNonceInvalid {
		t.Errorf("nonce used twice: %+v", rep)
	}
	n2 := nonce("acc_b")
	if rep := linkReq("acc_b", n2.Nonce, sign(n2.Message)); rep.Code != events.CodeWalletTaken {
		t.Errorf("wallet linked to a second account: %+v", rep)
	}
	var w cryptopay.Wallet
	if err := h.st.Collection(cryptopay.CollWallets).FindOne(context.Background(), bson.D{{Key: "_id", Value: strings.ToLower(addr)}}).Decode(&w); err != nil || w.AccountID != "acc_a" {
		t.Errorf("wallet = %+v, %v", w, err)
	}
}

func TestWallet_ExpiredNonceIsRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *payments.Config) { withChains(c); c.NonceTTL = time.Second })
	addr, _, sign := personalSign(t, "")
	n := request[events.WalletNonceReplyV1](t, h, events.SubjectWalletNonce, events.WalletNonceRequestV1{V: 1, AccountID: "acc_a", Address: addr})
	waitFor(t, "nonce expired", func() bool { return time.Now().After(n.ExpiresAt) })
	rep := request[events.WalletLinkReplyV1](t, h, events.SubjectWalletLink, events.WalletLinkRequestV1{V: 1, AccountID: "acc_a", Address: addr, Nonce: n.Nonce, Signature: sign(n.Message)})
	if rep.Code != events.CodeNonceInvalid {
		t.Errorf("expired nonce: %+v", rep)
	}
}

func TestClaim_RecordedOncePerAccountAndRefusedToAnotherAccount(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withChains)
	tx := "0x" + strings.Repeat("ab", 32)
	claim := func(acc, chain, hash string) events.CryptoClaimReplyV1 {
		return request[events.CryptoClaimReplyV1](t, h, events.SubjectCryptoClaim, events.CryptoClaimRequestV1{V: 1, AccountID: acc, Chain: chain, TxHash: hash})
	}
	if rep := claim("acc_a", "base", tx); rep.Code != events.CodeNoWallet {
		t.Errorf("without a linked wallet: %+v", rep)
	}
	link(t, h, "acc_a")
	link(t, h, "acc_b")
	if rep := claim("acc_a", "polygon", tx); rep.Code != events.CodeUnsupported {
		t.Errorf("unconfigured chain: %+v", rep)
	}
	if rep := claim("acc_a", "base", "0x12"); rep.Code != events.CodeBadRequest {
		t.Errorf("bad hash: %+v", rep)
	}
	first := claim("acc_a", "base", strings.ToUpper(tx[:2])+strings.ToUpper(tx[2:]))
	if first.Code != "" || first.Status != events.ClaimPending {
		t.Fatalf("claim: %+v", first)
	}
	if again := claim("acc_a", "base", tx); again.ClaimID != first.ClaimID || again.Status != events.ClaimPending {
		t.Errorf("same claim again: %+v", again)
	}
	if other := claim("acc_b", "base", tx); other.Code != events.CodeAlreadyClaimed {
		t.Errorf("another account: %+v", other)
	}
	info := request[events.CryptoInfoReplyV1](t, h, events.SubjectCryptoInfo, events.CryptoInfoRequestV1{V: 1})
	if len(info.Chains) != 1 || info.Chains[0].Chain != "base" || info.Chains[0].Tokens[0] != "USDC" {
		t.Errorf("info = %+v", info)
	}

	// chainwatcher rejects it; the payments-tx consumer closes the claim.
	ctx := context.Background()
	if _, err := h.bus.Publish(ctx, events.TxRejectedV1{V: 1, ID: cryptopay.RejectionID(first.ClaimID, 0), Time: time.Now(), AccountID: "acc_a", ClaimID: first.ClaimID, Chain: "base", TxHash: tx, Reason: events.RejectWrongSender}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "claim closed by tx.rejected", func() bool {
		var c cryptopay.Claim
		err := h.st.Collection(cryptopay.CollClaims).FindOne(ctx, bson.D{{Key: "_id", Value: first.ClaimID}}).Decode(&c)
		return err == nil && c.Status == events.ClaimRejected && c.Reason == events.RejectWrongSender
	})
	// Claiming again reopens it as a new attempt (a wallet may have been
	// linked since); the old rejection, redelivered, does not close it.
	reopened := claim("acc_a", "base", tx)
	if reopened.Status != events.ClaimPending || reopened.ClaimID != first.ClaimID {
		t.Fatalf("reopened: %+v", reopened)
	}
	var c cryptopay.Claim
	if err := h.st.Collection(cryptopay.CollClaims).FindOne(ctx, bson.D{{Key: "_id", Value: first.ClaimID}}).Decode(&c); err != nil || c.Attempt != 1 || c.Status != events.ClaimPending {
		t.Errorf("claim after reopen = %+v, %v", c, err)
	}
	st := request[events.CryptoStatusReplyV1](t, h, events.SubjectCryptoStatus, events.CryptoStatusRequestV1{V: 1, AccountID: "acc_a"})
	if st.Code != "" || len(st.Wallets) != 1 || len(st.Claims) != 1 || st.Claims[0].ClaimID != first.ClaimID || st.Claims[0].Status != events.ClaimPending || st.Claims[0].TxHash != tx {
		t.Errorf("status = %+v", st)
	}
	if other := request[events.CryptoStatusReplyV1](t, h, events.SubjectCryptoStatus, events.CryptoStatusRequestV1{V: 1, AccountID: "acc_b"}); len(other.Claims) != 0 || len(other.Wallets) != 1 {
		t.Errorf("another account sees %+v", other)
	}
}

func TestClaim_EleventhPendingClaimOfAnAccountIsRefusedWithAClearError(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withChains)
	link(t, h, "acc_many")
	link(t, h, "acc_calm")
	hash := func(i int) string {
		return "0x" + strings.Repeat("0", 62) + string(rune('a'+i/16)) + string("0123456789abcdef"[i%16])
	}
	claim := func(acc string, i int) events.CryptoClaimReplyV1 {
		return request[events.CryptoClaimReplyV1](t, h, events.SubjectCryptoClaim, events.CryptoClaimRequestV1{V: 1, AccountID: acc, Chain: "base", TxHash: hash(i)})
	}
	for i := range 10 {
		if rep := claim("acc_many", i); rep.Code != "" || rep.Status != events.ClaimPending {
			t.Fatalf("claim %d: %+v", i+1, rep)
		}
	}
	rep := claim("acc_many", 10)
	if rep.Code != events.CodeTooManyClaims || !strings.Contains(rep.Error, "10 claims waiting") {
		t.Fatalf("11th pending claim: %+v, want %s with a message saying why", rep, events.CodeTooManyClaims)
	}
	// Claiming one of the ten again answers it; another account is not
	// affected.
	if rep := claim("acc_many", 3); rep.Code != "" || rep.Status != events.ClaimPending {
		t.Errorf("claiming a pending claim again: %+v", rep)
	}
	if rep := claim("acc_calm", 11); rep.Code != "" {
		t.Errorf("another account's claim: %+v", rep)
	}
	// Once one is closed, there is room again.
	if _, err := h.st.Collection(cryptopay.CollClaims).UpdateOne(context.Background(), bson.D{{Key: "_id", Value: cryptopay.ClaimID("base", hash(0), "acc_many")}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: events.ClaimRejected}}}}); err != nil {
		t.Fatal(err)
	}
	if rep := claim("acc_many", 10); rep.Code != "" || rep.Status != events.ClaimPending {
		t.Errorf("claim after one was rejected: %+v", rep)
	}
	n, err := h.st.Collection(cryptopay.CollClaims).CountDocuments(context.Background(), bson.D{{Key: "account_id", Value: "acc_many"}, {Key: "status", Value: events.ClaimPending}})
	if err != nil || n != 10 {
		t.Errorf("%d pending claims (%v), want 10", n, err)
	}
}
