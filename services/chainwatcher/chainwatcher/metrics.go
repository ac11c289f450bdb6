package chainwatcher

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// metrics: chainwatcher_claims_closed counts claims by outcome (confirmed,
// or the rejection reason); chainwatcher_pass_errors counts passes with an
// error (an RPC or database outage: alert when it keeps rising).
type metrics struct {
	closed     metric.Int64Counter
	passErrors metric.Int64Counter
}

func newMetrics(mp metric.MeterProvider) (*metrics, error) {
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	m := mp.Meter("github.com/onekey-oss/onekey/services/chainwatcher")
	closed, err := m.Int64Counter("chainwatcher_claims_closed", metric.WithDescription("Claims closed, by chain and outcome (confirmed or the rejection reason)."))
	if err != nil {
		return nil, err
	}
	pe, err := m.Int64Counter("chainwatcher_pass_errors", metric.WithDescription("Passes over pending claims that met an error."))
	if err != nil {
		return nil, err
	}
	return &metrics{closed: closed, passErrors: pe}, nil
}

func (m *metrics) claimClosed(chain, outcome string) {
	m.closed.Add(context.Background(), 1, metric.WithAttributes(attribute.String("chain", chain), attribute.String("outcome", outcome)))
}
