// Package accounts opens accounts for the end-to-end tests the way auth
// does, without running auth: a key in KV apikeys, account.created and an
// optional credit, published on the bus for the real ledger to apply.
package accounts

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/onekey-oss/onekey/api/apikey"
	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/ids"
)

// Open writes a new key for a new account to KV apikeys and publishes the
// account's account.created (without free requests when noFree), both on
// auth, a connection as the bus user auth (so they go through auth's own
// permissions), and, when credit is not 0, a credit.adjusted of that
// amount on operator (the bus admin, as onekeyctl). It returns at once:
// callers wait for the ledger and the gateways to see the account.
func Open(ctx context.Context, auth, operator *bus.Bus, noFree bool, credit money.Micros) (acc, key string, err error) {
	acc = ids.New("acc")
	key, err = apikey.New(nil)
	if err != nil {
		return "", "", fmt.Errorf("new key: %w", err)
	}
	kv, err := auth.KV(ctx, events.BucketAPIKeys)
	if err != nil {
		return "", "", fmt.Errorf("open KV apikeys: %w", err)
	}
	raw, err := json.Marshal(events.APIKeyV1{V: 1, KeyID: ids.New("key"), ProjectID: ids.New("prj"), AccountID: acc, Status: events.KeyActive, UpdatedAt: time.Now().UTC()})
	if err != nil {
		return "", "", fmt.Errorf("encode key: %w", err)
	}
	if _, err := kv.Put(ctx, apikey.Hash(key), raw); err != nil {
		return "", "", fmt.Errorf("put key: %w", err)
	}
	if _, err := auth.Publish(ctx, events.AccountCreatedV1{V: 1, ID: "account.created:" + acc, Time: time.Now(), AccountID: acc, NoFreeRequests: noFree}); err != nil {
		return "", "", fmt.Errorf("publish account.created: %w", err)
	}
	if credit != 0 {
		if _, err := operator.Publish(ctx, events.CreditAdjustedV1{V: 1, ID: ids.New("adj"), Time: time.Now(), AccountID: acc, AmountMicros: credit, Reason: "test", Actor: "test"}); err != nil {
			return "", "", fmt.Errorf("publish credit.adjusted: %w", err)
		}
	}
	return acc, key, nil
}
