package chainwatcher

import (
	"context"
	"errors"
	"fmt"

	"github.com/onekey-oss/onekey/api/cryptopay"
)

// reach asks each chain's RPC endpoint for its chain id (eth_chainId: one
// call per chain and pass, bounded by RPCTimeout) and records, for Ready,
// whether every one answered with the id the chain is known by: the
// configured one, or the one its endpoint first gave. A chain that cannot
// be reached leaves its claims pending and chainwatcher not ready until a
// later pass reaches it. It returns the names of the chains reached: a
// pass checks claims only on those, so an endpoint now serving another
// chain (a provider's mistake, or an attacker's) credits nothing from
// that chain's blocks under the known chain's id.
func (s *Service) reach(ctx context.Context) (map[string]bool, error) {
	var errs []error
	reached := make(map[string]bool, len(s.cfg.Chains))
	for _, ch := range s.cfg.Chains {
		if err := s.reachChain(ctx, ch); err != nil {
			errs = append(errs, err)
			continue
		}
		reached[ch.Name] = true
	}
	s.reached.Store(len(errs) == 0)
	return reached, errors.Join(errs...)
}

func (s *Service) reachChain(ctx context.Context, ch cryptopay.Chain) error {
	s.stateMu.Lock()
	known, ok := s.chainIDs[ch.Name]
	s.stateMu.Unlock()
	if !ok {
		_, err := s.chainID(ctx, ch) // the first answer, checked against the configured id
		return err
	}
	got, err := s.clients[ch.Name].ChainID(ctx)
	if err != nil {
		return fmt.Errorf("reach %s: %w", ch.Name, err)
	}
	if got == nil || !got.IsUint64() || got.Uint64() != known {
		return fmt.Errorf("reach %s: the RPC endpoint now serves chain id %v, not %d", ch.Name, got, known)
	}
	return nil
}
