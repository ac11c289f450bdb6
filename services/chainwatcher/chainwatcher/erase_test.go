package chainwatcher_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/onekey-oss/onekey/api/cryptopay"
	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/services/chainwatcher/chainwatcher"
)

// duringReceipt is a chain client that runs hook (once) when chainwatcher
// reads a receipt: after the pass read its pending claims, before it
// decides one.
type duringReceipt struct {
	chainwatcher.ChainClient
	once sync.Once
	hook func()
}

func (d *duringReceipt) TransactionReceipt(ctx context.Context, h common.Hash) (*types.Receipt, error) {
	d.once.Do(d.hook)
	return d.ChainClient.TransactionReceipt(ctx, h)
}

// erase deletes what payments' account.deleted consumer deletes of
// account, in its order: unconfirmed claims, then wallets, then nonces.
func (w *world) erase(account string, walletsToo bool) {
	w.t.Helper()
	ctx := context.Background()
	if _, err := w.st.Collection(cryptopay.CollClaims).DeleteMany(ctx, bson.D{{Key: "account_id", Value: account}, {Key: "status", Value: bson.D{{Key: "$ne", Value: events.ClaimConfirmed}}}}); err != nil {
		w.t.Error(err)
	}
	if walletsToo {
		if _, err := w.st.Collection(cryptopay.CollWallets).DeleteMany(ctx, bson.D{{Key: "account_id", Value: account}}); err != nil {
			w.t.Error(err)
		}
	}
}

func TestChainwatcher_ClaimErasedWithItsAccountIsNeverConfirmed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// midPass erases while a pass holds the claim it read; else before
		// the pass.
		midPass, walletsToo bool
	}{
		{"erased before the pass", false, true},
		{"claim erased during the pass, wallets not yet", true, false},
		{"claim and wallets erased during the pass", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, nil)
			w.link("acc_gone", w.alice)
			r := w.Mine(w.Call(w.alice, w.USDC, "transfer", w.deposit, usdc6(3_000_000)))
			id := w.claim("acc_gone", r.TxHash)
			w.Finalize()
			svc := w.svc
			if tc.midPass {
				client := &duringReceipt{ChainClient: w.Client, hook: func() { w.erase("acc_gone", tc.walletsToo) }}
				var err error
				svc, err = chainwatcher.New(chainwatcher.Config{Chains: []cryptopay.Chain{w.chain}, ClaimTimeout: time.Hour},
					chainwatcher.Deps{Bus: w.svcBus, Store: w.st, Clients: map[string]chainwatcher.ChainClient{chainName: client}, Now: w.clock.Now})
				if err != nil {
					t.Fatal(err)
				}
			} else {
				w.erase("acc_gone", tc.walletsToo)
			}
			for range 2 {
				if err := svc.Poll(context.Background()); err != nil {
					t.Fatalf("poll: %v", err)
				}
			}
			// Even past the claim timeout nothing is published for it.
			w.clock.Advance(2 * time.Hour)
			if err := svc.Poll(context.Background()); err != nil {
				t.Fatalf("poll: %v", err)
			}
			if got := w.confirmed("acc_gone"); len(got) != 0 {
				t.Errorf("erased claim credited: %+v", got)
			}
			if got := w.rejected("acc_gone"); len(got) != 0 {
				t.Errorf("erased claim rejected (mail for a deleted account): %+v", got)
			}
			n, err := w.st.Collection(cryptopay.CollCredits).CountDocuments(context.Background(), bson.D{{Key: "tx_hash", Value: strings.ToLower(r.TxHash.Hex())}})
			if err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("%d credits stored for the erased claim", n)
			}
			if n, _ := w.st.Collection(cryptopay.CollClaims).CountDocuments(context.Background(), bson.D{{Key: "_id", Value: id}}); n != 0 {
				t.Errorf("erased claim written back")
			}
		})
	}
}
