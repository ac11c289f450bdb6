package payments

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/onekey-oss/onekey/api/cryptopay"
	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/store"
)

func (s *Service) chain(name string) (cryptopay.Chain, bool) {
	for _, c := range s.cfg.Chains {
		if c.Name == name {
			return c, true
		}
	}
	return cryptopay.Chain{}, false
}

func (s *Service) cryptoInfoRequest(_ context.Context, _ events.CryptoInfoRequestV1) events.CryptoInfoReplyV1 {
	out := events.CryptoInfoReplyV1{V: 1, Chains: []events.CryptoChainV1{}}
	for _, c := range s.cfg.Chains {
		cc := events.CryptoChainV1{Chain: c.Name, DepositAddress: c.DepositAddress}
		for _, t := range c.Tokens {
			cc.Tokens = append(cc.Tokens, t.Symbol)
		}
		out.Chains = append(out.Chains, cc)
	}
	return out
}

// WalletNonce starts linking a wallet: it stores a single-use nonce for
// (account, address) and returns the message to sign.
func (s *Service) WalletNonce(ctx context.Context, req events.WalletNonceRequestV1) events.WalletNonceReplyV1 {
	if events.ValidToken(req.AccountID) != nil || !cryptopay.IsAddress(req.Address) {
		return events.WalletNonceReplyV1{V: 1, Code: events.CodeBadRequest, Error: "need an account id and a 0x wallet address"}
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	n := cryptopay.Nonce{
		Nonce: hex.EncodeToString(b[:]), AccountID: req.AccountID, Address: strings.ToLower(req.Address),
		ExpiresAt: s.now().UTC().Add(s.cfg.NonceTTL).Truncate(time.Second),
	}
	if _, err := s.st.Collection(cryptopay.CollNonces).InsertOne(ctx, n); err != nil {
		s.log.Warn("store wallet nonce", "err", err)
		return events.WalletNonceReplyV1{V: 1, Code: events.CodeUnavailable, Error: "try again"}
	}
	if gone, err := s.undoIfErased(ctx, n.AccountID, cryptopay.CollNonces, bson.D{{Key: "_id", Value: n.Nonce}}); gone || err != nil {
		if err != nil {
			s.log.Warn("wallet nonce", "err", err)
		}
		return events.WalletNonceReplyV1{V: 1, Code: erasedCode(err), Error: erasedMsg(err)}
	}
	return events.WalletNonceReplyV1{V: 1, Nonce: n.Nonce, ExpiresAt: n.ExpiresAt,
		Message: cryptopay.LinkMessage(n.AccountID, n.Address, n.Nonce, n.ExpiresAt)}
}

func (s *Service) walletNonceRequest(ctx context.Context, req events.WalletNonceRequestV1) events.WalletNonceReplyV1 {
	return s.WalletNonce(ctx, req)
}

// LinkWallet verifies the personal_sign signature of the nonce's message
// and links the address to the account. The nonce is spent once (a unique
// insert), and an address is linked to one account only (its _id).
func (s *Service) LinkWallet(ctx context.Context, req events.WalletLinkRequestV1) events.WalletLinkReplyV1 {
	fail := func(code, msg string) events.WalletLinkReplyV1 {
		return events.WalletLinkReplyV1{V: 1, Code: code, Error: msg}
	}
	addr := strings.ToLower(req.Address)
	if events.ValidToken(req.AccountID) != nil || !cryptopay.IsAddress(addr) || req.Nonce == "" {
		return fail(events.CodeBadRequest, "need an account id, a 0x wallet address and a nonce")
	}
	var n cryptopay.Nonce
	err := s.st.Collection(cryptopay.CollNonces).FindOne(ctx, bson.D{{Key: "_id", Value: req.Nonce}}).Decode(&n)
	if errors.Is(err, mongo.ErrNoDocuments) || (err == nil && (n.AccountID != req.AccountID || n.Address != addr || !s.now().Before(n.ExpiresAt))) {
		return fail(events.CodeNonceInvalid, "this link request is unknown or expired; ask for a new message")
	}
	if err != nil {
		return fail(events.CodeUnavailable, "try again")
	}
	signer, err := personalSigner(cryptopay.LinkMessage(n.AccountID, n.Address, n.Nonce, n.ExpiresAt), req.Signature)
	if err != nil || signer != addr {
		return fail(events.CodeBadSignature, "the signature is not this wallet's signature of the message")
	}
	if _, err := s.st.Collection(cryptopay.CollNonceUses).InsertOne(ctx, bson.D{{Key: "_id", Value: n.Nonce}, {Key: store.ExpiresAtField, Value: n.ExpiresAt}}); err != nil {
		if store.IsDuplicate(err) {
			return fail(events.CodeNonceInvalid, "this link request was already used; ask for a new message")
		}
		return fail(events.CodeUnavailable, "try again")
	}
	_, err = s.st.Collection(cryptopay.CollWallets).InsertOne(ctx, cryptopay.Wallet{Address: addr, AccountID: n.AccountID, LinkedAt: s.now().UTC()})
	if err != nil && !store.IsDuplicate(err) {
		return fail(events.CodeUnavailable, "try again")
	}
	if err == nil {
		if gone, err := s.undoIfErased(ctx, n.AccountID, cryptopay.CollWallets, bson.D{{Key: "_id", Value: addr}, {Key: "account_id", Value: n.AccountID}}); gone || err != nil {
			if err != nil {
				s.log.Warn("link wallet", "err", err)
			}
			return fail(erasedCode(err), erasedMsg(err))
		}
	}
	if err != nil {
		var w cryptopay.Wallet
		if err := s.st.Collection(cryptopay.CollWallets).FindOne(ctx, bson.D{{Key: "_id", Value: addr}}).Decode(&w); err != nil {
			return fail(events.CodeUnavailable, "try again")
		}
		if w.AccountID != n.AccountID {
			return fail(events.CodeWalletTaken, "this wallet is linked to another account")
		}
	}
	return events.WalletLinkReplyV1{V: 1, Address: addr}
}

func (s *Service) walletLinkRequest(ctx context.Context, req events.WalletLinkRequestV1) events.WalletLinkReplyV1 {
	return s.LinkWallet(ctx, req)
}

// personalSigner recovers the lower-case address that signed msg with
// EIP-191 personal_sign (65 bytes r||s||v, v as 0/1 or 27/28).
func personalSigner(msg, sigHex string) (string, error) {
	sig, err := hexutil.Decode(sigHex)
	if err != nil || len(sig) != crypto.SignatureLength {
		return "", errors.New("signature is not 65 bytes of 0x-hex")
	}
	if sig[crypto.RecoveryIDOffset] >= 27 {
		sig[crypto.RecoveryIDOffset] -= 27
	}
	pub, err := crypto.SigToPub(accounts.TextHash([]byte(msg)), sig)
	if err != nil {
		return "", fmt.Errorf("recover signer: %w", err)
	}
	return strings.ToLower(crypto.PubkeyToAddress(*pub).Hex()), nil
}

// Claim records that req.AccountID claims the transaction req.TxHash on
// req.Chain; chainwatcher confirms or rejects it. Claiming again returns
// the same claim (reopened if it was rejected: the wallet may have been
// linked since). A transaction already claimed by another account is
// refused here; the unique credit in chainwatcher is what finally makes a
// transfer credit once, to one account.
func (s *Service) Claim(ctx context.Context, req events.CryptoClaimRequestV1) events.CryptoClaimReplyV1 {
	fail := func(code, msg string) events.CryptoClaimReplyV1 {
		return events.CryptoClaimReplyV1{V: 1, Code: code, Error: msg}
	}
	if events.ValidToken(req.AccountID) != nil || !cryptopay.IsTxHash(req.TxHash) {
		return fail(events.CodeBadRequest, "need an account id and a 0x transaction hash")
	}
	if _, ok := s.chain(req.Chain); !ok {
		return fail(events.CodeUnsupported, "this chain is not supported")
	}
	tx := strings.ToLower(req.TxHash)
	n, err := s.st.Collection(cryptopay.CollWallets).CountDocuments(ctx, bson.D{{Key: "account_id", Value: req.AccountID}})
	if err != nil {
		return fail(events.CodeUnavailable, "try again")
	}
	if n == 0 {
		return fail(events.CodeNoWallet, "link the wallet you paid from first")
	}
	others, err := s.st.Collection(cryptopay.CollClaims).CountDocuments(ctx, bson.D{
		{Key: "chain", Value: req.Chain}, {Key: "tx_hash", Value: tx},
		{Key: "account_id", Value: bson.D{{Key: "$ne", Value: req.AccountID}}},
		{Key: "status", Value: bson.D{{Key: "$ne", Value: events.ClaimRejected}}},
	})
	if err != nil {
		return fail(events.CodeUnavailable, "try again")
	}
	if others > 0 {
		return fail(events.CodeAlreadyClaimed, "this transaction is claimed by another account")
	}
	if full, err := s.tooManyPending(ctx, req.AccountID, cryptopay.ClaimID(req.Chain, tx, req.AccountID)); err != nil {
		s.log.Warn("claim", "err", err)
		return fail(events.CodeUnavailable, "try again")
	} else if full {
		return fail(events.CodeTooManyClaims, fmt.Sprintf("this account already has %d claims waiting for confirmation; wait until one is confirmed or rejected", s.maxPending()))
	}
	now := s.now().UTC()
	c := cryptopay.Claim{ID: cryptopay.ClaimID(req.Chain, tx, req.AccountID), AccountID: req.AccountID, Chain: req.Chain, TxHash: tx, Status: events.ClaimPending, CreatedAt: now, UpdatedAt: now}
	coll := s.st.Collection(cryptopay.CollClaims)
	if _, err := coll.InsertOne(ctx, c); err != nil {
		if !store.IsDuplicate(err) {
			return fail(events.CodeUnavailable, "try again")
		}
		if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: c.ID}}).Decode(&c); err != nil {
			return fail(events.CodeUnavailable, "try again")
		}
		if c.Status == events.ClaimRejected {
			// Reopen with a new attempt number; a concurrent reopen sets the
			// same values, so the race is harmless.
			if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: c.ID}, {Key: "attempt", Value: c.Attempt}}, bson.D{{Key: "$set", Value: bson.D{
				{Key: "status", Value: events.ClaimPending}, {Key: "reason", Value: ""}, {Key: "attempt", Value: c.Attempt + 1},
				{Key: "created_at", Value: now}, {Key: "updated_at", Value: now},
			}}}); err != nil {
				return fail(events.CodeUnavailable, "try again")
			}
			c.Status, c.Reason = events.ClaimPending, ""
		}
	}
	if c.Status != events.ClaimConfirmed {
		if gone, err := s.undoIfErased(ctx, c.AccountID, cryptopay.CollClaims, bson.D{{Key: "_id", Value: c.ID}, {Key: "status", Value: bson.D{{Key: "$ne", Value: events.ClaimConfirmed}}}}); gone || err != nil {
			if err != nil {
				s.log.Warn("claim", "err", err)
			}
			return fail(erasedCode(err), erasedMsg(err))
		}
	}
	return events.CryptoClaimReplyV1{V: 1, ClaimID: c.ID, Status: c.Status, Reason: c.Reason}
}

