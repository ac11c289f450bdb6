package chainwatcher_test

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/api/cryptopay"
	"github.com/onekey-oss/onekey/pkg/telemetry"
	"github.com/onekey-oss/onekey/services/chainwatcher/chainwatcher"
)

func TestMetrics_ClosedClaimsAreCountedByOutcome(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	tel, err := telemetry.Setup(context.Background(), telemetry.Config{Service: "chainwatcher-test", Output: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	svc, err := chainwatcher.New(chainwatcher.Config{Chains: []cryptopay.Chain{w.chain}, ClaimTimeout: time.Hour},
		chainwatcher.Deps{Bus: w.svcBus, Store: w.st, Clients: map[string]chainwatcher.ChainClient{chainName: w.Client}, MeterProvider: tel.MeterProvider})
	if err != nil {
		t.Fatal(err)
	}
	w.link("acc_alice", w.alice)
	ok := w.Mine(w.Call(w.alice, w.USDC, "transfer", w.deposit, usdc6(1_000_000)))
	bad := w.Mine(w.Call(w.mallory, w.USDC, "transfer", w.deposit, usdc6(1_000_000)))
	w.claim("acc_alice", ok.TxHash)
	w.claim("acc_alice", bad.TxHash)
	w.Finalize()
	if err := svc.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{`chainwatcher_claims_closed_total{chain="base",outcome="confirmed"} 1`, `chainwatcher_claims_closed_total{chain="base",outcome="wrong_sender"} 1`} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
