package payments_test

import (
	"context"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/onekey-oss/onekey/api/cryptopay"
	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/e2e/internal/e2estack"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/bus/bustest"
	"github.com/onekey-oss/onekey/pkg/store/storetest"
	"github.com/onekey-oss/onekey/services/chainwatcher/chaintest"
	"github.com/onekey-oss/onekey/services/chainwatcher/chainwatcher"
	"github.com/onekey-oss/onekey/services/payments/payments"
)

// TestCryptoPath_LinkClaimAndConfirmThroughPaymentsAndChainwatcher runs the
// crypto path across both services as the account API drives it: link a
// wallet by personal_sign, pay USDC on chain, claim the hash; chainwatcher
// confirms it from the records payments made, and a second claim of the
// same hash by another account is refused.
func TestCryptoPath_LinkClaimAndConfirmThroughPaymentsAndChainwatcher(t *testing.T) {
	t.Parallel()
	payer := chaintest.NewWallet(t)
	chain := chaintest.New(t, payer)
	deposit := chaintest.NewWallet(t).Addr
	cfg := chain.Config("base", deposit)
	ctx := context.Background()
	key, wallet := payer.Key, payer.Addr

	srv := bustest.Start(t)
	b := srv.Connect(t, "e2e-cryptopath")
	st := storetest.New(t)
	paysvc, err := payments.New(payments.Config{StripeWebhookSecret: whsec, CheckoutMin: 5 * money.Dollar, CheckoutMax: 1000 * money.Dollar,
		OutboxInterval: time.Hour, Chains: []cryptopay.Chain{cfg}},
		payments.Deps{Bus: srv.ConnectAs(t, bus.UserPayments), Store: st})
	if err != nil {
		t.Fatal(err)
	}
	e2estack.Run(t, "payments", paysvc.Run)
	select {
	case <-paysvc.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("payments not ready within 30s")
	}
	cw, err := chainwatcher.New(chainwatcher.Config{Chains: []cryptopay.Chain{cfg}},
		chainwatcher.Deps{Bus: srv.ConnectAs(t, bus.UserChainwatcher), Store: st, Clients: map[string]chainwatcher.ChainClient{"base": chain.Client}})
	if err != nil {
		t.Fatal(err)
	}

	n := request[events.WalletNonceReplyV1](t, b, events.SubjectWalletNonce, events.WalletNonceRequestV1{V: 1, AccountID: "acc_crypto", Address: wallet.Hex()})
	sig, err := crypto.Sign(accounts.TextHash([]byte(n.Message)), key)
	if err != nil {
		t.Fatal(err)
	}
	sig[64] += 27
	if rep := request[events.WalletLinkReplyV1](t, b, events.SubjectWalletLink, events.WalletLinkRequestV1{V: 1, AccountID: "acc_crypto", Address: wallet.Hex(), Nonce: n.Nonce, Signature: hexutil.Encode(sig)}); rep.Code != "" {
		t.Fatalf("link: %+v", rep)
	}
	paid := chain.Mine(chain.Call(payer, chain.USDC, "transfer", deposit, big.NewInt(12_340_000))) // 12.34 USDC
	claim := request[events.CryptoClaimReplyV1](t, b, events.SubjectCryptoClaim, events.CryptoClaimRequestV1{V: 1, AccountID: "acc_crypto", Chain: "base", TxHash: paid.TxHash.Hex()})
	if claim.Status != events.ClaimPending {
		t.Fatalf("claim: %+v", claim)
	}
	chain.Finalize()
	if err := cw.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	again := request[events.CryptoClaimReplyV1](t, b, events.SubjectCryptoClaim, events.CryptoClaimRequestV1{V: 1, AccountID: "acc_crypto", Chain: "base", TxHash: paid.TxHash.Hex()})
	if again.Status != events.ClaimConfirmed || again.ClaimID != claim.ClaimID {
		t.Errorf("claim after chainwatcher: %+v, want confirmed", again)
	}
	got := bustest.Messages[events.TxConfirmedV1](t, b, events.StreamBilling, events.FamilyTxConfirmed+".acc_crypto")
	if len(got) != 1 || got[0].AmountMicros != 12_340_000 || got[0].Token != "USDC" || got[0].ClaimID != claim.ClaimID {
		t.Errorf("tx.confirmed = %+v, want one of $12.34", got)
	}
	if got[0].AmountMicros != money.Micros(12_340_000) {
		t.Errorf("amount = %s", got[0].AmountMicros)
	}
	// Another account (with a wallet of its own) cannot claim the same hash.
	linkWallet(t, b, "acc_late")
	if rep := request[events.CryptoClaimReplyV1](t, b, events.SubjectCryptoClaim, events.CryptoClaimRequestV1{V: 1, AccountID: "acc_late", Chain: "base", TxHash: paid.TxHash.Hex()}); rep.Code != events.CodeAlreadyClaimed {
		t.Errorf("second account's claim: %+v", rep)
	}
}

// linkWallet links a new wallet to account by asking payments for a nonce
// and answering with the wallet's personal_sign of its message.
func linkWallet(t *testing.T, b *bus.Bus, account string) {
	t.Helper()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	addr := crypto.PubkeyToAddress(key.PublicKey).Hex()
	n := request[events.WalletNonceReplyV1](t, b, events.SubjectWalletNonce, events.WalletNonceRequestV1{V: 1, AccountID: account, Address: addr})
	if n.Code != "" {
		t.Fatalf("nonce: %+v", n)
	}
	sig, err := crypto.Sign(accounts.TextHash([]byte(n.Message)), key)
	if err != nil {
		t.Fatal(err)
	}
	sig[64] += 27
	rep := request[events.WalletLinkReplyV1](t, b, events.SubjectWalletLink, events.WalletLinkRequestV1{V: 1, AccountID: account, Address: addr, Nonce: n.Nonce, Signature: hexutil.Encode(sig)})
	if rep.Code != "" || rep.Address != strings.ToLower(addr) {
		t.Fatalf("link: %+v", rep)
	}
}
