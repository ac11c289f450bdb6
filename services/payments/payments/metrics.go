package payments

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// metrics are payments' instruments. Alert on a rising rate of
// payments_stripe_webhooks{outcome="retry"} (Stripe is being asked to come
// back: the bus or the database is down) and on any
// outcome="refused" (bad signatures: a wrong secret or an attack), and on
// any increase of payments_unsupported_currency_sessions (a customer paid
// in a currency that credits nothing: refund or credit by hand).
type metrics struct {
	webhooks    metric.Int64Counter
	checkouts   metric.Int64Counter
	unsupported metric.Int64Counter
}

func newMetrics(mp metric.MeterProvider) (*metrics, error) {
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	m := mp.Meter("github.com/onekey-oss/onekey/services/payments")
	wh, err := m.Int64Counter("payments_stripe_webhooks", metric.WithDescription("Stripe webhooks by outcome: applied, refused (signature or payload), retry (not safely stored; Stripe retries)."))
	if err != nil {
		return nil, err
	}
	co, err := m.Int64Counter("payments_checkouts", metric.WithDescription("Checkout requests by outcome: created, or the reply code."))
	if err != nil {
		return nil, err
	}
	un, err := m.Int64Counter("payments_unsupported_currency_sessions", metric.WithDescription("Paid Checkout Sessions of ours in a currency other than USD, by currency: recorded, credited nothing; an operator must act."))
	if err != nil {
		return nil, err
	}
	return &metrics{webhooks: wh, checkouts: co, unsupported: un}, nil
}

func (m *metrics) webhook(outcome string) {
	m.webhooks.Add(context.Background(), 1, metric.WithAttributes(attribute.String("outcome", outcome)))
}

func (m *metrics) checkout(outcome string) {
	m.checkouts.Add(context.Background(), 1, metric.WithAttributes(attribute.String("outcome", outcome)))
}

func (m *metrics) unsupportedCurrency(currency string) {
	m.unsupported.Add(context.Background(), 1, metric.WithAttributes(attribute.String("currency", currency)))
}
