// Package cryptopay is the contract between payments, which records wallet
// links and claims, and chainwatcher, which confirms claims on chain: the
// supported chains and tokens (read from the environment the same way by
// both), the collections they share and the text a wallet signs.
//
// Stored per crypto payment: wallet address, transaction hash, chain, token
// and amount (the privacy policy's list), with the account it credits and
// its status; nothing more.
package cryptopay

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/onekey-oss/onekey/api/money"
)

// Collections (database MONGODB_DB). Payments writes wallets, nonces and
// claims; chainwatcher reads wallets and claims, writes claim outcomes and
// the credits collection.
const (
	// CollWallets: _id = lower-case address; one account per address.
	CollWallets = "crypto_wallets"
	// CollNonces: _id = nonce; swept by expires_at.
	CollNonces = "crypto_nonces"
	// CollNonceUses: _id = nonce; the unique insert that spends a nonce once.
	CollNonceUses = "crypto_nonce_uses"
	// CollClaims: _id = ClaimID(chain, tx, account).
	CollClaims = "crypto_claims"
	// CollCredits: _id = events.ChainTxID(chain id, tx, log index) (older
	// credits: events.TxID(chain name, tx, log index)); the unique insert
	// that lets a transfer be credited once, to one account, ever.
	CollCredits = "crypto_credits"
)

// Wallet is a linked wallet.
type Wallet struct {
	Address   string    `bson:"_id"`
	AccountID string    `bson:"account_id"`
	LinkedAt  time.Time `bson:"linked_at"`
}

// Nonce is an outstanding wallet-link challenge.
type Nonce struct {
	Nonce     string    `bson:"_id"`
	AccountID string    `bson:"account_id"`
	Address   string    `bson:"address"`
	ExpiresAt time.Time `bson:"expires_at"`
}

// Claim is an account's claim that a transaction paid it. Status is one of
// events.ClaimPending, ClaimConfirmed, ClaimRejected.
type Claim struct {
	ID        string `bson:"_id"`
	AccountID string `bson:"account_id"`
	Chain     string `bson:"chain"`
	TxHash    string `bson:"tx_hash"`
	Status    string `bson:"status"`
	Reason    string `bson:"reason,omitempty"`
	// Attempt grows each time a rejected claim is made again, so each
	// rejection has its own event id.
	Attempt int `bson:"attempt"`
	// SeenBlock is the block hash the transaction was last seen in, so a
	// reorg that drops it is told apart from a hash never found.
	SeenBlock string    `bson:"seen_block,omitempty"`
	CreatedAt time.Time `bson:"created_at"`
	UpdatedAt time.Time `bson:"updated_at"`
}

// Credit is one transfer credited to an account.
type Credit struct {
	ID           string    `bson:"_id"` // eip155:<chain id>:tx:log (older: <chain name>:tx:log)
	ChainID      uint64    `bson:"chain_id,omitempty"`
	AccountID    string    `bson:"account_id"`
	ClaimID      string    `bson:"claim_id"`
	Chain        string    `bson:"chain"`
	TxHash       string    `bson:"tx_hash"`
	LogIndex     uint      `bson:"log_index"`
	Token        string    `bson:"token"`
	From         string    `bson:"from"` // the wallet address
	AmountMicros int64     `bson:"amount_micros"`
	CreatedAt    time.Time `bson:"created_at"`
}

// ClaimID is the id of account's claim of tx on chain: one claim per
// account and transaction, so claiming again returns the same claim.
func ClaimID(chain, txHash, accountID string) string {
	return chain + ":" + strings.ToLower(txHash) + ":" + accountID
}

// RejectionID is the id of the tx.rejected event for one attempt of a
// claim, so that a claim made again after a rejection can be rejected again.
func RejectionID(claimID string, attempt int) string {
	return "tx.rejected:" + claimID + ":" + strconv.Itoa(attempt)
}

// RejectionAttempt reads the attempt back from a RejectionID.
func RejectionAttempt(id string) (int, bool) {
	i := strings.LastIndexByte(id, ':')
	if !strings.HasPrefix(id, "tx.rejected:") || i < 0 {
		return 0, false
	}
	n, err := strconv.Atoi(id[i+1:])
	return n, err == nil && n >= 0
}

// LinkMessage is the exact text a wallet signs (EIP-191 personal_sign) to
// link address to account. It names the account, the address and a
// single-use nonce with its expiry, so a signature cannot be replayed for
// another account or after it expired.
func LinkMessage(accountID, address, nonce string, expires time.Time) string {
	return "OneKey: link this wallet to my account.\n\n" +
		"Account: " + accountID + "\n" +
		"Wallet: " + strings.ToLower(address) + "\n" +
		"Nonce: " + nonce + "\n" +
		"Expires: " + expires.UTC().Format(time.RFC3339) + "\n"
}

// Finality rules: which block tag a transfer's block must be at or below
// before it is credited.
const (
	Finalized = "finalized"
	Safe      = "safe"
)

// Token is an accepted ERC-20 on one chain.
type Token struct {
	Symbol   string // "USDC"
	Contract string // lower-case 0x address
	Decimals int
}

// Chain is one supported chain.
type Chain struct {
	Name           string // "ethereum", "base": a NATS subject token, lower-case
	RPCURL         string
	DepositAddress string // lower-case 0x address
	Tokens         []Token
	// Finality is the rule for amounts at or above SafeBelow (or all
	// amounts when SafeBelow is 0): Finalized (default) or Safe.
	Finality string
	// SafeBelow, when positive, lets amounts below it be credited at the
	// "safe" block rather than waiting for "finalized".
	SafeBelow money.Micros
	// ChainID is the chain's EIP-155 id (CHAIN_<NAME>_CHAIN_ID), part of
	// every credit's id. 0: chainwatcher asks the RPC endpoint (eth_chainId);
	// when set, chainwatcher checks that the endpoint serves this chain.
	ChainID uint64
}

