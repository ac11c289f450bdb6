package stack

import (
	"fmt"
	"time"

	"github.com/onekey-oss/onekey/api/cryptopay"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/services/chainwatcher/chainwatcher"
)

// chainwatcherService builds chainwatcher for the chains configured by
// CRYPTO_CHAINS (each with CHAIN_<NAME>_RPC_URL, _DEPOSIT_ADDRESS, _TOKENS,
// see api/cryptopay), or returns nil when none is: devstack has no chain of
// its own yet.
func chainwatcherService(env *Env) (*runner, error) {
	b, err := env.ConnectAs(bus.UserChainwatcher)
	if err != nil {
		return nil, err
	}
	chains, err := cryptopay.ChainsFromEnv(env.Getenv)
	if err != nil {
		return nil, fmt.Errorf("chainwatcher: %w", err)
	}
	if len(chains) == 0 {
		return nil, nil
	}
	svc, err := chainwatcher.New(chainwatcher.Config{Chains: chains, PollInterval: 5 * time.Second, ClaimTimeout: 24 * time.Hour},
		chainwatcher.Deps{Bus: b, Store: env.Store, Logger: env.Telemetry.Logger.With("part", "chainwatcher"), MeterProvider: env.Telemetry.MeterProvider})
	if err != nil {
		return nil, err
	}
	return &runner{name: "chainwatcher", addr: "", run: svc.Run}, nil
}
