package chainwatcher_test

import (
	"context"
	"crypto/ecdsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
	"github.com/ethereum/go-ethereum/params"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/onekey-oss/onekey/api/contracts/testusd"
	"github.com/onekey-oss/onekey/api/cryptopay"
	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/bus/bustest"
	"github.com/onekey-oss/onekey/pkg/store"
	"github.com/onekey-oss/onekey/pkg/store/storetest"
	"github.com/onekey-oss/onekey/services/chainwatcher/chainwatcher"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type party struct {
	key  *ecdsa.PrivateKey
	addr common.Address
}

func newParty(t *testing.T) party {
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return party{key: k, addr: crypto.PubkeyToAddress(k.PublicKey)}
}

// world is a simulated chain with two TestUSD tokens (one accepted as
// USDC, one not), a deposit address, three funded people, and
// chainwatcher on an embedded bus and database.
type world struct {
	t                   *testing.T
	sim                 *simulated.Backend
	cl                  simulated.Client
	abi                 abi.ABI
	chainID             *big.Int
	usdc, other         common.Address
	deposit             common.Address
	alice, bob, mallory party
	bus                 *bus.Bus
	st                  *store.Store
	svc                 *chainwatcher.Service
	clock               *clock
	chain               cryptopay.Chain
}

const chainName = "base"

func newWorld(t *testing.T, mutate func(*cryptopay.Chain)) *world {
	t.Helper()
	w := &world{t: t, alice: newParty(t), bob: newParty(t), mallory: newParty(t), deposit: newParty(t).addr}
	eth := new(big.Int).Mul(big.NewInt(10), big.NewInt(params.Ether))
	w.sim = simulated.NewBackend(types.GenesisAlloc{
		w.alice.addr: {Balance: eth}, w.bob.addr: {Balance: eth}, w.mallory.addr: {Balance: eth},
	})
	t.Cleanup(func() { _ = w.sim.Close() })
	w.cl = w.sim.Client()
	var err error
	if w.abi, err = abi.JSON(strings.NewReader(testusd.ABI())); err != nil {
		t.Fatal(err)
	}
	if w.chainID, err = w.cl.ChainID(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.usdc = w.deploy("USD Coin", "USDC")
	w.other = w.deploy("Other USD", "OUSD")
	for _, p := range []party{w.alice, w.bob, w.mallory} {
		w.mine(w.call(w.alice, w.usdc, "mint", p.addr, big.NewInt(1_000_000_000)))
		w.mine(w.call(w.alice, w.other, "mint", p.addr, big.NewInt(1_000_000_000)))
	}

	w.chain = cryptopay.Chain{
		Name: chainName, DepositAddress: strings.ToLower(w.deposit.Hex()), Finality: cryptopay.Finalized,
		Tokens: []cryptopay.Token{{Symbol: "USDC", Contract: strings.ToLower(w.usdc.Hex()), Decimals: 6}},
	}
	if mutate != nil {
		mutate(&w.chain)
	}
	srv := bustest.Start(t)
	w.bus = srv.Connect(t, "chainwatcher-test")
	w.st = storetest.New(t)
	w.clock = &clock{t: time.Now().UTC()}
	w.svc, err = chainwatcher.New(chainwatcher.Config{Chains: []cryptopay.Chain{w.chain}, ClaimTimeout: time.Hour},
		chainwatcher.Deps{Bus: w.bus, Store: w.st, Clients: map[string]chainwatcher.ChainClient{chainName: w.cl}, Now: w.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// send signs and sends a transaction from p; it is mined by the next commit.
func (w *world) send(p party, to *common.Address, data []byte, gas uint64, feeMult int64) *types.Transaction {
	w.t.Helper()
	ctx := context.Background()
	nonce, err := w.cl.PendingNonceAt(ctx, p.addr)
	if err != nil {
		w.t.Fatal(err)
	}
	return w.sendNonce(p, nonce, to, data, gas, feeMult)
}

func (w *world) sendNonce(p party, nonce uint64, to *common.Address, data []byte, gas uint64, feeMult int64) *types.Transaction {
	w.t.Helper()
	ctx := context.Background()
	head, err := w.cl.HeaderByNumber(ctx, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	tip := new(big.Int).Mul(big.NewInt(params.GWei), big.NewInt(feeMult))
	fee := new(big.Int).Add(new(big.Int).Mul(head.BaseFee, big.NewInt(2)), tip)
	tx, err := types.SignTx(types.NewTx(&types.DynamicFeeTx{ChainID: w.chainID, Nonce: nonce, GasTipCap: tip, GasFeeCap: fee, Gas: gas, To: to, Data: data}),
		types.LatestSignerForChainID(w.chainID), p.key)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.cl.SendTransaction(ctx, tx); err != nil {
		w.t.Fatalf("send: %v", err)
	}
	return tx
}

func (w *world) pack(method string, args ...any) []byte {
	w.t.Helper()
	data, err := w.abi.Pack(method, args...)
	if err != nil {
		w.t.Fatal(err)
	}
	return data
}

// call sends a contract call from p (not yet mined).
func (w *world) call(p party, contract common.Address, method string, args ...any) *types.Transaction {
	return w.send(p, &contract, w.pack(method, args...), 1_000_000, 1)
}

// mine commits a block and returns tx's receipt.
func (w *world) mine(tx *types.Transaction) *types.Receipt {
	w.t.Helper()
	w.sim.Commit()
	r, err := w.cl.TransactionReceipt(context.Background(), tx.Hash())
	if err != nil {
		w.t.Fatalf("receipt: %v", err)
	}
	return r
}

func (w *world) deploy(name, symbol string) common.Address {
	w.t.Helper()
	code, err := hex.DecodeString(testusd.Bytecode())
	if err != nil {
		w.t.Fatal(err)
	}
	r := w.mine(w.send(w.alice, nil, append(code, w.pack("", name, symbol)...), 3_000_000, 1))
	if r.Status != types.ReceiptStatusSuccessful {
		w.t.Fatal("deploy failed")
	}
	return r.ContractAddress
}

// finalize commits enough blocks for everything so far to be finalized
// (the simulated beacon finalizes at multiples of 32).
func (w *world) finalize() {
	for range 40 {
		w.sim.Commit()
	}
}

func (w *world) link(account string, p party) {
	w.t.Helper()
	if _, err := w.st.Collection(cryptopay.CollWallets).InsertOne(context.Background(), cryptopay.Wallet{Address: strings.ToLower(p.addr.Hex()), AccountID: account, LinkedAt: time.Now()}); err != nil {
		w.t.Fatal(err)
	}
}

// claim records a claim as payments does.
func (w *world) claim(account string, tx common.Hash) string {
	w.t.Helper()
	now := w.clock.Now()
	c := cryptopay.Claim{ID: cryptopay.ClaimID(chainName, tx.Hex(), account), AccountID: account, Chain: chainName, TxHash: strings.ToLower(tx.Hex()), Status: events.ClaimPending, CreatedAt: now, UpdatedAt: now}
	if _, err := w.st.Collection(cryptopay.CollClaims).InsertOne(context.Background(), c); err != nil {
		w.t.Fatal(err)
	}
	return c.ID
}

func (w *world) poll() {
	w.t.Helper()
	if err := w.svc.Poll(context.Background()); err != nil {
		w.t.Fatalf("poll: %v", err)
	}
}

func (w *world) claimDoc(id string) cryptopay.Claim {
	w.t.Helper()
	var c cryptopay.Claim
	if err := w.st.Collection(cryptopay.CollClaims).FindOne(context.Background(), bson.D{{Key: "_id", Value: id}}).Decode(&c); err != nil {
		w.t.Fatal(err)
	}
	return c
}

func (w *world) confirmed(account string) []events.TxConfirmedV1 {
	return messages[events.TxConfirmedV1](w.t, w.bus, events.StreamBilling, events.FamilyTxConfirmed+"."+account)
}

func (w *world) rejected(account string) []events.TxRejectedV1 {
	return messages[events.TxRejectedV1](w.t, w.bus, events.StreamNotify, events.FamilyTxRejected+"."+account)
}

// usdc6 is an amount of a 6-decimal token: whole units and micro-units.
func usdc6(micros int64) *big.Int { return big.NewInt(micros) }

func messages[T any](t *testing.T, b *bus.Bus, stream, subject string) []T {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := b.JetStream().Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatal(err)
	}
	want := int(info.State.Subjects[subject])
	if want == 0 {
		return nil
	}
	cons, err := b.JetStream().OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		t.Fatal(err)
	}
	var out []T
	for len(out) < want {
		batch, err := cons.Fetch(want-len(out), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			var v T
			if err := json.Unmarshal(m.Data(), &v); err != nil {
				t.Fatal(err)
			}
			out = append(out, v)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			t.Fatal(err)
		}
	}
	return out
}

// sendReplacement sends a transaction from alice with the given nonce at
// a much higher fee, retrying while the pool catches up with a reorg.
func (w *world) sendReplacement(nonce uint64, to *common.Address, data []byte) {
	w.t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for {
		head, err := w.cl.HeaderByNumber(ctx, nil)
		if err != nil {
			w.t.Fatal(err)
		}
		tip := big.NewInt(50 * params.GWei)
		fee := new(big.Int).Add(new(big.Int).Mul(head.BaseFee, big.NewInt(4)), tip)
		tx, err := types.SignTx(types.NewTx(&types.DynamicFeeTx{ChainID: w.chainID, Nonce: nonce, GasTipCap: tip, GasFeeCap: fee, Gas: 1_000_000, To: to, Data: data}),
			types.LatestSignerForChainID(w.chainID), w.alice.key)
		if err != nil {
			w.t.Fatal(err)
		}
		err = w.cl.SendTransaction(ctx, tx)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("replacement not accepted: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
