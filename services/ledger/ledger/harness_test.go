package ledger_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/api/readmodel"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/bus/bustest"
	"github.com/onekey-oss/onekey/pkg/store"
	"github.com/onekey-oss/onekey/pkg/store/storetest"
	"github.com/onekey-oss/onekey/services/ledger/ledger"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// harness is one embedded NATS and one fresh database, with the ledger
// consumers' ack wait shortened so that messages a crashed ledger held
// come back quickly.
type harness struct {
	t      *testing.T
	srv    *bustest.Server
	bus    *bus.Bus
	st     *store.Store
	reader *sdkmetric.ManualReader
	mp     *sdkmetric.MeterProvider
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	srv := bustest.Start(t)
	b := srv.Connect(t, "ledger-test")
	h := &harness{t: t, srv: srv, bus: b, st: storetest.New(t), reader: sdkmetric.NewManualReader()}
	h.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(h.reader))
	t.Cleanup(func() { _ = h.mp.Shutdown(context.Background()) })
	h.shortenAckWait()
	return h
}

// shortenAckWait sets every ledger consumer's ack wait to a second.
func (h *harness) shortenAckWait() {
	h.t.Helper()
	ctx := context.Background()
	all, err := h.bus.LedgerBacklogs(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, l := range all {
		c, err := h.bus.Consumer(ctx, l.Consumer)
		if err != nil {
			h.t.Fatal(err)
		}
		cfg := c.CachedInfo().Config
		cfg.AckWait = time.Second
		if _, err := h.bus.JetStream().UpdateConsumer(ctx, events.ConsumerStream(l.Consumer), cfg); err != nil {
			h.t.Fatal(err)
		}
	}
}

func testConfig() ledger.Config {
	c := ledger.DefaultConfig()
	c.RetryBackoff = 100 * time.Millisecond
	c.SweepInterval = time.Hour
	return c
}

// running is one ledger run.
type running struct {
	cancel context.CancelFunc
	done   chan error
}

func (h *harness) start(cfg ledger.Config, fail func(string) error) *running {
	h.t.Helper()
	svc, err := ledger.New(cfg, ledger.Deps{Bus: h.srv.ConnectAs(h.t, bus.UserLedger), Store: h.st, Logger: testLogger(h.t), MeterProvider: h.mp, FailPoint: fail})
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- svc.Run(ctx) }()
	h.t.Cleanup(func() { r.stop(h.t) })
	return r
}

// stop cancels the run and requires a clean return.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok && err != nil && !errors.Is(err, errCrash) {
			t.Errorf("ledger stopped with %v", err)
		}
		if ok {
			close(r.done)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("ledger did not stop within 30s")
	}
}

var errCrash = errors.New("injected crash")

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func (h *harness) publish(evs ...events.Event) {
	h.t.Helper()
	for _, ev := range evs {
		if _, err := h.bus.Publish(context.Background(), ev); err != nil {
			h.t.Fatal(err)
		}
	}
}

// publishRaw sends a payload without Nats-Msg-Id, so JetStream does not
// drop a repeat: what a publisher re-sending after the duplicate window does.
func (h *harness) publishRaw(subject string, v any) {
	h.t.Helper()
	data, ok := v.([]byte)
	if !ok {
		var err error
		if data, err = json.Marshal(v); err != nil {
			h.t.Fatal(err)
		}
	}
	msg := nats.NewMsg(subject)
	msg.Data = data
	if _, err := h.bus.JetStream().PublishMsg(context.Background(), msg); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) account(id string) (readmodel.Account, bool) {
	h.t.Helper()
	var a readmodel.Account
	err := h.st.Collection(readmodel.CollAccounts).FindOne(context.Background(), bson.D{{Key: "_id", Value: id}}).Decode(&a)
	if err != nil {
		return a, false
	}
	return a, true
}

func (h *harness) balance(id string) (events.BalanceV1, bool) {
	h.t.Helper()
	kv, err := h.bus.KV(context.Background(), events.BucketBalances)
	if err != nil {
		h.t.Fatal(err)
	}
	e, err := kv.Get(context.Background(), id)
	if err != nil {
		return events.BalanceV1{}, false
	}
	var v events.BalanceV1
	if err := json.Unmarshal(e.Value(), &v); err != nil {
		h.t.Fatal(err)
	}
	return v, true
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 60s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitBalance waits until KV balances shows what want says.
func (h *harness) waitBalance(acc string, want func(events.BalanceV1) bool) events.BalanceV1 {
	h.t.Helper()
	var got events.BalanceV1
	waitFor(h.t, "balance of "+acc, func() bool {
		v, ok := h.balance(acc)
		got = v
		return ok && want(v)
	})
	return got
}

func (h *harness) journalCount(acc string) int64 {
	h.t.Helper()
	n, err := h.st.Collection(readmodel.CollJournal).CountDocuments(context.Background(), bson.D{{Key: "account_id", Value: acc}})
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

// counter returns the sum of an Int64 counter over its attributes.
func (h *harness) counter(name string) int64 {
	h.t.Helper()
	var rm metricdata.ResourceMetrics
	if err := h.reader.Collect(context.Background(), &rm); err != nil {
		h.t.Fatal(err)
	}
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			if s, ok := m.Data.(metricdata.Sum[int64]); ok {
				for _, dp := range s.DataPoints {
					n += dp.Value
				}
			}
		}
	}
	return n
}

// deadLetters reads every dead letter stored for an account.
func (h *harness) deadLetters(acc string) []events.DeadLetterV1 {
	h.t.Helper()
	ctx := context.Background()
	st, err := h.bus.JetStream().Stream(ctx, events.StreamDeadLetter)
	if err != nil {
		h.t.Fatal(err)
	}
	c, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{events.FamilyDeadLetter + "." + acc}})
	if err != nil {
		h.t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(events.FamilyDeadLetter+"."+acc))
	if err != nil {
		h.t.Fatal(err)
	}
	n := int(info.State.Subjects[events.FamilyDeadLetter+"."+acc])
	var out []events.DeadLetterV1
	if n == 0 {
		return nil
	}
	batch, err := c.Fetch(n, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		h.t.Fatal(err)
	}
	for m := range batch.Messages() {
		var dl events.DeadLetterV1
		if err := json.Unmarshal(m.Data(), &dl); err != nil {
			h.t.Fatal(err)
		}
		out = append(out, dl)
	}
	return out
}

var t0 = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

func usage(id, acc string, cost money.Micros) events.UsageRecordedV1 {
	return events.UsageRecordedV1{V: 1, ID: id, Time: t0, AccountID: acc, ProjectID: "prj_1", KeyID: "key_" + acc,
		Model: "gpt-5.2", Provider: "openai", InputTokens: 100, CachedInputTokens: 10, OutputTokens: 50,
		CostMicros: cost, LatencyMS: 120, TTFBMS: 30, Status: 200}
}

func opened(acc string) events.AccountCreatedV1 {
	return events.AccountCreatedV1{V: 1, ID: "account.created:" + acc, Time: t0, AccountID: acc}
}

func credit(id, acc string, amount money.Micros) events.CreditPurchasedV1 {
	return events.CreditPurchasedV1{V: 1, ID: id, Time: t0, AccountID: acc, Kind: events.CreditPurchase,
		AmountMicros: amount, Source: "stripe", PaymentID: "cs_" + id}
}

func subject(ev events.Event) string {
	s, err := ev.EventSubject()
	if err != nil {
		panic(fmt.Sprint(err))
	}
	return s
}
