package main

import (
	"context"
	"strings"
	"testing"
)

func TestRun_ReportsEveryConfigProblemTogether(t *testing.T) {
	env := map[string]string{"CHECKOUT_MAX_USD": "lots", "LOG_LEVEL": "loud"}
	err := run(context.Background(), nil, func(k string) string { return env[k] })
	if err == nil {
		t.Fatal("run started without config")
	}
	for _, want := range []string{"NATS_URL", "MONGODB_URI", "CHECKOUT_MAX_USD", "loud"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
	if err := run(context.Background(), []string{"bogus"}, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("unknown command: %v", err)
	}
}
