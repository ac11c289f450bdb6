package httpapi

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// metrics are the API's instruments. In Prometheus:
//
//	auth_sign_ins_total{method}             method: magic_link, google, github
//	auth_sign_in_refusals_total{method, reason}
//	    reason: link_invalid, state_invalid, provider (the provider's answer
//	    failed a check), unverified (no verified address)
//	auth_magic_link_requests_total{outcome} outcome: sent, rate_limited, invalid
//	auth_request_duration_seconds{method, route, status}
//
// Labels are fixed words and route patterns: never an address, id or token.
type metrics struct {
	signIns   metric.Int64Counter
	refusals  metric.Int64Counter
	linkReqs  metric.Int64Counter
	durations metric.Float64Histogram
}

func newMetrics(mp metric.MeterProvider) (metrics, error) {
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	m := mp.Meter("github.com/onekey-oss/onekey/services/auth")
	var ms metrics
	var err error
	if ms.signIns, err = m.Int64Counter("auth.sign_ins", metric.WithDescription("Sessions started, by sign-in method.")); err != nil {
		return metrics{}, fmt.Errorf("auth metrics: %w", err)
	}
	if ms.refusals, err = m.Int64Counter("auth.sign_in_refusals", metric.WithDescription("Sign-ins refused, by method and reason.")); err != nil {
		return metrics{}, fmt.Errorf("auth metrics: %w", err)
	}
	if ms.linkReqs, err = m.Int64Counter("auth.magic_link_requests", metric.WithDescription("Magic-link requests, by outcome.")); err != nil {
		return metrics{}, fmt.Errorf("auth metrics: %w", err)
	}
	if ms.durations, err = m.Float64Histogram("auth.request.duration", metric.WithUnit("s"), metric.WithDescription("Account API requests, by route and status.")); err != nil {
		return metrics{}, fmt.Errorf("auth metrics: %w", err)
	}
	return ms, nil
}

func (m metrics) signIn(ctx context.Context, method string) {
	m.signIns.Add(ctx, 1, metric.WithAttributes(attribute.String("method", method)))
}

func (m metrics) refused(ctx context.Context, method, reason string) {
	m.refusals.Add(ctx, 1, metric.WithAttributes(attribute.String("method", method), attribute.String("reason", reason)))
}

func (m metrics) linkRequest(ctx context.Context, outcome string) {
	m.linkReqs.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", outcome)))
}

func (m metrics) request(ctx context.Context, method, route string, status int, d time.Duration) {
	m.durations.Record(ctx, d.Seconds(), metric.WithAttributes(
		attribute.String("method", method), attribute.String("route", route), attribute.String("status", strconv.Itoa(status))))
}
