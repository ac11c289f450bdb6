package httpapi

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/onekey-oss/onekey/api/cryptopay"
	"github.com/onekey-oss/onekey/api/events"
)

// Crypto payments: payments (NATS request/reply) keeps the wallet links and
// claims and chainwatcher confirms them on chain; these routes only ask
// payments for the caller's account. The account id always comes from the
// session, never from the request.

// CryptoWritesPerHour bounds an account's wallet-link and claim requests
// (together) in any hour.
const CryptoWritesPerHour = 60

// cryptoWrite is the gate of a state-changing crypto request: payments is
// configured, and the account is within its rate limit.
func (a *API) cryptoWrite(c echo.Context) error {
	if a.crypto == nil {
		return fail(http.StatusServiceUnavailable, "unavailable", "crypto payments are not available")
	}
	if !a.cryptoAcc.Allow(user(c).ID) {
		c.Response().Header().Set("Retry-After", "3600")
		return fail(http.StatusTooManyRequests, "rate_limited", "too many wallet or claim requests; try again later")
	}
	return nil
}

// CryptoOverview answers GET /api/crypto.
type CryptoOverview struct {
	Chains  []events.CryptoChainV1 `json:"chains"`
	Wallets []string               `json:"wallets"`
	Claims  []events.CryptoClaimV1 `json:"claims"`
}

