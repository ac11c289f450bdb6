package chainwatcher

import (
	"context"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rpc"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/onekey-oss/onekey/api/cryptopay"
	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/pkg/store"
)

// transferTopic is keccak256("Transfer(address,address,uint256)"), the
// first topic of every ERC-20 Transfer log.
var transferTopic = crypto.Keccak256Hash([]byte("Transfer(address,address,uint256)"))

// transfer is one creditable ERC-20 Transfer log.
type transfer struct {
	logIndex uint
	token    cryptopay.Token
	from, to string
	amount   money.Micros
}

// check moves one pending claim on: it stays pending (nil), is confirmed,
// or is rejected. An error means "could not tell now"; the claim stays
// pending.
func (s *Service) check(ctx context.Context, ch cryptopay.Chain, c cryptopay.Claim) error {
	cl := s.clients[ch.Name]
	expired := s.now().Sub(c.CreatedAt) > s.cfg.ClaimTimeout
	rcpt, err := cl.TransactionReceipt(ctx, common.HexToHash(c.TxHash))
	if errors.Is(err, ethereum.NotFound) {
		if c.SeenBlock == "" {
			s.missed(c) // never seen: look again later, not every pass
		}
		if !expired {
			return nil
		}
		if c.SeenBlock != "" {
			return s.reject(ctx, c, events.RejectRemoved)
		}
		return s.reject(ctx, c, events.RejectTimeout)
	}
	if err != nil {
		if c.SeenBlock == "" && callTimedOut(ctx, err) {
			s.missed(c)
		}
		return fmt.Errorf("receipt: %w", err)
	}
	s.found(c)
	if bh := rcpt.BlockHash.Hex(); bh != c.SeenBlock {
		if c.SeenBlock != "" {
			s.log.Info("claimed transaction moved to another block (reorg)", "claim", c.ID, "from", c.SeenBlock, "to", bh)
		}
		if err := s.setClaim(ctx, c, bson.D{{Key: "seen_block", Value: bh}}); err != nil {
			return err
		}
	}
	if rcpt.Status != types.ReceiptStatusSuccessful {
		return s.reject(ctx, c, events.RejectReverted)
	}
	linked, err := s.linkedWallets(ctx, c.AccountID)
	if err != nil {
		return err
	}
	ts, reason := match(ch, rcpt.Logs, linked)
	if len(ts) == 0 {
		return s.reject(ctx, c, reason)
	}
	var total money.Micros
	for _, t := range ts {
		total += t.amount
	}
	final, err := s.final(ctx, cl, ch.Rule(total), rcpt)
	if err != nil {
		return err
	}
	if !final {
		if expired {
			return s.reject(ctx, c, events.RejectTimeout)
		}
		return nil
	}
	if open, err := s.open(ctx, c); !open {
		return err
	}
	credited := 0
	for _, t := range ts {
		ok, err := s.credit(ctx, ch, c, rcpt, t)
		if err != nil {
			return err
		}
		if ok {
			credited++
		}
	}
	if credited == 0 {
		return s.reject(ctx, c, events.RejectAlreadyCredited)
	}
	if err := s.setClaim(ctx, c, bson.D{{Key: "status", Value: events.ClaimConfirmed}, {Key: "reason", Value: ""}}); err != nil {
		return err
	}
	s.met.claimClosed(ch.Name, events.ClaimConfirmed)
	return nil
}

// match returns the Transfer logs that may be credited to an account whose
// linked wallets are linked, or, when there are none, the reason why.
func match(ch cryptopay.Chain, logs []*types.Log, linked map[string]bool) ([]transfer, string) {
	var out []transfer
	var sawWrongSender, sawWrongToken, sawWrongRecipient, sawRemoved, sawBadAmount bool
	for _, l := range logs {
		if len(l.Topics) != 3 || l.Topics[0] != transferTopic || len(l.Data) != 32 {
			continue
		}
		if l.Removed {
			sawRemoved = true
			continue
		}
		from := addrKey(common.BytesToAddress(l.Topics[1].Bytes()))
		to := addrKey(common.BytesToAddress(l.Topics[2].Bytes()))
		tok, accepted := ch.TokenByContract(l.Address.Hex())
		switch {
		case to != ch.DepositAddress:
			if accepted {
				sawWrongRecipient = true
			}
			continue
		case !accepted:
			sawWrongToken = true
			continue
		case !linked[from]:
			sawWrongSender = true
			continue
		}
		// Dust beyond a micro-USD (an 18-decimal token) is rounded down.
		amount, err := money.FloorTokenUnits(new(big.Int).SetBytes(l.Data).String(), tok.Decimals)
		if err != nil || amount <= 0 {
			sawBadAmount = true
			continue
		}
		out = append(out, transfer{logIndex: l.Index, token: tok, from: from, to: to, amount: amount})
	}
	switch {
	case len(out) > 0:
		return out, ""
	case sawWrongSender:
		return nil, events.RejectWrongSender
	case sawBadAmount:
		return nil, events.RejectAmount
	case sawWrongToken:
		return nil, events.RejectWrongToken
	case sawWrongRecipient:
		return nil, events.RejectWrongRecipient
	case sawRemoved:
		return nil, events.RejectRemoved
	}
	return nil, events.RejectNoTransfer
}

