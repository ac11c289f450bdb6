package stack

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/onekey-oss/onekey/api/apikey"
	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/ids"
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

// createDemoAccount opens an account directly on the bus: account.created
// for the ledger and the key in KV apikeys for the gateway.
func (env *Env) createDemoAccount(ctx context.Context) (Demo, error) {
	key, err := apikey.New(nil)
	if err != nil {
		return Demo{}, err
	}
	d := Demo{AccountID: ids.New("acc"), ProjectID: ids.New("prj"), KeyID: ids.New("key"), Key: key}
	kv, err := env.Bus.KV(ctx, events.BucketAPIKeys)
	if err != nil {
		return Demo{}, err
	}
	now := time.Now().UTC()
	val := events.APIKeyV1{V: 1, KeyID: d.KeyID, ProjectID: d.ProjectID, AccountID: d.AccountID, Status: events.KeyActive, UpdatedAt: now}
	raw, err := json.Marshal(val)
	if err != nil {
		return Demo{}, fmt.Errorf("encode demo key: %w", err)
	}
	if _, err := kv.Put(ctx, apikey.Hash(key), raw); err != nil {
		return Demo{}, fmt.Errorf("store demo key: %w", err)
	}
	if _, err := env.Bus.Publish(ctx, events.AccountCreatedV1{V: 1, ID: "account.created:" + d.AccountID, Time: now, AccountID: d.AccountID}); err != nil {
		return Demo{}, err
	}
	return d, nil
}
