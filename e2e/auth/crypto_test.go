package auth_test

import (
	"context"
	"crypto/ecdsa"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/onekey-oss/onekey/api/cryptopay"
	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/e2e/internal/e2estack"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/services/payments/payments"
)

const depositBase = "0x00000000000000000000000000000000000000aa"

// startPayments runs the real payments service on the harness's bus and
// database, with Base and its USDC configured, until the test ends.
func startPayments(t *testing.T, h *harness) {
	t.Helper()
	svc, err := payments.New(payments.Config{
		CheckoutMin: 5_000_000, CheckoutMax: 1_000_000_000, OutboxInterval: time.Hour,
		Chains: []cryptopay.Chain{{Name: "base", DepositAddress: depositBase, Finality: cryptopay.Finalized,
			Tokens: []cryptopay.Token{{Symbol: "USDC", Contract: "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913", Decimals: 6}}}},
	}, payments.Deps{Bus: h.nats.ConnectAs(t, bus.UserPayments), Store: h.store, Logger: h.log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("payments: %v", err)
		}
	})
	select {
	case <-svc.Ready():
	case err := <-done:
		done <- err
		t.Fatalf("payments: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("payments not ready within 30s")
	}
}

// wallet is an Ethereum key that signs as a wallet's personal_sign does.
type wallet struct {
	key  *ecdsa.PrivateKey
	addr string // checksummed, as wallets show it
}

func newWallet(t *testing.T) wallet {
	t.Helper()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return wallet{key: key, addr: crypto.PubkeyToAddress(key.PublicKey).Hex()}
}

func (w wallet) sign(t *testing.T, msg string) string {
	t.Helper()
	sig, err := crypto.Sign(accounts.TextHash([]byte(msg)), w.key)
	if err != nil {
		t.Fatal(err)
	}
	sig[crypto.RecoveryIDOffset] += 27
	return hexutil.Encode(sig)
}

type nonceOut struct {
	Message   string    `json:"message"`
	Nonce     string    `json:"nonce"`
	ExpiresAt time.Time `json:"expires_at"`
}

type cryptoOut struct {
	Chains []struct {
		Chain          string   `json:"chain"`
		DepositAddress string   `json:"deposit_address"`
		Tokens         []string `json:"tokens"`
	} `json:"chains"`
	Wallets []string               `json:"wallets"`
	Claims  []events.CryptoClaimV1 `json:"claims"`
}

type claimOut struct {
	ClaimID string `json:"claim_id"`
	Chain   string `json:"chain"`
	TxHash  string `json:"tx_hash"`
	Status  string `json:"status"`
}

type apiErr struct {
	Error struct{ Code, Message string } `json:"error"`
}

func errCode(t *testing.T, r response) string {
	t.Helper()
	var e apiErr
	r.JSON(t, &e)
	return e.Error.Code
}

// linkWallet links w to c's account through the API.
func linkWallet(t *testing.T, c *client, w wallet) {
	t.Helper()
	var n nonceOut
	c.Must(http.MethodPost, "/api/crypto/wallets/nonce", map[string]string{"address": w.addr}, http.StatusCreated).JSON(t, &n)
	var out struct{ Address string }
	c.Must(http.MethodPost, "/api/crypto/wallets", map[string]string{"address": w.addr, "nonce": n.Nonce, "signature": w.sign(t, n.Message)}, http.StatusCreated).JSON(t, &out)
	if out.Address != strings.ToLower(w.addr) {
		t.Fatalf("linked %q, want %q", out.Address, strings.ToLower(w.addr))
	}
}

