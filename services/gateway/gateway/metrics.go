package gateway

import (
	"context"
	"strconv"
	"sync"

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
	// Attribute sets by their values, built once: building one (sorting
	// and hashing) cost about 4% of the gateway's CPU per request, even
	// with no meter provider. Their values come from bounded sets (the
	// catalog's models, the providers, channels and HTTP statuses).
	sets sync.Map // requestKey | costKey | channelKey -> metric.MeasurementOption
}

type requestKey struct {
	op       string
	provider string
	status   int
}

type costKey struct{ provider, model string }

type channelKey struct{ channel string }

// option returns the cached measurement option of k, building it with
// attrs on first use.
func (m *meters) option(k any, attrs func() []attribute.KeyValue) metric.MeasurementOption {
	if v, ok := m.sets.Load(k); ok {
		return v.(metric.MeasurementOption)
	}
	v, _ := m.sets.LoadOrStore(k, metric.WithAttributeSet(attribute.NewSet(attrs()...)))
	return v.(metric.MeasurementOption)
}

func newMeters(mp metric.MeterProvider, spilled, bodies func() int64) (*meters, error) {
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
		metric.WithDescription("Bytes of usage events waiting on disk for the bus."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(spilled())
			return nil
		}))
	if err != nil {
		return nil, err
	}
	_, err = m.Int64ObservableGauge("gateway.request_bodies.in_flight", metric.WithUnit("By"),
		metric.WithDescription("Bytes of request bodies held against GATEWAY_MAX_INFLIGHT_BODY_BYTES."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(bodies())
			return nil
		}))
	if err != nil {
		return nil, err
	}
	return &ms, nil
}

func (m *meters) request(op, provider string, status int) {
	opt := m.option(requestKey{op, provider, status}, func() []attribute.KeyValue {
		return []attribute.KeyValue{attribute.String("op", op), attribute.String("provider", provider), attribute.String("status", strconv.Itoa(status))}
	})
	m.requests.Add(context.Background(), 1, opt)
}

func (m *meters) upstreamFailure(channel string) {
	opt := m.option(channelKey{channel}, func() []attribute.KeyValue { return []attribute.KeyValue{attribute.String("channel", channel)} })
	m.upstream.Add(context.Background(), 1, opt)
}

func (m *meters) cost(provider, model string, micros int64) {
	opt := m.option(costKey{provider, model}, func() []attribute.KeyValue {
		return []attribute.KeyValue{attribute.String("provider", provider), attribute.String("model", model)}
	})
	m.costMicros.Add(context.Background(), micros, opt)
}
