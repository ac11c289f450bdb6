package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/services/ledger/internal/ledgerdb"
)

// Generation lookups (api/events/generation.go): the gateways ask for the
// usage row of one request of the account in the subject. The ledger reads
// the row the writer stored and answers with it only if it belongs to that
// account. Lookups only read, so every ledger process answers them (in
// queue group "ledger"), the writer or a standby, outside the writer loop.

// generationWorkers bounds the lookups run at once; more wait in the
// subscription's buffer (generationQueue), past which NATS drops them and
// the gateway's request times out (it answers 503).
const (
	generationWorkers = 16
	generationQueue   = 4096
	generationTimeout = 5 * time.Second
)

// answerGenerations subscribes to lookups and answers them until the
// returned stop is called; stop waits for the lookups in progress.
func (s *Service) answerGenerations(ctx context.Context) (stop func(), err error) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	sem := make(chan struct{}, generationWorkers)
	var (
		mu      sync.Mutex
		stopped bool
		wg      sync.WaitGroup
	)
	sub, err := s.bus.Conn().QueueSubscribe(events.FamilyGeneration+".*", "ledger", func(m *nats.Msg) {
		mu.Lock()
		if stopped {
			mu.Unlock()
			return
		}
		wg.Add(1)
		mu.Unlock()
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s.answerGeneration(ctx, m)
		}()
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("ledger: subscribe to generation lookups: %w", err)
	}
	_ = sub.SetPendingLimits(generationQueue, 8<<20)
	return func() {
		_ = sub.Unsubscribe()
		mu.Lock()
		stopped = true
		mu.Unlock()
		wg.Wait()
		cancel()
	}, nil
}

func (s *Service) answerGeneration(ctx context.Context, m *nats.Msg) {
	account := events.AccountOf(m.Subject)
	var req events.GenerationRequestV1
	r := events.GenerationV1{V: 1, AccountID: account}
	if err := json.Unmarshal(m.Data, &req); err != nil || req.ID == "" {
		r.Error = "a generation lookup needs a JSON body with an id"
	} else {
		r.ID = req.ID
		ctx, cancel := context.WithTimeout(ctx, generationTimeout)
		d, found, err := s.db.Usage(ctx, account, req.ID)
		cancel()
		switch {
		case err != nil:
			r.Error = "the ledger could not read its usage rows"
			s.log.Warn("ledger: generation lookup", "account", account, "err", err)
		case found:
			r.Found, r.Generation = true, generation(d)
		}
	}
	raw, err := json.Marshal(r)
	if err != nil {
		return
	}
	if err := m.Respond(raw); err != nil {
		s.log.Debug("ledger: generation reply not sent", "account", account, "err", err)
	}
}

func generation(d ledgerdb.UsageDoc) *events.Generation {
	return &events.Generation{
		Time: d.Time.UTC(), ProjectID: d.ProjectID, KeyID: d.KeyID, Model: d.Model, Provider: d.Provider,
		InputTokens: d.InputTokens, CachedInputTokens: d.CachedInputTokens, CacheWriteTokens: d.CacheWriteTokens,
		OutputTokens: d.OutputTokens, ReasoningTokens: d.ReasoningTokens,
		CostMicros: money.Micros(d.CostMicros), ChargedMicros: money.Micros(d.ChargedMicros), Free: d.Free,
		LatencyMS: d.LatencyMS, TTFBMS: d.TTFBMS, Streamed: d.Streamed, Status: d.Status, Estimated: d.Estimated,
	}
}