func TestCrypto_AWalletLinkedBySigningTheNonceCanClaimATransaction(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	startPayments(t, h)
	c, m := h.signIn("ana@example.com")
	w := newWallet(t)
	tx := "0x" + strings.Repeat("c4", 32)

	var ov cryptoOut
	c.Must(http.MethodGet, "/api/crypto", nil, http.StatusOK).JSON(t, &ov)
	if len(ov.Chains) != 1 || ov.Chains[0].Chain != "base" || ov.Chains[0].DepositAddress != depositBase ||
		len(ov.Chains[0].Tokens) != 1 || ov.Chains[0].Tokens[0] != "USDC" || ov.Wallets == nil || len(ov.Wallets) != 0 || ov.Claims == nil || len(ov.Claims) != 0 {
		t.Fatalf("fresh overview: %+v", ov)
	}

	// No claim before a wallet is linked.
	r := c.Must(http.MethodPost, "/api/crypto/claims", map[string]string{"chain": "base", "tx_hash": tx}, http.StatusConflict)
	if code := errCode(t, r); code != events.CodeNoWallet {
		t.Errorf("claim without a wallet: %s", r.Body)
	}

	// The message to sign names the session's account, whatever the body says.
	var n nonceOut
	c.Must(http.MethodPost, "/api/crypto/wallets/nonce", map[string]string{"address": w.addr, "account_id": "acc_someone_else"}, http.StatusCreated).JSON(t, &n)
	if !strings.Contains(n.Message, m.AccountID) || !strings.Contains(n.Message, strings.ToLower(w.addr)) || !strings.Contains(n.Message, n.Nonce) || n.ExpiresAt.IsZero() {
		t.Fatalf("nonce answer: %+v", n)
	}
	// Another wallet's signature of the message links nothing.
	r = c.Must(http.MethodPost, "/api/crypto/wallets", map[string]string{"address": w.addr, "nonce": n.Nonce, "signature": newWallet(t).sign(t, n.Message)}, http.StatusBadRequest)
	if code := errCode(t, r); code != events.CodeBadSignature {
		t.Errorf("another wallet's signature: %s", r.Body)
	}
	var linked struct{ Address string }
	c.Must(http.MethodPost, "/api/crypto/wallets", map[string]string{"address": w.addr, "nonce": n.Nonce, "signature": w.sign(t, n.Message)}, http.StatusCreated).JSON(t, &linked)
	if linked.Address != strings.ToLower(w.addr) {
		t.Fatalf("linked %+v", linked)
	}
	// The nonce is spent.
	r = c.Must(http.MethodPost, "/api/crypto/wallets", map[string]string{"address": w.addr, "nonce": n.Nonce, "signature": w.sign(t, n.Message)}, http.StatusBadRequest)
	if code := errCode(t, r); code != events.CodeNonceInvalid {
		t.Errorf("nonce used twice: %s", r.Body)
	}

	// Bad input is refused before payments is asked; an unsupported chain by payments.
	for _, b := range []map[string]string{{"chain": "base", "tx_hash": "0x12"}, {"tx_hash": tx}, {"chain": "base"}} {
		if code := errCode(t, c.Must(http.MethodPost, "/api/crypto/claims", b, http.StatusBadRequest)); code != "invalid_request" {
			t.Errorf("claim %v: code %s", b, code)
		}
	}
	c.Must(http.MethodPost, "/api/crypto/wallets/nonce", map[string]string{"address": "0xnope"}, http.StatusBadRequest)
	c.Must(http.MethodPost, "/api/crypto/wallets", map[string]string{"address": w.addr}, http.StatusBadRequest)
	r = c.Must(http.MethodPost, "/api/crypto/claims", map[string]string{"chain": "polygon", "tx_hash": tx}, http.StatusBadRequest)
	if code := errCode(t, r); code != events.CodeUnsupported {
		t.Errorf("unsupported chain: %s", r.Body)
	}

	var cl claimOut
	c.Must(http.MethodPost, "/api/crypto/claims", map[string]string{"chain": "base", "tx_hash": tx, "account_id": "acc_someone_else"}, http.StatusAccepted).JSON(t, &cl)
	if cl.ClaimID == "" || cl.Status != events.ClaimPending || cl.TxHash != tx || cl.Chain != "base" {
		t.Fatalf("claim: %+v", cl)
	}
	if cl.ClaimID != cryptopay.ClaimID("base", tx, m.AccountID) {
		t.Errorf("claim %s is not the session account's", cl.ClaimID)
	}
	// Claiming again answers the same claim.
	var again claimOut
	c.Must(http.MethodPost, "/api/crypto/claims", map[string]string{"chain": "base", "tx_hash": tx}, http.StatusAccepted).JSON(t, &again)
	if again != cl {
		t.Errorf("claimed again: %+v, first %+v", again, cl)
	}

	c.Must(http.MethodGet, "/api/crypto", nil, http.StatusOK).JSON(t, &ov)
	if len(ov.Wallets) != 1 || ov.Wallets[0] != strings.ToLower(w.addr) {
		t.Errorf("wallets: %v", ov.Wallets)
	}
	if len(ov.Claims) != 1 || ov.Claims[0].ClaimID != cl.ClaimID || ov.Claims[0].Status != events.ClaimPending || ov.Claims[0].TxHash != tx {
		t.Errorf("claims: %+v", ov.Claims)
	}
	var one events.CryptoClaimV1
	c.Must(http.MethodGet, "/api/crypto/claims/"+url.PathEscape(cl.ClaimID), nil, http.StatusOK).JSON(t, &one)
	if one.ClaimID != cl.ClaimID || one.Status != events.ClaimPending || one.Chain != "base" {
		t.Errorf("one claim: %+v", one)
	}
	// A browser's encodeURIComponent escapes the id's colons too.
	var escaped events.CryptoClaimV1
	c.Must(http.MethodGet, "/api/crypto/claims/"+strings.ReplaceAll(url.PathEscape(cl.ClaimID), ":", "%3A"), nil, http.StatusOK).JSON(t, &escaped)
	if escaped.ClaimID != cl.ClaimID {
		t.Errorf("claim by its fully escaped id: %+v", escaped)
	}
	c.Must(http.MethodGet, "/api/crypto/claims/"+url.PathEscape(cryptopay.ClaimID("base", "0x"+strings.Repeat("00", 32), m.AccountID)), nil, http.StatusNotFound)
}

