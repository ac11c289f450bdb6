package stack

import (
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/services/ledger/ledger"
)

// ledgerService builds the ledger on devstack's bus and database with the
// default configuration: it opens the demo account with its free requests,
// applies its $5.00 demo credit (a CreditAdjusted event with a stable id)
// and publishes its balance to KV balances for the gateway. It serves no
// HTTP: its metrics are in devstack's registry.
func ledgerService(env *Env) (*runner, error) {
	b, err := env.ConnectAs(bus.UserLedger)
	if err != nil {
		return nil, err
	}
	svc, err := ledger.New(ledger.DefaultConfig(), ledger.Deps{
		Bus: b, Store: env.Store, Logger: env.Telemetry.Logger.With("part", "ledger"),
		MeterProvider: env.Telemetry.MeterProvider,
	})
	if err != nil {
		return nil, err
	}
	return &runner{name: "ledger", run: svc.Run}, nil
}
