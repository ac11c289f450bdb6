package payments_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/onekey-oss/onekey/api/cryptopay"
	"github.com/onekey-oss/onekey/api/events"
)

// erasureWorld is two accounts with the same kinds of crypto data: a
// linked wallet, an outstanding nonce, a pending claim, and (for the one
// to delete) a rejected claim, a confirmed claim with its credit and a
// card payment.
type erasureWorld struct {
	h                                  *harness
	goneWallet, keptWallet             string
	goneConfirmedClaim, goneCreditID   string
	gonePendingClaim, keptPendingClaim string
}

func tx(n byte) string { return "0x" + strings.Repeat(string("0123456789abcdef"[n%16]), 64) }

func newErasureWorld(t *testing.T) *erasureWorld {
	t.Helper()
	h := newHarness(t, withChains)
	w := &erasureWorld{h: h}
	ctx := context.Background()
	for _, acc := range []string{"acc_gone", "acc_kept"} {
		addr, _ := link(t, h, acc)
		if acc == "acc_gone" {
			w.goneWallet = strings.ToLower(addr)
		} else {
			w.keptWallet = strings.ToLower(addr)
		}
		// An outstanding challenge, as for a second wallet being linked.
		if n := request[events.WalletNonceReplyV1](t, h, events.SubjectWalletNonce, events.WalletNonceRequestV1{V: 1, AccountID: acc, Address: addr}); n.Code != "" {
			t.Fatalf("nonce: %+v", n)
		}
		txh := tx(1)
		if acc == "acc_kept" {
			txh = tx(2)
		}
		rep := request[events.CryptoClaimReplyV1](t, h, events.SubjectCryptoClaim, events.CryptoClaimRequestV1{V: 1, AccountID: acc, Chain: "base", TxHash: txh})
		if rep.Code != "" || rep.Status != events.ClaimPending {
			t.Fatalf("claim: %+v", rep)
		}
		if acc == "acc_gone" {
			w.gonePendingClaim = rep.ClaimID
		} else {
			w.keptPendingClaim = rep.ClaimID
		}
	}
	// What chainwatcher leaves of a rejected and of a confirmed claim.
	now := time.Now().UTC()
	claims := h.st.Collection(cryptopay.CollClaims)
	rejected := cryptopay.Claim{ID: cryptopay.ClaimID("base", tx(3), "acc_gone"), AccountID: "acc_gone", Chain: "base", TxHash: tx(3), Status: events.ClaimRejected, Reason: events.RejectWrongSender, CreatedAt: now, UpdatedAt: now}
	confirmed := cryptopay.Claim{ID: cryptopay.ClaimID("base", tx(4), "acc_gone"), AccountID: "acc_gone", Chain: "base", TxHash: tx(4), Status: events.ClaimConfirmed, CreatedAt: now, UpdatedAt: now}
	for _, c := range []cryptopay.Claim{rejected, confirmed} {
		if _, err := claims.InsertOne(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	credit := cryptopay.Credit{ID: events.TxID("base", tx(4), 0), AccountID: "acc_gone", ClaimID: confirmed.ID, Chain: "base", TxHash: tx(4), Token: "USDC", From: w.goneWallet, AmountMicros: 5_000_000, CreatedAt: now}
	if _, err := h.st.Collection(cryptopay.CollCredits).InsertOne(ctx, credit); err != nil {
		t.Fatal(err)
	}
	w.goneConfirmedClaim, w.goneCreditID = confirmed.ID, credit.ID
	body := stripeEvent("evt_gone", stripe.EventTypeCheckoutSessionCompleted, session("cs_gone", "acc_gone", 1000, "paid", "pi_gone"))
	if code := h.post(body, whsec, time.Now()); code != http.StatusOK {
		t.Fatalf("webhook status %d", code)
	}
	return w
}

func (w *erasureWorld) count(coll string, filter bson.D) int64 {
	w.h.t.Helper()
	n, err := w.h.st.Collection(coll).CountDocuments(context.Background(), filter)
	if err != nil {
		w.h.t.Fatal(err)
	}
	return n
}

func byAccount(acc string) bson.D { return bson.D{{Key: "account_id", Value: acc}} }

// deleteAccount publishes account.deleted as auth does and waits until the
// payments-accounts consumer has acknowledged it.
func (w *erasureWorld) deleteAccount(id, acc string) {
	t := w.h.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := w.h.bus.Publish(ctx, events.AccountDeletedV1{V: 1, ID: id, Time: time.Now().UTC(), AccountID: acc})
	if err != nil || res.Duplicate {
		t.Fatalf("publish account.deleted: %+v %v", res, err)
	}
	cons, err := w.h.bus.Consumer(ctx, events.ConsumerPaymentsAccounts)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "account.deleted acknowledged", func() bool {
		info, err := cons.Info(ctx)
		return err == nil && info.AckFloor.Stream >= res.Sequence && info.NumAckPending == 0
	})
}

// checkErased asserts acc_gone's personal crypto data is gone, its
// anonymized transaction records are kept, and acc_kept is untouched.
func (w *erasureWorld) checkErased() {
	t := w.h.t
	t.Helper()
	if n := w.count(cryptopay.CollWallets, byAccount("acc_gone")); n != 0 {
		t.Errorf("%d wallets of the deleted account left", n)
	}
	if n := w.count(cryptopay.CollWallets, bson.D{{Key: "_id", Value: w.goneWallet}}); n != 0 {
		t.Errorf("the deleted account's wallet address is still stored")
	}
	if n := w.count(cryptopay.CollNonces, byAccount("acc_gone")); n != 0 {
		t.Errorf("%d nonces of the deleted account left", n)
	}
	if n := w.count(cryptopay.CollClaims, bson.D{{Key: "account_id", Value: "acc_gone"}, {Key: "status", Value: bson.D{{Key: "$ne", Value: events.ClaimConfirmed}}}}); n != 0 {
		t.Errorf("%d unconfirmed claims of the deleted account left (chainwatcher could still credit a pending one)", n)
	}
	if n := w.count(cryptopay.CollClaims, bson.D{{Key: "_id", Value: w.gonePendingClaim}}); n != 0 {
		t.Errorf("pending claim %s still stored", w.gonePendingClaim)
	}
	// Kept: what accounting needs.
	if n := w.count(cryptopay.CollClaims, bson.D{{Key: "_id", Value: w.goneConfirmedClaim}, {Key: "status", Value: events.ClaimConfirmed}}); n != 1 {
		t.Errorf("confirmed claim: %d, want kept", n)
	}
	if n := w.count(cryptopay.CollCredits, bson.D{{Key: "_id", Value: w.goneCreditID}}); n != 1 {
		t.Errorf("crypto credit: %d, want kept", n)
	}
	if n := w.count("card_payments", byAccount("acc_gone")); n != 1 {
		t.Errorf("card payments: %d, want the one kept", n)
	}
	// The other account is untouched.
	if n := w.count(cryptopay.CollWallets, bson.D{{Key: "_id", Value: w.keptWallet}, {Key: "account_id", Value: "acc_kept"}}); n != 1 {
		t.Errorf("other account's wallet: %d, want 1", n)
	}
	if n := w.count(cryptopay.CollNonces, byAccount("acc_kept")); n != 2 {
		t.Errorf("other account's nonces: %d, want 2", n)
	}
	if n := w.count(cryptopay.CollClaims, bson.D{{Key: "_id", Value: w.keptPendingClaim}, {Key: "status", Value: events.ClaimPending}}); n != 1 {
		t.Errorf("other account's pending claim: %d, want 1", n)
	}
}

func TestPayments_AccountDeletedErasesWalletsNoncesAndPendingClaims(t *testing.T) {
	t.Parallel()
	w := newErasureWorld(t)
	if n := w.count(cryptopay.CollNonces, byAccount("acc_gone")); n != 2 {
		t.Fatalf("set-up: %d nonces, want 2", n)
	}
	w.deleteAccount("del_1", "acc_gone")
	w.checkErased()
	st := request[events.CryptoStatusReplyV1](t, w.h, events.SubjectCryptoStatus, events.CryptoStatusRequestV1{V: 1, AccountID: "acc_gone"})
	if len(st.Wallets) != 0 {
		t.Errorf("crypto status still lists wallets %v", st.Wallets)
	}
	for _, c := range st.Claims {
		if c.Status != events.ClaimConfirmed {
			t.Errorf("crypto status still lists claim %+v", c)
		}
	}
}

func TestPayments_RedeliveredAccountDeletedChangesNothingMore(t *testing.T) {
	t.Parallel()
	w := newErasureWorld(t)
	w.deleteAccount("del_1", "acc_gone")
	w.checkErased()
	// The same deletion again, as after a lost ack or a re-published
	// event (a new id, so that JetStream's de-duplication does not hide it).
	w.deleteAccount("del_1_again", "acc_gone")
	w.checkErased()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dl, err := w.h.bus.JetStream().Stream(ctx, events.StreamDeadLetter)
	if err != nil {
		t.Fatal(err)
	}
	info, err := dl.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 0 {
		t.Errorf("%d dead letters, want none", info.State.Msgs)
	}
}

// A request of the account still in flight when it is erased (its document
// stored after the erasure's deletes) removes what it stored itself.
func TestPayments_RequestOfAnErasedAccountStoresNothing(t *testing.T) {
	t.Parallel()
	w := newErasureWorld(t)
	h, ctx := w.h, context.Background()
	w.deleteAccount("del_1", "acc_gone")
	addr, _, sign := personalSign(t, "")
	addr = strings.ToLower(addr)

	if n := request[events.WalletNonceReplyV1](t, h, events.SubjectWalletNonce, events.WalletNonceRequestV1{V: 1, AccountID: "acc_gone", Address: addr}); n.Code != events.CodeBadRequest {
		t.Errorf("nonce for an erased account: %+v, want %s", n, events.CodeBadRequest)
	}
	if n := w.count(cryptopay.CollNonces, byAccount("acc_gone")); n != 0 {
		t.Errorf("%d nonces stored for an erased account", n)
	}

	// A nonce handed out just before the erasure, stored just after it.
	exp := time.Now().Add(10 * time.Minute).UTC().Truncate(time.Second)
	nonce := cryptopay.Nonce{Nonce: "late", AccountID: "acc_gone", Address: addr, ExpiresAt: exp}
	if _, err := h.st.Collection(cryptopay.CollNonces).InsertOne(ctx, nonce); err != nil {
		t.Fatal(err)
	}
	rep := request[events.WalletLinkReplyV1](t, h, events.SubjectWalletLink, events.WalletLinkRequestV1{V: 1, AccountID: "acc_gone", Address: addr, Nonce: "late",
		Signature: sign(cryptopay.LinkMessage("acc_gone", addr, "late", exp))})
	if rep.Code != events.CodeBadRequest {
		t.Errorf("link for an erased account: %+v, want %s", rep, events.CodeBadRequest)
	}
	if n := w.count(cryptopay.CollWallets, byAccount("acc_gone")); n != 0 {
		t.Errorf("%d wallets stored for an erased account", n)
	}

	// A wallet linked just before the erasure, stored just after it.
	if _, err := h.st.Collection(cryptopay.CollWallets).InsertOne(ctx, cryptopay.Wallet{Address: addr, AccountID: "acc_gone", LinkedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	c := request[events.CryptoClaimReplyV1](t, h, events.SubjectCryptoClaim, events.CryptoClaimRequestV1{V: 1, AccountID: "acc_gone", Chain: "base", TxHash: tx(5)})
	if c.Code != events.CodeBadRequest {
		t.Errorf("claim for an erased account: %+v, want %s", c, events.CodeBadRequest)
	}
	if n := w.count(cryptopay.CollClaims, bson.D{{Key: "account_id", Value: "acc_gone"}, {Key: "status", Value: events.ClaimPending}}); n != 0 {
		t.Errorf("%d pending claims stored for an erased account", n)
	}
	// Another account is served as before.
	if n := request[events.WalletNonceReplyV1](t, h, events.SubjectWalletNonce, events.WalletNonceRequestV1{V: 1, AccountID: "acc_kept", Address: addr}); n.Code != "" {
		t.Errorf("nonce for a live account: %+v", n)
	}
}
