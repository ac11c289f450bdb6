// Package chaintest gives tests a real chain: go-ethereum's simulated
// backend with TestUSD (an ERC-20 with 6 decimals, api/contracts/testusd)
// deployed as "USDC", and funded wallets. Blocks are made only by Commit,
// so a test decides when anything is mined or final.
package chaintest

import (
	"context"
	"crypto/ecdsa"
	"encoding/hex"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
	"github.com/ethereum/go-ethereum/params"

	"github.com/onekey-oss/onekey/api/contracts/testusd"
	"github.com/onekey-oss/onekey/api/cryptopay"
)

// Wallet is a key with its address.
type Wallet struct {
	Key  *ecdsa.PrivateKey
	Addr common.Address
}

// NewWallet makes a fresh wallet.
func NewWallet(tb testing.TB) Wallet {
	tb.Helper()
	k, err := crypto.GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	return Wallet{Key: k, Addr: crypto.PubkeyToAddress(k.PublicKey)}
}

// Chain is a simulated chain with USDC deployed.
type Chain struct {
	tb      testing.TB
	Sim     *simulated.Backend
	Client  simulated.Client
	ABI     abi.ABI
	ChainID *big.Int
	// USDC is a TestUSD deployed by the first wallet; each wallet holds
	// 1,000 of it.
	USDC common.Address
}

// New starts a chain in which each of wallets holds 10 ETH and 1,000 USDC;
// it is closed when the test ends.
func New(tb testing.TB, wallets ...Wallet) *Chain {
	tb.Helper()
	if len(wallets) == 0 {
		tb.Fatal("chaintest: at least one wallet is needed")
	}
	alloc := types.GenesisAlloc{}
	for _, w := range wallets {
		alloc[w.Addr] = types.Account{Balance: new(big.Int).Mul(big.NewInt(10), big.NewInt(params.Ether))}
	}
	c := &Chain{tb: tb, Sim: simulated.NewBackend(alloc)}
	tb.Cleanup(func() { _ = c.Sim.Close() })
	c.Client = c.Sim.Client()
	var err error
	if c.ABI, err = abi.JSON(strings.NewReader(testusd.ABI())); err != nil {
		tb.Fatal(err)
	}
	if c.ChainID, err = c.Client.ChainID(context.Background()); err != nil {
		tb.Fatal(err)
	}
	c.USDC = c.Deploy(wallets[0], "USD Coin", "USDC")
	for _, w := range wallets {
		c.Mine(c.Call(w, c.USDC, "mint", w.Addr, big.NewInt(1_000_000_000)))
	}
	return c
}

// Pack encodes a TestUSD call.
func (c *Chain) Pack(method string, args ...any) []byte {
	c.tb.Helper()
	data, err := c.ABI.Pack(method, args...)
	if err != nil {
		c.tb.Fatal(err)
	}
	return data
}

// SendNonce signs and sends a transaction (mined by the next Commit). Its
// tip is tipGwei; a higher one replaces a pending transaction.
func (c *Chain) SendNonce(w Wallet, nonce uint64, to *common.Address, data []byte, tipGwei int64) (*types.Transaction, error) {
	ctx := context.Background()
	head, err := c.Client.HeaderByNumber(ctx, nil)
	if err != nil {
		return nil, err
	}
	tip := new(big.Int).Mul(big.NewInt(params.GWei), big.NewInt(tipGwei))
	fee := new(big.Int).Add(new(big.Int).Mul(head.BaseFee, big.NewInt(4)), tip)
	tx, err := types.SignTx(types.NewTx(&types.DynamicFeeTx{ChainID: c.ChainID, Nonce: nonce, GasTipCap: tip, GasFeeCap: fee, Gas: 3_000_000, To: to, Data: data}),
		types.LatestSignerForChainID(c.ChainID), w.Key)
	if err != nil {
		return nil, err
	}
	return tx, c.Client.SendTransaction(ctx, tx)
}

// Send sends a transaction from w with its next nonce.
func (c *Chain) Send(w Wallet, to *common.Address, data []byte) *types.Transaction {
	c.tb.Helper()
	nonce, err := c.Client.PendingNonceAt(context.Background(), w.Addr)
	if err != nil {
		c.tb.Fatal(err)
	}
	tx, err := c.SendNonce(w, nonce, to, data, 1)
	if err != nil {
		c.tb.Fatalf("send: %v", err)
	}
	return tx
}

// Call sends a call of a TestUSD method on token from w (not yet mined).
func (c *Chain) Call(w Wallet, token common.Address, method string, args ...any) *types.Transaction {
	return c.Send(w, &token, c.Pack(method, args...))
}

// Mine commits a block and returns tx's receipt, whatever its status.
func (c *Chain) Mine(tx *types.Transaction) *types.Receipt {
	c.tb.Helper()
	c.Sim.Commit()
	r, err := c.Client.TransactionReceipt(context.Background(), tx.Hash())
	if err != nil {
		c.tb.Fatalf("receipt: %v", err)
	}
	return r
}

// Deploy deploys another TestUSD from w and returns its address.
func (c *Chain) Deploy(w Wallet, name, symbol string) common.Address {
	c.tb.Helper()
	code, err := hex.DecodeString(testusd.Bytecode())
	if err != nil {
		c.tb.Fatal(err)
	}
	r := c.Mine(c.Send(w, nil, append(code, c.Pack("", name, symbol)...)))
	if r.Status != types.ReceiptStatusSuccessful {
		c.tb.Fatal("chaintest: deploy failed")
	}
	return r.ContractAddress
}

// Finalize commits enough blocks for everything mined so far to be
// finalized (the simulated beacon finalizes at multiples of 32).
func (c *Chain) Finalize() {
	for range 40 {
		c.Sim.Commit()
	}
}

// Config is the chain's configuration as onekey reads it: this chain under
// name, accepting its USDC (6 decimals) at deposit, final at "finalized".
func (c *Chain) Config(name string, deposit common.Address) cryptopay.Chain {
	return cryptopay.Chain{
		Name: name, DepositAddress: strings.ToLower(deposit.Hex()), Finality: cryptopay.Finalized,
		Tokens: []cryptopay.Token{{Symbol: "USDC", Contract: strings.ToLower(c.USDC.Hex()), Decimals: 6}},
	}
}
