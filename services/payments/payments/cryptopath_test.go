package payments_test

import (
	"context"
	"encoding/hex"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
	"github.com/ethereum/go-ethereum/params"

	"github.com/onekey-oss/onekey/api/contracts/testusd"
	"github.com/onekey-oss/onekey/api/cryptopay"
	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
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
	key, _ := crypto.GenerateKey()
	wallet := crypto.PubkeyToAddress(key.PublicKey)
	deposit := common.HexToAddress("0x00000000000000000000000000000000000000d0")
	sim := simulated.NewBackend(types.GenesisAlloc{wallet: {Balance: new(big.Int).Mul(big.NewInt(10), big.NewInt(params.Ether))}})
	t.Cleanup(func() { _ = sim.Close() })
	cl := sim.Client()
	ctx := context.Background()
	chainID, err := cl.ChainID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tokenABI, err := abi.JSON(strings.NewReader(testusd.ABI()))
	if err != nil {
		t.Fatal(err)
	}
	send := func(to *common.Address, data []byte) *types.Receipt {
		t.Helper()
		nonce, err := cl.PendingNonceAt(ctx, wallet)
		if err != nil {
			t.Fatal(err)
		}
		head, err := cl.HeaderByNumber(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		tip := big.NewInt(params.GWei)
		tx, err := types.SignTx(types.NewTx(&types.DynamicFeeTx{ChainID: chainID, Nonce: nonce, GasTipCap: tip, GasFeeCap: new(big.Int).Add(new(big.Int).Mul(head.BaseFee, big.NewInt(2)), tip), Gas: 3_000_000, To: to, Data: data}), types.LatestSignerForChainID(chainID), key)
		if err != nil {
			t.Fatal(err)
		}
		if err := cl.SendTransaction(ctx, tx); err != nil {
			t.Fatal(err)
		}
		sim.Commit()
		r, err := cl.TransactionReceipt(ctx, tx.Hash())
		if err != nil || r.Status != types.ReceiptStatusSuccessful {
			t.Fatalf("tx failed: %v", err)
		}
		return r
	}
	pack := func(method string, args ...any) []byte {
		data, err := tokenABI.Pack(method, args...)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	code, _ := hex.DecodeString(testusd.Bytecode())
	usdc := send(nil, append(code, pack("", "USD Coin", "USDC")...)).ContractAddress
	send(&usdc, pack("mint", wallet, big.NewInt(100_000_000)))

	chain := cryptopay.Chain{Name: "base", DepositAddress: strings.ToLower(deposit.Hex()), Finality: cryptopay.Finalized,
		Tokens: []cryptopay.Token{{Symbol: "USDC", Contract: strings.ToLower(usdc.Hex()), Decimals: 6}}}
	h := newHarness(t, func(c *payments.Config) { c.Chains = []cryptopay.Chain{chain} })
	cw, err := chainwatcher.New(chainwatcher.Config{Chains: []cryptopay.Chain{chain}}, chainwatcher.Deps{Bus: h.bus, Store: h.st, Clients: map[string]chainwatcher.ChainClient{"base": cl}})
	if err != nil {
		t.Fatal(err)
	}

	n := request[events.WalletNonceReplyV1](t, h, events.SubjectWalletNonce, events.WalletNonceRequestV1{V: 1, AccountID: "acc_crypto", Address: wallet.Hex()})
	sig, err := crypto.Sign(accounts.TextHash([]byte(n.Message)), key)
	if err != nil {
		t.Fatal(err)
	}
	sig[64] += 27
	if rep := request[events.WalletLinkReplyV1](t, h, events.SubjectWalletLink, events.WalletLinkRequestV1{V: 1, AccountID: "acc_crypto", Address: wallet.Hex(), Nonce: n.Nonce, Signature: hexutil.Encode(sig)}); rep.Code != "" {
		t.Fatalf("link: %+v", rep)
	}
	paid := send(&usdc, pack("transfer", deposit, big.NewInt(12_340_000))) // 12.34 USDC
	claim := request[events.CryptoClaimReplyV1](t, h, events.SubjectCryptoClaim, events.CryptoClaimRequestV1{V: 1, AccountID: "acc_crypto", Chain: "base", TxHash: paid.TxHash.Hex()})
	if claim.Status != events.ClaimPending {
		t.Fatalf("claim: %+v", claim)
	}
	for range 40 {
		sim.Commit()
	}
	if err := cw.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	again := request[events.CryptoClaimReplyV1](t, h, events.SubjectCryptoClaim, events.CryptoClaimRequestV1{V: 1, AccountID: "acc_crypto", Chain: "base", TxHash: paid.TxHash.Hex()})
	if again.Status != events.ClaimConfirmed || again.ClaimID != claim.ClaimID {
		t.Errorf("claim after chainwatcher: %+v, want confirmed", again)
	}
	got := messages[events.TxConfirmedV1](t, h.bus, events.StreamBilling, events.FamilyTxConfirmed+".acc_crypto")
	if len(got) != 1 || got[0].AmountMicros != 12_340_000 || got[0].Token != "USDC" || got[0].ClaimID != claim.ClaimID {
		t.Errorf("tx.confirmed = %+v, want one of $12.34", got)
	}
	if got[0].AmountMicros != money.Micros(12_340_000) {
		t.Errorf("amount = %s", got[0].AmountMicros)
	}
	// Another account (with a wallet of its own) cannot claim the same hash.
	link(t, h, "acc_late")
	if rep := request[events.CryptoClaimReplyV1](t, h, events.SubjectCryptoClaim, events.CryptoClaimRequestV1{V: 1, AccountID: "acc_late", Chain: "base", TxHash: paid.TxHash.Hex()}); rep.Code != events.CodeAlreadyClaimed {
		t.Errorf("second account's claim: %+v", rep)
	}
}