// final reports whether rcpt's block is at or below the block tag rule
// and still the canonical block at its height.
func (s *Service) final(ctx context.Context, cl ChainClient, rule string, rcpt *types.Receipt) (bool, error) {
	tag := big.NewInt(int64(rpc.FinalizedBlockNumber))
	if rule == cryptopay.Safe {
		tag = big.NewInt(int64(rpc.SafeBlockNumber))
	}
	head, err := cl.HeaderByNumber(ctx, tag)
	if errors.Is(err, ethereum.NotFound) {
		return false, nil // no finalized block yet (a fresh chain)
	}
	if err != nil {
		return false, fmt.Errorf("%s block: %w", rule, err)
	}
	if head.Number.Cmp(rcpt.BlockNumber) < 0 {
		return false, nil
	}
	canon, err := cl.HeaderByNumber(ctx, rcpt.BlockNumber)
	if err != nil {
		return false, fmt.Errorf("block %s: %w", rcpt.BlockNumber, err)
	}
	// The receipt was read before the tag: a reorg in between shows as a
	// different canonical hash. Wait for the next pass, which reads the
	// receipt again.
	return canon.Hash() == rcpt.BlockHash, nil
}

// credit inserts the unique credit of transfer t for claim c and publishes
// tx.confirmed. It returns false when the transfer was already credited to
// another account.
//
// The credit's id is events.ChainTxID (the chain's EIP-155 id, not its
// configured name). A transfer credited before that, under
// events.TxID(name, tx, log), is found by that id first and kept: nothing
// writes such ids any more, so this read cannot race with the write of one.
func (s *Service) credit(ctx context.Context, ch cryptopay.Chain, c cryptopay.Claim, rcpt *types.Receipt, t transfer) (bool, error) {
	chainID, err := s.chainID(ctx, ch)
	if err != nil {
		return false, err
	}
	cr := cryptopay.Credit{
		ID: events.ChainTxID(chainID, c.TxHash, t.logIndex), ChainID: chainID, AccountID: c.AccountID, ClaimID: c.ID, Chain: ch.Name,
		TxHash: c.TxHash, LogIndex: t.logIndex, Token: t.token.Symbol, From: t.from, AmountMicros: int64(t.amount),
		CreatedAt: s.now().UTC(),
	}
	coll := s.st.Collection(cryptopay.CollCredits)
	var legacy cryptopay.Credit
	err = coll.FindOne(ctx, bson.D{{Key: "_id", Value: events.TxID(ch.Name, c.TxHash, t.logIndex)}}).Decode(&legacy)
	switch {
	case err == nil:
		if legacy.AccountID != c.AccountID {
			return false, nil
		}
		cr = legacy
	case !errors.Is(err, mongo.ErrNoDocuments):
		return false, fmt.Errorf("read credit %s: %w", events.TxID(ch.Name, c.TxHash, t.logIndex), err)
	default:
		if ok, err := s.insertCredit(ctx, &cr); !ok || err != nil {
			return ok, err
		}
	}
	ev := events.TxConfirmedV1{
		V: 1, ID: cr.ID, Time: cr.CreatedAt, AccountID: cr.AccountID, ClaimID: cr.ClaimID, Chain: cr.Chain,
		TxHash: cr.TxHash, LogIndex: cr.LogIndex, Token: cr.Token, From: cr.From, To: t.to,
		AmountMicros: money.Micros(cr.AmountMicros), BlockNumber: rcpt.BlockNumber.Uint64(), BlockHash: rcpt.BlockHash.Hex(),
		ChainID: cr.ChainID,
	}
	if _, err := s.bus.Publish(ctx, ev); err != nil {
		return false, err
	}
	return true, nil
}