// TestCrypto_AnotherUserCannotSeeOrUseSomeonesWalletOrClaim: wallets and
// claims are the session account's; the body cannot name another.
func TestCrypto_AnotherUserCannotSeeOrUseSomeonesWalletOrClaim(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	startPayments(t, h)
	alice, am := h.signIn("alice@example.com")
	bob, bm := h.signIn("bob@example.com")
	aw, bw := newWallet(t), newWallet(t)
	tx := "0x" + strings.Repeat("a1", 32)
	linkWallet(t, alice, aw)
	var cl claimOut
	alice.Must(http.MethodPost, "/api/crypto/claims", map[string]string{"chain": "base", "tx_hash": tx}, http.StatusAccepted).JSON(t, &cl)

	// Bob sees none of it.
	body := string(bob.Must(http.MethodGet, "/api/crypto", nil, http.StatusOK).Body)
	for _, alices := range []string{am.AccountID, strings.ToLower(aw.addr), tx, cl.ClaimID} {
		if strings.Contains(body, alices) {
			t.Errorf("GET /api/crypto shows Bob something of Alice's (%s): %s", alices, body)
		}
	}
	got := bob.Do(http.MethodGet, "/api/crypto/claims/"+url.PathEscape(cl.ClaimID), nil)
	missing := bob.Do(http.MethodGet, "/api/crypto/claims/"+url.PathEscape(cryptopay.ClaimID("base", tx, "acc_missing")), nil)
	if got.Status != http.StatusNotFound || got.Status != missing.Status || string(got.Body) != string(missing.Body) {
		t.Errorf("Alice's claim for Bob: %d %s; a missing one: %d %s", got.Status, got.Body, missing.Status, missing.Body)
	}

	// Bob cannot link Alice's wallet: not with a nonce of his (he cannot
	// sign it), not with Alice's nonce and signature.
	var an nonceOut
	alice.Must(http.MethodPost, "/api/crypto/wallets/nonce", map[string]string{"address": aw.addr}, http.StatusCreated).JSON(t, &an)
	r := bob.Must(http.MethodPost, "/api/crypto/wallets", map[string]string{"address": aw.addr, "nonce": an.Nonce, "signature": aw.sign(t, an.Message), "account_id": am.AccountID}, http.StatusBadRequest)
	if code := errCode(t, r); code != events.CodeNonceInvalid {
		t.Errorf("Alice's nonce used by Bob: %s", r.Body)
	}
	var bn nonceOut
	bob.Must(http.MethodPost, "/api/crypto/wallets/nonce", map[string]string{"address": aw.addr}, http.StatusCreated).JSON(t, &bn)
	if !strings.Contains(bn.Message, bm.AccountID) || strings.Contains(bn.Message, am.AccountID) {
		t.Fatalf("Bob's message: %q", bn.Message)
	}
	r = bob.Must(http.MethodPost, "/api/crypto/wallets", map[string]string{"address": aw.addr, "nonce": bn.Nonce, "signature": bw.sign(t, bn.Message)}, http.StatusBadRequest)
	if code := errCode(t, r); code != events.CodeBadSignature {
		t.Errorf("Bob signing for Alice's wallet: %s", r.Body)
	}
	// Had Alice's wallet signed Bob's message, it is still Alice's.
	r = bob.Must(http.MethodPost, "/api/crypto/wallets", map[string]string{"address": aw.addr, "nonce": bn.Nonce, "signature": aw.sign(t, bn.Message)}, http.StatusConflict)
	if code := errCode(t, r); code != events.CodeWalletTaken {
		t.Errorf("a wallet linked elsewhere: %s", r.Body)
	}

	// Bob cannot claim Alice's transaction, even with a wallet of his own.
	linkWallet(t, bob, bw)
	r = bob.Must(http.MethodPost, "/api/crypto/claims", map[string]string{"chain": "base", "tx_hash": tx, "account_id": am.AccountID}, http.StatusConflict)
	if code := errCode(t, r); code != events.CodeAlreadyClaimed {
		t.Errorf("Alice's transaction claimed by Bob: %s", r.Body)
	}

	var ov cryptoOut
	alice.Must(http.MethodGet, "/api/crypto", nil, http.StatusOK).JSON(t, &ov)
	if len(ov.Wallets) != 1 || ov.Wallets[0] != strings.ToLower(aw.addr) || len(ov.Claims) != 1 || ov.Claims[0].ClaimID != cl.ClaimID || ov.Claims[0].Status != events.ClaimPending {
		t.Errorf("Alice's crypto changed: %+v", ov)
	}
	bob.Must(http.MethodGet, "/api/crypto", nil, http.StatusOK).JSON(t, &ov)
	if len(ov.Wallets) != 1 || ov.Wallets[0] != strings.ToLower(bw.addr) || len(ov.Claims) != 0 {
		t.Errorf("Bob's crypto: %+v", ov)
	}
}

