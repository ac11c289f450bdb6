package events

import "time"

// Request/reply subjects of crypto payments (core NATS, not streamed). The
// account API (auth) asks; payments answers. Replies carry Code and Error
// instead of a NATS error so the caller can show a person what went wrong.
const (
	// SubjectCryptoInfo lists the supported chains, their deposit address
	// and tokens.
	SubjectCryptoInfo = "payments.crypto.info"
	// SubjectWalletNonce starts linking a wallet: it returns the message
	// the wallet must sign (EIP-191 personal_sign).
	SubjectWalletNonce = "payments.wallet.nonce"
	// SubjectWalletLink finishes linking a wallet with the signature.
	SubjectWalletLink = "payments.wallet.link"
	// SubjectCryptoClaim claims a transaction hash for an account.
	SubjectCryptoClaim = "payments.crypto.claim"
	// SubjectCryptoStatus lists an account's linked wallets and claims
	// (read-only: use it to poll a claim, not SubjectCryptoClaim, which
	// reopens a rejected claim).
	SubjectCryptoStatus = "payments.crypto.status"
)

// Reply codes shared by the crypto replies (besides "" for success).
const (
	CodeBadRequest     = "bad_request"
	CodeUnavailable    = "unavailable"
	CodeUnsupported    = "unsupported_chain"
	CodeNonceInvalid   = "nonce_invalid"
	CodeBadSignature   = "bad_signature"
	CodeWalletTaken    = "wallet_linked_elsewhere"
	CodeAlreadyClaimed = "already_claimed"
	CodeNoWallet       = "no_linked_wallet"
	// CodeTooManyClaims: the account has as many pending claims as it may
	// (payments' PAYMENTS_MAX_PENDING_CLAIMS).
	CodeTooManyClaims = "too_many_pending_claims"
)

// Claim statuses.
const (
	ClaimPending   = "pending"
	ClaimConfirmed = "confirmed"
	ClaimRejected  = "rejected"
)

// Reasons carried by TxRejectedV1.
const (
	RejectReverted        = "reverted"         // the transaction failed on chain
	RejectWrongToken      = "wrong_token"      // a transfer to us, but of a token we do not accept
	RejectWrongRecipient  = "wrong_recipient"  // an accepted token, sent to another address
	RejectWrongSender     = "wrong_sender"     // sent from a wallet not linked to the claiming account
	RejectNoTransfer      = "no_transfer"      // no ERC-20 Transfer in the transaction
	RejectRemoved         = "removed"          // seen, then dropped by a reorg and not seen again in time
	RejectTimeout         = "timeout"          // never found, or never final, in time
	RejectAlreadyCredited = "already_credited" // the transfer was credited to another claim
	RejectAmount          = "bad_amount"       // not a whole number of micro-USD, or zero
)

// CryptoInfoRequestV1 asks for the supported chains.
type CryptoInfoRequestV1 struct {
	V int `json:"v"`
}

// CryptoChainV1 is one supported chain.
type CryptoChainV1 struct {
	Chain          string   `json:"chain"`
	DepositAddress string   `json:"deposit_address"`
	Tokens         []string `json:"tokens"` // "USDC", "USDT"
}

// CryptoInfoReplyV1 answers CryptoInfoRequestV1.
type CryptoInfoReplyV1 struct {
	V      int             `json:"v"`
	Chains []CryptoChainV1 `json:"chains"`
	Code   string          `json:"code,omitempty"`
	Error  string          `json:"error,omitempty"`
}

// WalletNonceRequestV1 asks for a message for Address to sign, linking it
// to AccountID.
type WalletNonceRequestV1 struct {
	V         int    `json:"v"`
	AccountID string `json:"account_id"`
	Address   string `json:"address"`
}

// WalletNonceReplyV1 carries the exact text to sign with personal_sign.
type WalletNonceReplyV1 struct {
	V         int       `json:"v"`
	Message   string    `json:"message,omitempty"`
	Nonce     string    `json:"nonce,omitempty"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	Code      string    `json:"code,omitempty"`
	Error     string    `json:"error,omitempty"`
}

// WalletLinkRequestV1 proves control of Address: Signature is the
// 65-byte personal_sign signature (0x-hex) of the message for Nonce.
type WalletLinkRequestV1 struct {
	V         int    `json:"v"`
	AccountID string `json:"account_id"`
	Address   string `json:"address"`
	Nonce     string `json:"nonce"`
	Signature string `json:"signature"`
}

// WalletLinkReplyV1 answers WalletLinkRequestV1.
type WalletLinkReplyV1 struct {
	V       int    `json:"v"`
	Address string `json:"address,omitempty"` // lower-case, when linked
	Code    string `json:"code,omitempty"`
	Error   string `json:"error,omitempty"`
}

// CryptoClaimRequestV1 claims that the transaction TxHash on Chain paid
// AccountID. Payments records it; chainwatcher confirms or rejects it.
type CryptoClaimRequestV1 struct {
	V         int    `json:"v"`
	AccountID string `json:"account_id"`
	Chain     string `json:"chain"`
	TxHash    string `json:"tx_hash"`
}

// CryptoClaimReplyV1 answers CryptoClaimRequestV1.
type CryptoClaimReplyV1 struct {
	V       int    `json:"v"`
	ClaimID string `json:"claim_id,omitempty"`
	Status  string `json:"status,omitempty"` // ClaimPending, ClaimConfirmed, ClaimRejected
	Reason  string `json:"reason,omitempty"` // when rejected
	Code    string `json:"code,omitempty"`
	Error   string `json:"error,omitempty"`
}

// CryptoStatusRequestV1 asks for an account's wallets and claims.
type CryptoStatusRequestV1 struct {
	V         int    `json:"v"`
	AccountID string `json:"account_id"`
}

// CryptoClaimV1 is one claim as the account may see it.
type CryptoClaimV1 struct {
	ClaimID   string    `json:"claim_id"`
	Chain     string    `json:"chain"`
	TxHash    string    `json:"tx_hash"`
	Status    string    `json:"status"`
	Reason    string    `json:"reason,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// CryptoStatusReplyV1 answers CryptoStatusRequestV1, newest claims first
// (at most 100).
type CryptoStatusReplyV1 struct {
	V       int             `json:"v"`
	Wallets []string        `json:"wallets"` // lower-case addresses
	Claims  []CryptoClaimV1 `json:"claims"`
	Code    string          `json:"code,omitempty"`
	Error   string          `json:"error,omitempty"`
}