// TokenByContract returns the accepted token at contract (any case).
func (c Chain) TokenByContract(contract string) (Token, bool) {
	contract = strings.ToLower(contract)
	for _, t := range c.Tokens {
		if t.Contract == contract {
			return t, true
		}
	}
	return Token{}, false
}

// Rule is the block tag an amount must reach.
func (c Chain) Rule(amount money.Micros) string {
	if c.SafeBelow > 0 && amount < c.SafeBelow {
		return Safe
	}
	if c.Finality == "" {
		return Finalized
	}
	return c.Finality
}

// ChainsFromEnv reads the supported chains:
//
//	CRYPTO_CHAINS=ethereum,base                        (none: crypto off)
//	CHAIN_<NAME>_RPC_URL=https://...                   (required by chainwatcher)
//	CHAIN_<NAME>_DEPOSIT_ADDRESS=0x...                 (required)
//	CHAIN_<NAME>_TOKENS=USDC:0x...:6,USDT:0x...:6      (required; symbol:contract:decimals)
//	CHAIN_<NAME>_FINALITY=finalized|safe               (default finalized)
//	CHAIN_<NAME>_SAFE_BELOW_USD=100.00                 (default 0: always the rule above)
//	CHAIN_<NAME>_CHAIN_ID=8453                         (default: the RPC endpoint's eth_chainId)
//
// Decimals are always given, never assumed. Every problem is reported.
func ChainsFromEnv(getenv func(string) string) ([]Chain, error) {
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	get := func(k string) string { return strings.TrimSpace(getenv(k)) }
	var out []Chain
	seen := map[string]bool{}
	for _, name := range strings.Split(get("CRYPTO_CHAINS"), ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" {
			continue
		}
		if strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") != "" {
			fail("CRYPTO_CHAINS: chain name %q: use letters, digits, '-' and '_'", name)
			continue
		}
		if seen[name] {
			fail("CRYPTO_CHAINS: %s listed twice", name)
			continue
		}
		seen[name] = true
		p := "CHAIN_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")) + "_"
		c := Chain{Name: name, RPCURL: get(p + "RPC_URL"), Finality: strings.ToLower(get(p + "FINALITY"))}
		if c.Finality == "" {
			c.Finality = Finalized
		}
		if c.Finality != Finalized && c.Finality != Safe {
			fail("%sFINALITY=%q: want finalized or safe", p, c.Finality)
		}
		if a := get(p + "DEPOSIT_ADDRESS"); !IsAddress(a) {
			fail("%sDEPOSIT_ADDRESS=%q: want a 0x address of 40 hex digits", p, a)
		} else {
			c.DepositAddress = strings.ToLower(a)
		}
		if v := get(p + "SAFE_BELOW_USD"); v != "" {
			m, err := money.Parse(v)
			if err != nil || m < 0 {
				fail("%sSAFE_BELOW_USD=%q: want a dollar amount such as 100.00", p, v)
			}
			c.SafeBelow = m
		}
		if v := get(p + "CHAIN_ID"); v != "" {
			id, err := strconv.ParseUint(v, 10, 64)
			if err != nil || id == 0 {
				fail("%sCHAIN_ID=%q: want the chain's EIP-155 id, e.g. 8453", p, v)
			}
			c.ChainID = id
		}
		tokens := get(p + "TOKENS")
		if tokens == "" {
			fail("%sTOKENS is required (symbol:contract:decimals, comma-separated)", p)
		}
		for _, spec := range strings.Split(tokens, ",") {
			spec = strings.TrimSpace(spec)
			if spec == "" {
				continue
			}
			parts := strings.Split(spec, ":")
			if len(parts) != 3 {
				fail("%sTOKENS: %q: want symbol:contract:decimals", p, spec)
				continue
			}
			t := Token{Symbol: strings.ToUpper(parts[0]), Contract: strings.ToLower(parts[1])}
			if t.Symbol == "" || strings.Trim(t.Symbol, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
				fail("%sTOKENS: %q: bad symbol", p, spec)
			}
			if !IsAddress(t.Contract) {
				fail("%sTOKENS: %q: bad contract address", p, spec)
			}
			n, err := fmt.Sscanf(parts[2], "%d", &t.Decimals)
			if err != nil || n != 1 || t.Decimals < 0 || t.Decimals > 36 || fmt.Sprint(t.Decimals) != parts[2] {
				fail("%sTOKENS: %q: decimals must be a whole number 0..36", p, spec)
			}
			if _, dup := c.TokenByContract(t.Contract); dup {
				fail("%sTOKENS: contract %s listed twice", p, t.Contract)
			}
			c.Tokens = append(c.Tokens, t)
		}
		out = append(out, c)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("crypto config: %s", strings.Join(errs, "; "))
	}
	return out, nil
}

// IsAddress reports whether s is 0x followed by 40 hex digits.
func IsAddress(s string) bool { return isHex(s, 40) }

// IsTxHash reports whether s is 0x followed by 64 hex digits.
func IsTxHash(s string) bool { return isHex(s, 64) }

func isHex(s string, n int) bool {
	if len(s) != n+2 || (s[:2] != "0x" && s[:2] != "0X") {
		return false
	}
	return strings.Trim(s[2:], "0123456789abcdefABCDEF") == ""
}
