package main

import (
	"context"
	"strings"
	"testing"
)

func TestRun_ReportsEveryConfigProblemTogether(t *testing.T) {
	env := map[string]string{"CRYPTO_CHAINS": "base", "CHAINWATCHER_POLL_INTERVAL": "often"}
	err := run(context.Background(), nil, func(k string) string { return env[k] })
	if err == nil {
		t.Fatal("run started without config")
	}
	for _, want := range []string{"NATS_URL", "MONGODB_URI", "CHAINWATCHER_POLL_INTERVAL", "CHAIN_BASE_DEPOSIT_ADDRESS", "CHAIN_BASE_TOKENS"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
}
