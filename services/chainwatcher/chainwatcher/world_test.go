package chainwatcher_test

import (
	"context"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/onekey-oss/onekey/api/cryptopay"
	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/bus/bustest"
	"github.com/onekey-oss/onekey/pkg/store"
	"github.com/onekey-oss/onekey/pkg/store/storetest"
	"github.com/onekey-oss/onekey/services/chainwatcher/chaintest"
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

type party = chaintest.Wallet

// world is a simulated chain with two TestUSD tokens (one accepted as
// USDC, one not), a deposit address, three funded people, and
// chainwatcher on an embedded bus and database.
type world struct {
	*chaintest.Chain
	t                   *testing.T
	other               common.Address
	deposit             common.Address
	alice, bob, mallory party
	bus                 *bus.Bus // the admin: drives the test
	svcBus              *bus.Bus // the chainwatcher's own user, for services a test builds
	st                  *store.Store
	svc                 *chainwatcher.Service
	clock               *clock
	chain               cryptopay.Chain
}

const chainName = "base"

func newWorld(t *testing.T, mutate func(*cryptopay.Chain)) *world {
	t.Helper()
	w := &world{t: t, alice: chaintest.NewWallet(t), bob: chaintest.NewWallet(t), mallory: chaintest.NewWallet(t), deposit: chaintest.NewWallet(t).Addr}
	w.Chain = chaintest.New(t, w.alice, w.bob, w.mallory)
	w.other = w.Deploy(w.alice, "Other USD", "OUSD")
	for _, p := range []party{w.alice, w.bob, w.mallory} {
		w.Mine(w.Call(w.alice, w.other, "mint", p.Addr, big.NewInt(1_000_000_000)))
	}
	w.chain = w.Config(chainName, w.deposit)
	if mutate != nil {
		mutate(&w.chain)
	}
	srv := bustest.Start(t)
	w.bus = srv.Connect(t, "chainwatcher-test")
	w.svcBus = srv.ConnectAs(t, bus.UserChainwatcher)
	w.st = storetest.New(t)
	w.clock = &clock{t: time.Now().UTC()}
	var err error
	w.svc, err = chainwatcher.New(chainwatcher.Config{Chains: []cryptopay.Chain{w.chain}, ClaimTimeout: time.Hour},
		chainwatcher.Deps{Bus: srv.ConnectAs(t, bus.UserChainwatcher), Store: w.st, Clients: map[string]chainwatcher.ChainClient{chainName: w.Client}, Now: w.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) link(account string, p party) {
	w.t.Helper()
	if _, err := w.st.Collection(cryptopay.CollWallets).InsertOne(context.Background(), cryptopay.Wallet{Address: strings.ToLower(p.Addr.Hex()), AccountID: account, LinkedAt: time.Now()}); err != nil {
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
	return bustest.Messages[events.TxConfirmedV1](w.t, w.bus, events.StreamBilling, events.FamilyTxConfirmed+"."+account)
}

func (w *world) rejected(account string) []events.TxRejectedV1 {
	return bustest.Messages[events.TxRejectedV1](w.t, w.bus, events.StreamNotify, events.FamilyTxRejected+"."+account)
}

// usdc6 is an amount of a 6-decimal token: whole units and micro-units.
func usdc6(micros int64) *big.Int { return big.NewInt(micros) }

// sendReplacement sends a transaction from alice with the given nonce at
// a much higher fee, retrying while the pool catches up with a reorg.
func (w *world) sendReplacement(nonce uint64, to *common.Address, data []byte) {
	w.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := w.SendNonce(w.alice, nonce, to, data, 50)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("replacement not accepted: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