// erasedCode and erasedMsg answer a request of an erased account (err nil)
// or one whose erasure could not be looked up (err set).
func erasedCode(err error) string {
	if err != nil {
		return events.CodeUnavailable
	}
	return events.CodeBadRequest
}

func erasedMsg(err error) string {
	if err != nil {
		return "try again"
	}
	return "this account is deleted"
}

func (s *Service) claimRequest(ctx context.Context, req events.CryptoClaimRequestV1) events.CryptoClaimReplyV1 {
	return s.Claim(ctx, req)
}

// CryptoStatus lists the account's linked wallets and its newest claims.
func (s *Service) CryptoStatus(ctx context.Context, req events.CryptoStatusRequestV1) events.CryptoStatusReplyV1 {
	fail := func(code, msg string) events.CryptoStatusReplyV1 {
		return events.CryptoStatusReplyV1{V: 1, Code: code, Error: msg}
	}
	if events.ValidToken(req.AccountID) != nil {
		return fail(events.CodeBadRequest, "need an account id")
	}
	out := events.CryptoStatusReplyV1{V: 1, Wallets: []string{}, Claims: []events.CryptoClaimV1{}}
	cur, err := s.st.Collection(cryptopay.CollWallets).Find(ctx, bson.D{{Key: "account_id", Value: req.AccountID}})
	if err != nil {
		return fail(events.CodeUnavailable, "try again")
	}
	var ws []cryptopay.Wallet
	if err := cur.All(ctx, &ws); err != nil {
		return fail(events.CodeUnavailable, "try again")
	}
	for _, w := range ws {
		out.Wallets = append(out.Wallets, w.Address)
	}
	cur, err = s.st.Collection(cryptopay.CollClaims).Find(ctx, bson.D{{Key: "account_id", Value: req.AccountID}},
		options.Find().SetSort(bson.D{{Key: "created_at", Value: -1}}).SetLimit(100))
	if err != nil {
		return fail(events.CodeUnavailable, "try again")
	}
	var cs []cryptopay.Claim
	if err := cur.All(ctx, &cs); err != nil {
		return fail(events.CodeUnavailable, "try again")
	}
	for _, c := range cs {
		out.Claims = append(out.Claims, events.CryptoClaimV1{ClaimID: c.ID, Chain: c.Chain, TxHash: c.TxHash, Status: c.Status, Reason: c.Reason, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt})
	}
	return out
}

