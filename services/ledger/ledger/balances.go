package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/services/ledger/internal/book"
)

// maxBalancePuts bounds the KV puts of one batch in flight at once.
const maxBalancePuts = 32

// putBalances publishes each account's balance to KV balances; written is
// when the batch had written the accounts (the value's updated_at). The
// puts run concurrently (each account once per batch, so no two race for
// a key; the next batch starts after all are acked): on a replicated
// bucket each put waits for a quorum, and one at a time a batch of many
// accounts took seconds, delaying credit-lease grants past the gateways'
// wait. It returns every put's error.
func (s *Service) putBalances(ctx context.Context, accounts []book.Account, written time.Time) error {
	raws := make([][]byte, len(accounts))
	for i, a := range accounts {
		raw, err := json.Marshal(balanceValue(a, written))
		if err != nil {
			return fmt.Errorf("encode balance of %s: %w", a.ID, err)
		}
		raws[i] = raw
	}
	errs := make([]error, len(accounts))
	sem := make(chan struct{}, maxBalancePuts)
	var wg sync.WaitGroup
	for i := range accounts {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if _, err := s.kv.Put(ctx, accounts[i].ID, raws[i]); err != nil {
				errs[i] = fmt.Errorf("put balance of %s: %w", accounts[i].ID, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// balanceValue is an account's value in KV balances.
func balanceValue(a book.Account, written time.Time) events.BalanceV1 {
	v := events.BalanceV1{V: 1, AccountID: a.ID, BalanceMicros: a.Balance, FreeRequestsLeft: a.Free,
		Seq: uint64(a.Seq), UpdatedAt: written, LeasedMicros: a.Leased, LeasedFree: a.LeasedFree}
	for r, l := range a.Leases {
		if m, f := l.Outstanding(); m > 0 || f > 0 {
			if v.Leases == nil {
				v.Leases = map[string]events.Lease{}
			}
			v.Leases[r] = l
		}
	}
	if len(a.KeySpend) > 0 {
		v.KeySpendMicros = make(map[string]money.Micros, len(a.KeySpend))
		for k, x := range a.KeySpend {
			v.KeySpendMicros[k] = x
		}
	}
	return v
}