// insertCredit inserts *cr, or, when its id is taken, reads the stored
// credit into *cr. It returns false when that credit is another account's.
func (s *Service) insertCredit(ctx context.Context, cr *cryptopay.Credit) (bool, error) {
	coll := s.st.Collection(cryptopay.CollCredits)
	if _, err := coll.InsertOne(ctx, cr); err != nil {
		if !store.IsDuplicate(err) {
			return false, fmt.Errorf("store credit %s: %w", cr.ID, err)
		}
		var prev cryptopay.Credit
		if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: cr.ID}}).Decode(&prev); err != nil {
			return false, fmt.Errorf("read credit %s: %w", cr.ID, err)
		}
		if prev.AccountID != cr.AccountID {
			return false, nil
		}
		*cr = prev // published again with the same id: a no-op downstream
	}
	return true, nil
}

// reject publishes tx.rejected for this attempt of the claim, then closes
// it. The notifier mails the reason; payments (consumer payments-tx) also
// closes the claim, should this process stop in between.
func (s *Service) reject(ctx context.Context, c cryptopay.Claim, reason string) error {
	if open, err := s.open(ctx, c); !open {
		return err
	}
	ev := events.TxRejectedV1{V: 1, ID: cryptopay.RejectionID(c.ID, c.Attempt), Time: s.now().UTC(), AccountID: c.AccountID, ClaimID: c.ID, Chain: c.Chain, TxHash: c.TxHash, Reason: reason}
	if _, err := s.bus.Publish(ctx, ev); err != nil {
		return err
	}
	if err := s.setClaim(ctx, c, bson.D{{Key: "status", Value: events.ClaimRejected}, {Key: "reason", Value: reason}}); err != nil {
		return err
	}
	s.met.claimClosed(c.Chain, reason)
	return nil
}

// open reports whether claim c is still stored, pending, in the same
// attempt. A pass reads the pending claims first and checks them one by
// one, reading the chain in between; meanwhile payments may have erased
// the claim (its account was deleted) or another process closed it. Such a
// claim is neither credited nor rejected, and nothing is published for it.
// This narrows the window to the moment between this read and the credit's
// insert; it does not close it (no unique insert decides between an
// erasure and a credit).
func (s *Service) open(ctx context.Context, c cryptopay.Claim) (bool, error) {
	n, err := s.st.Collection(cryptopay.CollClaims).CountDocuments(ctx, bson.D{
		{Key: "_id", Value: c.ID}, {Key: "attempt", Value: c.Attempt}, {Key: "status", Value: events.ClaimPending},
	})
	if err != nil {
		return false, fmt.Errorf("re-read claim: %w", err)
	}
	if n == 0 {
		s.log.Info("claim closed or erased during the pass; left alone", "claim", c.ID)
	}
	return n > 0, nil
}

// setClaim updates fields of claim c if it is still in the same attempt
// (a claim reopened meanwhile is left alone).
func (s *Service) setClaim(ctx context.Context, c cryptopay.Claim, set bson.D) error {
	set = append(set, bson.E{Key: "updated_at", Value: s.now().UTC()})
	_, err := s.st.Collection(cryptopay.CollClaims).UpdateOne(ctx,
		bson.D{{Key: "_id", Value: c.ID}, {Key: "attempt", Value: c.Attempt}},
		bson.D{{Key: "$set", Value: set}})
	if err != nil {
		return fmt.Errorf("update claim: %w", err)
	}
	return nil
}

func (s *Service) linkedWallets(ctx context.Context, account string) (map[string]bool, error) {
	cur, err := s.st.Collection(cryptopay.CollWallets).Find(ctx, bson.D{{Key: "account_id", Value: account}})
	if err != nil {
		return nil, fmt.Errorf("find wallets: %w", err)
	}
	var ws []cryptopay.Wallet
	if err := cur.All(ctx, &ws); err != nil {
		return nil, fmt.Errorf("read wallets: %w", err)
	}
	out := make(map[string]bool, len(ws))
	for _, w := range ws {
		out[w.Address] = true
	}
	return out, nil
}