func (s *Service) cryptoStatusRequest(ctx context.Context, req events.CryptoStatusRequestV1) events.CryptoStatusReplyV1 {
	return s.CryptoStatus(ctx, req)
}

// onTxRejected (consumer payments-tx) closes the claim a tx.rejected event
// names, if it is still pending in the same attempt. Chainwatcher closes it
// too; this covers a chainwatcher that stopped between publishing and
// writing. Safe to run twice: the update is a no-op on a closed claim.
func (s *Service) onTxRejected(ctx context.Context, msg jetstream.Msg) error {
	var ev events.TxRejectedV1
	if err := json.Unmarshal(msg.Data(), &ev); err != nil {
		return fmt.Errorf("decode tx.rejected: %w: %w", err, bus.ErrPermanent)
	}
	attempt, ok := cryptopay.RejectionAttempt(ev.ID)
	if !ok || ev.ClaimID == "" {
		return nil // not a claim rejection chainwatcher made
	}
	_, err := s.st.Collection(cryptopay.CollClaims).UpdateOne(ctx,
		bson.D{{Key: "_id", Value: ev.ClaimID}, {Key: "status", Value: events.ClaimPending}, {Key: "attempt", Value: attempt}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: events.ClaimRejected}, {Key: "reason", Value: ev.Reason}, {Key: "updated_at", Value: s.now().UTC()}}}})
	if err != nil {
		return fmt.Errorf("close claim %s: %w", ev.ClaimID, err)
	}
	return nil
}
