package gateway

import (
	"context"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// meters are the gateway's metrics. They carry provider, channel, model and
// status only: never a key, an account or content.
type meters struct {
	requests   metric.Int64Counter
	upstream   metric.Int64Counter
	costMicros metric.Int64Counter
}

func newMeters(mp metric.MeterProvider, spilled func() int64) (*meters, error) {
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	m := mp.Meter("github.com/onekey-oss/onekey/services/gateway")
	var ms meters
	var err error
	if ms.requests, err = m.Int64Counter("gateway.requests", metric.WithDescription("Requests forwarded upstream, by operation, provider and the HTTP status relayed (0: the client left first).")); err != nil {
		return nil, err
	}
	if ms.upstream, err = m.Int64Counter("gateway.upstream.failures", metric.WithDescription("Upstream attempts that failed before the first byte (connect error, 429, 5xx), by channel.")); err != nil {
		return nil, err
	}
	if ms.costMicros, err = m.Int64Counter("gateway.cost", metric.WithUnit("{micro-USD}"), metric.WithDescription("Cost billed, by provider and model.")); err != nil {
		return nil, err
	}
	_, err = m.Int64ObservableGauge("gateway.outbox.spilled", metric.WithUnit("By"),
		metric.WithDescription("Bytes of usage events waiting on disk to be published again (the live publish failed or was not acknowledged)."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(spilled())
			return nil
		}))
	if err != nil {
		return nil, err
	}
	return &ms, nil
}

func (m *meters) request(o op, provider string, status int) {
	names := [...]string{"chat", "embeddings", "messages", "count_tokens"}
	m.requests.Add(context.Background(), 1, metric.WithAttributes(
		attribute.String("op", names[o]), attribute.String("provider", provider), attribute.String("status", strconv.Itoa(status))))
}

func (m *meters) upstreamFailure(channel string) {
	m.upstream.Add(context.Background(), 1, metric.WithAttributes(attribute.String("channel", channel)))
}

func (m *meters) cost(provider, model string, micros int64) {
	m.costMicros.Add(context.Background(), micros, metric.WithAttributes(attribute.String("provider", provider), attribute.String("model", model)))
}
