package chainwatcher

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/onekey-oss/onekey/api/cryptopay"
)

// How a pass keeps claims whose transaction does not exist (a typo, or a
// flood of made-up hashes) from starving real ones:
//   - every RPC call has its own timeout (Config.RPCTimeout), so a hanging
//     answer costs one check at most that long;
//   - claims are checked Config.Concurrency at a time, interleaved by
//     account (each account's oldest claim first, then each one's second,
//     ...), so one account's many claims never queue ahead of another
//     account's first; payments caps the pending claims of one account;
//   - a claim whose transaction was not found (or whose lookup timed out)
//     and that was never seen in a block waits before it is looked up
//     again: two poll intervals, doubling per miss, at most
//     Config.NotFoundBackoffMax. A claim due to time out is always checked.
// The backoff is kept in memory: a restart checks every claim once more.

// dueClaim is a pending claim with its chain.
type dueClaim struct {
	ch cryptopay.Chain
	c  cryptopay.Claim
}

// notFound is a claim's run of lookups that found nothing.
type notFound struct {
	attempt int // the claim's attempt it is about
	misses  int
	next    time.Time // not looked up again before
}

// due returns the pending claims to check in this pass, interleaved by
// account, and forgets the backoff of claims no longer pending.
func (s *Service) due(pending []dueClaim) []dueClaim {
	now := s.now()
	s.stateMu.Lock()
	live := make(map[string]bool, len(pending))
	var due []dueClaim
	for _, p := range pending {
		live[p.c.ID] = true
		nf, ok := s.backoff[p.c.ID]
		waiting := ok && nf.attempt == p.c.Attempt && now.Before(nf.next)
		expired := now.Sub(p.c.CreatedAt) > s.cfg.ClaimTimeout
		if !waiting || expired {
			due = append(due, p)
		}
	}
	for id := range s.backoff {
		if !live[id] {
			delete(s.backoff, id)
		}
	}
	s.stateMu.Unlock()

	// Oldest first within an account; rounds across accounts.
	slices.SortStableFunc(due, func(a, b dueClaim) int {
		return cmp.Or(a.c.CreatedAt.Compare(b.c.CreatedAt), cmp.Compare(a.c.ID, b.c.ID))
	})
	rank := map[string]int{}
	round := make([]int, len(due))
	for i, d := range due {
		round[i] = rank[d.c.AccountID]
		rank[d.c.AccountID]++
	}
	idx := make([]int, len(due))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(round[a], round[b]) })
	out := make([]dueClaim, len(due))
	for i, j := range idx {
		out[i] = due[j]
	}
	return out
}

// checkAll checks claims, Config.Concurrency at a time, and returns their
// errors.
func (s *Service) checkAll(ctx context.Context, claims []dueClaim) []error {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	sem := make(chan struct{}, s.cfg.Concurrency)
	for _, d := range claims {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return append(errs, ctx.Err())
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := s.check(ctx, d.ch, d.c); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("claim %s: %w", d.c.ID, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errs
}

// missed records that claim c's transaction was not found (or its lookup
// timed out), so that it waits before the next lookup.
func (s *Service) missed(c cryptopay.Claim) {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	nf := s.backoff[c.ID]
	if nf.attempt != c.Attempt {
		nf = notFound{attempt: c.Attempt}
	}
	nf.misses++
	wait := s.cfg.NotFoundBackoffMax
	if nf.misses < 20 {
		wait = min(s.cfg.PollInterval<<nf.misses, s.cfg.NotFoundBackoffMax)
	}
	nf.next = s.now().Add(wait)
	s.backoff[c.ID] = nf
}

// found forgets claim c's misses.
func (s *Service) found(c cryptopay.Claim) {
	s.stateMu.Lock()
	delete(s.backoff, c.ID)
	s.stateMu.Unlock()
}

// chainID returns the EIP-155 id of chain ch, read once from its RPC
// endpoint and checked against the configured one.
func (s *Service) chainID(ctx context.Context, ch cryptopay.Chain) (uint64, error) {
	s.stateMu.Lock()
	id, ok := s.chainIDs[ch.Name]
	s.stateMu.Unlock()
	if ok {
		return id, nil
	}
	got, err := s.clients[ch.Name].ChainID(ctx)
	if err != nil {
		return 0, fmt.Errorf("chain id of %s: %w", ch.Name, err)
	}
	if got == nil || got.Sign() <= 0 || !got.IsUint64() {
		return 0, fmt.Errorf("chain id of %s: endpoint answered %v", ch.Name, got)
	}
	if ch.ChainID != 0 && ch.ChainID != got.Uint64() {
		return 0, fmt.Errorf("chain %s: the RPC endpoint serves chain id %d, but %d is configured: nothing is credited on it", ch.Name, got.Uint64(), ch.ChainID)
	}
	s.stateMu.Lock()
	s.chainIDs[ch.Name] = got.Uint64()
	s.stateMu.Unlock()
	return got.Uint64(), nil
}

// timedClient bounds each call of c by d.
type timedClient struct {
	c ChainClient
	d time.Duration
}

func (t timedClient) TransactionReceipt(ctx context.Context, h common.Hash) (*types.Receipt, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.c.TransactionReceipt(ctx, h)
}

func (t timedClient) HeaderByNumber(ctx context.Context, n *big.Int) (*types.Header, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.c.HeaderByNumber(ctx, n)
}

func (t timedClient) ChainID(ctx context.Context) (*big.Int, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.c.ChainID(ctx)
}

// callTimedOut reports whether err is a call's own timeout while the pass
// itself goes on.
func callTimedOut(ctx context.Context, err error) bool {
	return errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil
}
