package ledger

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// metrics are the ledger's instruments. Events applied per second is the
// rate of ledger_events_applied_total; dead letters raise
// ledger_dead_letters_total (alert on any increase); consumer lag is
// ledger_consumer_pending, the messages each durable has not yet had
// delivered plus those delivered but not acked.
type metrics struct {
	applied     metric.Int64Counter
	duplicates  metric.Int64Counter
	conflicts   metric.Int64Counter
	deadLetters metric.Int64Counter
	batchErrors metric.Int64Counter
	// leaseRequests counts replicas' lease requests answered.
	leaseRequests metric.Int64Counter
	batchSize     metric.Int64Histogram
	batchSeconds  metric.Float64Histogram

	mu        sync.Mutex
	consumers map[string]jetstream.Consumer
}

func newMetrics(m metric.Meter, _ *Service) (*metrics, error) {
	out := &metrics{consumers: map[string]jetstream.Consumer{}}
	var err error
	mk := func(name, desc string) metric.Int64Counter {
		if err != nil {
			return nil
		}
		var c metric.Int64Counter
		c, err = m.Int64Counter(name, metric.WithDescription(desc))
		return c
	}
	out.applied = mk("ledger_events_applied", "Journal entries applied to balances.")
	out.duplicates = mk("ledger_events_duplicate", "Events already in the journal with the same content (acked, not applied).")
	out.conflicts = mk("ledger_events_conflict", "Events whose id is already in the journal with other content (rejected).")
	out.deadLetters = mk("ledger_dead_letters", "Messages the ledger will never apply, sent to the dead-letter subject.")
	out.batchErrors = mk("ledger_batch_errors", "Batches that failed and were retried.")
	out.leaseRequests = mk("ledger_lease_requests", "Credit lease requests of gateway replicas answered.")
	if err != nil {
		return nil, err
	}
	if out.batchSize, err = m.Int64Histogram("ledger_batch_messages", metric.WithDescription("Messages per batch.")); err != nil {
		return nil, err
	}
	if out.batchSeconds, err = m.Float64Histogram("ledger_batch_duration", metric.WithUnit("s"), metric.WithDescription("Time to apply one batch.")); err != nil {
		return nil, err
	}
	_, err = m.Int64ObservableGauge("ledger_consumer_pending",
		metric.WithDescription("Messages of each ledger consumer not yet applied (pending + unacked)."),
		metric.WithInt64Callback(out.observeLag))
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (m *metrics) setConsumer(name string, c jetstream.Consumer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.consumers[name] = c
}

func (m *metrics) observeLag(ctx context.Context, o metric.Int64Observer) error {
	m.mu.Lock()
	cs := make(map[string]jetstream.Consumer, len(m.consumers))
	for k, v := range m.consumers {
		cs[k] = v
	}
	m.mu.Unlock()
	for name, c := range cs {
		ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
		info, err := c.Info(ictx)
		cancel()
		if err != nil {
			continue
		}
		o.Observe(int64(info.NumPending)+int64(info.NumAckPending), metric.WithAttributes(attribute.String("consumer", name)))
	}
	return nil
}
