package auth_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/nats-io/nats.go"

	"github.com/onekey-oss/onekey/api/cryptopay"
	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/services/auth/internal/httpapi"
)

// The tests of the crypto routes that need payments to answer (linking a
// wallet, claiming a transaction) run it for real in e2e/auth; these check
// what auth does alone: payments silent, in trouble, or asked too often.

const depositBase = "0x00000000000000000000000000000000000000aa"

// newAddress is a new wallet's checksummed address, as wallets show it.
func newAddress(t *testing.T) string {
	t.Helper()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return crypto.PubkeyToAddress(key.PublicKey).Hex()
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

func TestCrypto_PaymentsNotAnsweringIs503(t *testing.T) {
	t.Parallel()
	h := newHarness(t) // no payments service on the bus
	c, _ := h.signIn("dara@example.com")
	addr := newAddress(t)
	for _, r := range []struct {
		method, path string
		body         any
	}{
		{http.MethodGet, "/api/crypto", nil},
		{http.MethodGet, "/api/crypto/claims/" + url.PathEscape(cryptopay.ClaimID("base", "0x"+strings.Repeat("11", 32), "acc_x")), nil},
		{http.MethodPost, "/api/crypto/wallets/nonce", map[string]string{"address": addr}},
		{http.MethodPost, "/api/crypto/wallets", map[string]string{"address": addr, "nonce": "n", "signature": "0x00"}},
		{http.MethodPost, "/api/crypto/claims", map[string]string{"chain": "base", "tx_hash": "0x" + strings.Repeat("11", 32)}},
	} {
		got := c.Must(r.method, r.path, r.body, http.StatusServiceUnavailable)
		if code := errCode(t, got); code != "unavailable" {
			t.Errorf("%s %s: %s", r.method, r.path, got.Body)
		}
	}
}

// TestCrypto_PaymentsTroubleIs503AndARefusalKeepsItsCode answers as a
// payments in trouble would: "unavailable" is a 503, whatever its message.
func TestCrypto_PaymentsTroubleIs503AndARefusalKeepsItsCode(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c, _ := h.signIn("eli@example.com")
	reply := func(subject string, rep any) {
		sub, err := h.bus.Conn().Subscribe(subject, func(msg *nats.Msg) {
			raw, _ := json.Marshal(rep)
			_ = msg.Respond(raw)
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sub.Unsubscribe() })
	}
	reply(events.SubjectCryptoInfo, events.CryptoInfoReplyV1{V: 1, Chains: []events.CryptoChainV1{{Chain: "base", DepositAddress: depositBase, Tokens: []string{"USDC"}}}})
	reply(events.SubjectCryptoStatus, events.CryptoStatusReplyV1{V: 1, Code: events.CodeUnavailable, Error: "db: connection refused"})
	reply(events.SubjectCryptoClaim, events.CryptoClaimReplyV1{V: 1, Code: "something_new", Error: "internal detail"})
	reply(events.SubjectWalletNonce, events.WalletNonceReplyV1{V: 1, Code: events.CodeBadRequest, Error: "this account is deleted"})
	if err := h.bus.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	r := c.Must(http.MethodGet, "/api/crypto", nil, http.StatusServiceUnavailable)
	if errCode(t, r) != "unavailable" || strings.Contains(string(r.Body), "connection refused") {
		t.Errorf("payments unavailable: %s", r.Body)
	}
	r = c.Must(http.MethodPost, "/api/crypto/claims", map[string]string{"chain": "base", "tx_hash": "0x" + strings.Repeat("22", 32)}, http.StatusServiceUnavailable)
	if errCode(t, r) != "unavailable" || strings.Contains(string(r.Body), "internal detail") {
		t.Errorf("unknown code: %s", r.Body)
	}
	r = c.Must(http.MethodPost, "/api/crypto/wallets/nonce", map[string]string{"address": newAddress(t)}, http.StatusBadRequest)
	if errCode(t, r) != "invalid_request" || !strings.Contains(string(r.Body), "this account is deleted") {
		t.Errorf("refusal: %s", r.Body)
	}
}

// TestCrypto_WalletAndClaimRequestsAreRateLimitedPerAccount: every claim
// has chainwatcher query a chain, so an account cannot make them without
// bound; another account is not affected.
func TestCrypto_WalletAndClaimRequestsAreRateLimitedPerAccount(t *testing.T) {
	t.Parallel()
	h := newHarness(t) // no payments: each allowed request is a quick 503
	c, _ := h.signIn("gil@example.com")
	other, _ := h.signIn("hana@example.com")
	claim := map[string]string{"chain": "base", "tx_hash": "0x" + strings.Repeat("33", 32)}
	nonce := map[string]string{"address": newAddress(t)}
	for i := range httpapi.CryptoWritesPerHour {
		body, path := any(claim), "/api/crypto/claims"
		if i%2 == 0 {
			body, path = nonce, "/api/crypto/wallets/nonce"
		}
		c.Must(http.MethodPost, path, body, http.StatusServiceUnavailable)
	}
	r := c.Must(http.MethodPost, "/api/crypto/claims", claim, http.StatusTooManyRequests)
	if errCode(t, r) != "rate_limited" || r.Header.Get("Retry-After") == "" {
		t.Errorf("over the limit: %v %s", r.Header, r.Body)
	}
	c.Must(http.MethodPost, "/api/crypto/wallets/nonce", nonce, http.StatusTooManyRequests)
	c.Must(http.MethodGet, "/api/crypto", nil, http.StatusServiceUnavailable) // reading is not limited
	other.Must(http.MethodPost, "/api/crypto/claims", claim, http.StatusServiceUnavailable)
	h.clock.Advance(time.Hour + time.Second)
	c.Must(http.MethodPost, "/api/crypto/claims", claim, http.StatusServiceUnavailable)
}