func TestCrypto_StateChangingRoutesNeedTheCSRFToken(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	startPayments(t, h)
	c, _ := h.signIn("chen@example.com")
	w := newWallet(t)
	var n nonceOut
	c.Must(http.MethodPost, "/api/crypto/wallets/nonce", map[string]string{"address": w.addr}, http.StatusCreated).JSON(t, &n)

	token := c.CSRF
	link := map[string]string{"address": w.addr, "nonce": n.Nonce, "signature": w.sign(t, n.Message)}
	claim := map[string]string{"chain": "base", "tx_hash": "0x" + strings.Repeat("0d", 32)}
	for _, csrf := range []string{"", "wrong"} {
		c.CSRF = csrf
		for path, body := range map[string]any{"/api/crypto/wallets/nonce": map[string]string{"address": w.addr}, "/api/crypto/wallets": link, "/api/crypto/claims": claim} {
			if r := c.Must(http.MethodPost, path, body, http.StatusForbidden); errCode(t, r) != "csrf" {
				t.Errorf("POST %s with CSRF token %q: %s", path, csrf, r.Body)
			}
		}
	}
	// A cross-site request is refused even with the token.
	c.CSRF = token
	c.Header.Set("Sec-Fetch-Site", "cross-site")
	c.Must(http.MethodPost, "/api/crypto/wallets", link, http.StatusForbidden)
	c.Header.Del("Sec-Fetch-Site")

	var ov cryptoOut
	c.Must(http.MethodGet, "/api/crypto", nil, http.StatusOK).JSON(t, &ov)
	if len(ov.Wallets) != 0 || len(ov.Claims) != 0 {
		t.Fatalf("a refused request changed something: %+v", ov)
	}
	// With the token the same link works: the nonce was not spent.
	c.Must(http.MethodPost, "/api/crypto/wallets", link, http.StatusCreated)
}

// TestCrypto_ARejectedClaimShowsItsReasonAndClaimingAgainReopensIt polls a
// claim through the API while payments closes it on tx.rejected.
func TestCrypto_ARejectedClaimShowsItsReasonAndClaimingAgainReopensIt(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	startPayments(t, h)
	c, m := h.signIn("fay@example.com")
	linkWallet(t, c, newWallet(t))
	tx := "0x" + strings.Repeat("5e", 32)
	var cl claimOut
	c.Must(http.MethodPost, "/api/crypto/claims", map[string]string{"chain": "base", "tx_hash": tx}, http.StatusAccepted).JSON(t, &cl)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := h.nats.ConnectAs(t, bus.UserChainwatcher).Publish(ctx, events.TxRejectedV1{V: 1, ID: cryptopay.RejectionID(cl.ClaimID, 0), Time: time.Now().UTC(),
		AccountID: m.AccountID, ClaimID: cl.ClaimID, Chain: "base", TxHash: tx, Reason: events.RejectWrongSender}); err != nil {
		t.Fatal(err)
	}
	var got events.CryptoClaimV1
	e2estack.WaitWithin(t, 30*time.Second, "claim rejected", func() bool {
		c.Must(http.MethodGet, "/api/crypto/claims/"+url.PathEscape(cl.ClaimID), nil, http.StatusOK).JSON(t, &got)
		return got.Status == events.ClaimRejected
	})
	if got.Reason != events.RejectWrongSender {
		t.Errorf("rejected claim: %+v", got)
	}
	var again claimOut
	c.Must(http.MethodPost, "/api/crypto/claims", map[string]string{"chain": "base", "tx_hash": tx}, http.StatusAccepted).JSON(t, &again)
	if again.ClaimID != cl.ClaimID || again.Status != events.ClaimPending {
		t.Errorf("claimed again: %+v", again)
	}
}
