package ledger_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/bus/bustest"
	"github.com/onekey-oss/onekey/pkg/store/storetest"
	"github.com/onekey-oss/onekey/services/ledger/ledger"
)

// BenchmarkLedger_UsageEventsEndToEnd measures usage events applied per
// second end to end on the embedded stack: published to JetStream, applied
// by the ledger (journal, usage rows, rollups, accounts), and the last
// balance of every account seen in KV balances. 20 accounts with one key
// and one model each, as a busy gateway's traffic; b.N events.
//
//	go test ./ledger/ -run '^$' -bench UsageEventsEndToEnd -benchtime 20000x
func BenchmarkLedger_UsageEventsEndToEnd(b *testing.B) {
	const accounts = 20
	srv := bustest.Start(b)
	bs := srv.Connect(b, "bench")
	st := storetest.New(b)
	ctx := context.Background()
	svc, err := ledger.New(ledger.DefaultConfig(), ledger.Deps{Bus: srv.ConnectAs(b, bus.UserLedger), Store: st, Logger: benchLogger()})
	if err != nil {
		b.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Run(rctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}()
	kv, err := bs.KV(ctx, events.BucketBalances)
	if err != nil {
		b.Fatal(err)
	}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = w.Stop() }()
	for e := range w.Updates() {
		if e == nil {
			break
		}
	}
	per := make([]int, accounts)
	evs := make([]events.UsageRecordedV1, b.N)
	for i := range b.N {
		acc := fmt.Sprintf("acc_bench_%02d", i%accounts)
		per[i%accounts]++
		evs[i] = usage(fmt.Sprintf("req_%08d", i), acc, 1_000)
	}

	b.ResetTimer()
	start := time.Now()
	for i := range evs {
		if _, err := bs.PublishAsync(ctx, evs[i]); err != nil {
			b.Fatal(err)
		}
	}
	// Each account's last balance has seq = its number of events.
	left := 0
	for _, n := range per {
		if n > 0 {
			left++
		}
	}
	deadline := time.After(10 * time.Minute)
	for left > 0 {
		select {
		case e := <-w.Updates():
			var v events.BalanceV1
			if err := json.Unmarshal(e.Value(), &v); err != nil {
				b.Fatal(err)
			}
			var i int
			if _, err := fmt.Sscanf(v.AccountID, "acc_bench_%d", &i); err == nil && int(v.Seq) == per[i] {
				left--
			}
		case <-deadline:
			b.Fatalf("%d accounts not final within 10 minutes", left)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
}

func benchLogger() *slog.Logger {
	if os.Getenv("LEDGER_BENCH_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
