package stack

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/services/ledger/ledger"
)

// ledgerService builds the ledger on devstack's bus and database with the
// default configuration, one writer per partition (--ledger-partitions):
// it opens the demo account with its free requests, applies its $5.00 demo
// credit (a CreditAdjusted event with a stable id) and publishes its
// balance to KV balances for the gateway. It serves no HTTP: its metrics
// are in devstack's registry.
func ledgerService(env *Env) (*runner, error) {
	n := max(env.Config.LedgerPartitions, 1)
	var svcs []*ledger.Service
	for p := range n {
		b, err := env.ConnectAs(bus.UserLedger)
		if err != nil {
			return nil, err
		}
		cfg := ledger.DefaultConfig()
		cfg.Partitions, cfg.Partition = n, p
		log := env.Telemetry.Logger.With("part", "ledger")
		if n > 1 {
			log = log.With("partition", fmt.Sprintf("%dof%d", p, n))
		}
		svc, err := ledger.New(cfg, ledger.Deps{Bus: b, Store: env.Store, Logger: log, MeterProvider: env.Telemetry.MeterProvider})
		if err != nil {
			return nil, err
		}
		svcs = append(svcs, svc)
	}
	run := func(ctx context.Context) error {
		errs := make([]error, len(svcs))
		var wg sync.WaitGroup
		for i, svc := range svcs {
			wg.Go(func() { errs[i] = svc.Run(ctx) })
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	return &runner{name: "ledger", run: run}, nil
}
