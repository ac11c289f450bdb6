package stack

import (
	"context"
	"errors"
)

// services builds every service that exists, in start-up order: the ledger
// first so that the demo account's events find their consumer, the gateway
// last. Each service has its own file here (svc_<name>.go) whose builder
// returns nil until that service exists.
func services(env *Env) ([]runner, error) {
	builders := []func(*Env) (*runner, error){
		ledgerService, notifierService, paymentsService, chainwatcherService, authService, gatewayService,
	}
	var rs []runner
	for _, build := range builders {
		r, err := build(env)
		if err != nil {
			return nil, err
		}
		if r != nil {
			rs = append(rs, *r)
		}
	}
	return rs, nil
}

// DemoEmail is the address of devstack's demo account.
const DemoEmail = "demo@devstack.invalid"

// createDemoAccount opens the demo account through auth, as a first sign-in
// would (account.created for the ledger, the key in auth's database and KV
// apikeys), so that auth's startup sync, which deletes KV entries of keys it
// does not know, keeps the demo key.
func (env *Env) createDemoAccount(ctx context.Context) (Demo, error) {
	if env.auth == nil {
		return Demo{}, errors.New("the demo account needs auth, which is not built")
	}
	a, err := env.auth.SeedAccount(ctx, DemoEmail, "demo")
	if err != nil {
		return Demo{}, err
	}
	return Demo{AccountID: a.AccountID, ProjectID: a.ProjectID, KeyID: a.KeyID, Key: a.Key}, nil
}