// ClaimAnswer answers POST /api/crypto/claims.
type ClaimAnswer struct {
	ClaimID string `json:"claim_id"`
	Chain   string `json:"chain"`
	TxHash  string `json:"tx_hash"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
}

// cryptoDown is the answer when payments does not answer.
func (a *API) cryptoDown(what string, err error) error {
	a.log.Warn("crypto request failed", "request", what, "err", err)
	return fail(http.StatusServiceUnavailable, "unavailable", "crypto payments are not available right now")
}

// cryptoRefused maps a refusal of payments (a reply's Code) to the API's
// error: the person's mistake is a 400, a conflict with what is already
// recorded a 409, payments' own trouble a 503.
func cryptoRefused(code, msg string) error {
	status := http.StatusBadRequest
	switch code {
	case events.CodeBadRequest:
		code = "invalid_request"
	case events.CodeUnsupported, events.CodeNonceInvalid, events.CodeBadSignature:
	case events.CodeWalletTaken, events.CodeAlreadyClaimed, events.CodeNoWallet, events.CodeTooManyClaims:
		status = http.StatusConflict
	default: // CodeUnavailable, or a code this version does not know
		status, code = http.StatusServiceUnavailable, "unavailable"
		msg = "crypto payments are not available right now"
	}
	if msg == "" {
		msg = strings.ReplaceAll(code, "_", " ")
	}
	return fail(status, code, msg)
}

func (a *API) cryptoStatus(c echo.Context) (events.CryptoStatusReplyV1, error) {
	if a.crypto == nil {
		return events.CryptoStatusReplyV1{}, fail(http.StatusServiceUnavailable, "unavailable", "crypto payments are not available")
	}
	rep, err := a.crypto.Status(c.Request().Context(), events.CryptoStatusRequestV1{V: 1, AccountID: user(c).ID})
	if err != nil {
		return rep, a.cryptoDown("status", err)
	}
	if rep.Code != "" {
		return rep, cryptoRefused(rep.Code, rep.Error)
	}
	if rep.Wallets == nil {
		rep.Wallets = []string{}
	}
	if rep.Claims == nil {
		rep.Claims = []events.CryptoClaimV1{}
	}
	return rep, nil
}

// cryptoOverview answers the supported chains (deposit address, tokens)
// and the caller's linked wallets and newest claims.
func (a *API) cryptoOverview(c echo.Context) error {
	if a.crypto == nil {
		return fail(http.StatusServiceUnavailable, "unavailable", "crypto payments are not available")
	}
	info, err := a.crypto.Info(c.Request().Context(), events.CryptoInfoRequestV1{V: 1})
	if err != nil {
		return a.cryptoDown("info", err)
	}
	if info.Code != "" {
		return cryptoRefused(info.Code, info.Error)
	}
	st, err := a.cryptoStatus(c)
	if err != nil {
		return err
	}
	out := CryptoOverview{Chains: info.Chains, Wallets: st.Wallets, Claims: st.Claims}
	if out.Chains == nil {
		out.Chains = []events.CryptoChainV1{}
	}
	return c.JSON(http.StatusOK, out)
}

// cryptoClaim answers one of the caller's claims (to poll it): someone
// else's claim is a 404, as a missing one.
func (a *API) cryptoClaim(c echo.Context) error {
	// The router leaves escapes in path values; a browser's
	// encodeURIComponent escapes the id's colons.
	id, err := url.PathUnescape(c.Param("claim"))
	if err != nil {
		return fail(http.StatusNotFound, "not_found", "not found")
	}
	st, err := a.cryptoStatus(c)
	if err != nil {
		return err
	}
	for _, cl := range st.Claims {
		if cl.ClaimID == id {
			return c.JSON(http.StatusOK, cl)
		}
	}
	return fail(http.StatusNotFound, "not_found", "not found")
}

// walletNonce starts linking a wallet: the answer's message is what the
// wallet signs with personal_sign.
func (a *API) walletNonce(c echo.Context) error {
	var b struct {
		Address string `json:"address"`
	}
	if err := bind(c, &b); err != nil {
		return err
	}
	if !cryptopay.IsAddress(b.Address) {
		return fail(http.StatusBadRequest, "invalid_request", "address must be a 0x wallet address")
	}
	if err := a.cryptoWrite(c); err != nil {
		return err
	}
	rep, err := a.crypto.Nonce(c.Request().Context(), events.WalletNonceRequestV1{V: 1, AccountID: user(c).ID, Address: b.Address})
	if err != nil {
		return a.cryptoDown("nonce", err)
	}
	if rep.Code != "" || rep.Message == "" {
		return cryptoRefused(rep.Code, rep.Error)
	}
	return c.JSON(http.StatusCreated, map[string]any{"message": rep.Message, "nonce": rep.Nonce, "expires_at": rep.ExpiresAt})
}

// linkWallet finishes linking a wallet with its signature of the message.
func (a *API) linkWallet(c echo.Context) error {
	var b struct {
		Address   string `json:"address"`
		Nonce     string `json:"nonce"`
		Signature string `json:"signature"`
	}
	if err := bind(c, &b); err != nil {
		return err
	}
	if !cryptopay.IsAddress(b.Address) || b.Nonce == "" || b.Signature == "" {
		return fail(http.StatusBadRequest, "invalid_request", "need address, nonce and signature")
	}
	if err := a.cryptoWrite(c); err != nil {
		return err
	}
	rep, err := a.crypto.Link(c.Request().Context(), events.WalletLinkRequestV1{
		V: 1, AccountID: user(c).ID, Address: b.Address, Nonce: b.Nonce, Signature: b.Signature,
	})
	if err != nil {
		return a.cryptoDown("link", err)
	}
	if rep.Code != "" || rep.Address == "" {
		return cryptoRefused(rep.Code, rep.Error)
	}
	return c.JSON(http.StatusCreated, map[string]string{"address": rep.Address})
}

// claimTx records the caller's claim that a transaction paid them; it is
// pending until chainwatcher confirms or rejects it (poll it with GET
// /api/crypto/claims/{claim}). Claiming a rejected claim again reopens it.
func (a *API) claimTx(c echo.Context) error {
	var b struct {
		Chain  string `json:"chain"`
		TxHash string `json:"tx_hash"`
	}
	if err := bind(c, &b); err != nil {
		return err
	}
	if b.Chain == "" || !cryptopay.IsTxHash(b.TxHash) {
		return fail(http.StatusBadRequest, "invalid_request", "need chain and a 0x transaction hash")
	}
	if err := a.cryptoWrite(c); err != nil {
		return err
	}
	rep, err := a.crypto.Claim(c.Request().Context(), events.CryptoClaimRequestV1{V: 1, AccountID: user(c).ID, Chain: b.Chain, TxHash: b.TxHash})
	if err != nil {
		return a.cryptoDown("claim", err)
	}
	if rep.Code != "" || rep.ClaimID == "" {
		return cryptoRefused(rep.Code, rep.Error)
	}
	return c.JSON(http.StatusAccepted, ClaimAnswer{
		ClaimID: rep.ClaimID, Chain: b.Chain, TxHash: strings.ToLower(b.TxHash), Status: rep.Status, Reason: rep.Reason,
	})
}
