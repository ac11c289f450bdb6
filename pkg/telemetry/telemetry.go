// Package telemetry sets up a service's logs, traces and metrics in one
// call and flushes them in one call. Nothing here is global: the logger,
// tracer provider and meter provider are returned for the service to pass
// down, and metrics are served from the service's own Prometheus registry.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/onekey-oss/onekey/pkg/config"
)

// Config selects formats and exporters.
type Config struct {
	// Service names the logs, traces and metrics.
	Service string
	// JSONLogs selects JSON log lines (production); text otherwise (dev).
	JSONLogs bool
	// Level is the minimum log level.
	Level slog.Level
	// Output for logs; nil means stderr.
	Output io.Writer
	// OTLPEndpoint, when set (OTEL_EXPORTER_OTLP_ENDPOINT), exports traces
	// over OTLP/HTTP; when empty, no spans are recorded.
	OTLPEndpoint string
}

// Telemetry holds what a service passes to its parts.
type Telemetry struct {
	Logger         *slog.Logger
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	Registry       *prometheus.Registry

	shutdown []func(context.Context) error
}

// Setup builds the logger, the tracer provider and the meter provider.
func Setup(ctx context.Context, cfg Config) (*Telemetry, error) {
	if cfg.Service == "" {
		return nil, errors.New("telemetry: service name is required")
	}
	out := cfg.Output
	if out == nil {
		out = os.Stderr
	}
	hopts := &slog.HandlerOptions{Level: cfg.Level}
	var h slog.Handler = slog.NewTextHandler(out, hopts)
	if cfg.JSONLogs {
		h = slog.NewJSONHandler(out, hopts)
	}
	t := &Telemetry{Logger: slog.New(h).With("service", cfg.Service)}

	res := resource.NewSchemaless(semconv.ServiceName(cfg.Service))

	if cfg.OTLPEndpoint != "" {
		exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(cfg.OTLPEndpoint))
		if err != nil {
			return nil, fmt.Errorf("telemetry: otlp exporter: %w", err)
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
		t.TracerProvider = tp
		t.shutdown = append(t.shutdown, tp.Shutdown)
	} else {
		t.TracerProvider = noop.NewTracerProvider()
	}

	t.Registry = prometheus.NewRegistry()
	t.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exp, err := otelprom.New(otelprom.WithRegisterer(t.Registry), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("telemetry: prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp), sdkmetric.WithResource(res))
	t.MeterProvider = mp
	t.shutdown = append(t.shutdown, mp.Shutdown)
	return t, nil
}

// MetricsHandler serves the Prometheus text format at /metrics.
func (t *Telemetry) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(t.Registry, promhttp.HandlerOpts{Registry: t.Registry})
}

// Shutdown flushes traces and metrics. Call it last, under a timeout.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	for i := len(t.shutdown) - 1; i >= 0; i-- {
		if err := t.shutdown[i](ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("telemetry shutdown: %w", err)
	}
	return nil
}

// ParseLevel reads LOG_LEVEL values: debug, info, warn, error.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if s == "" {
		return slog.LevelInfo, nil
	}
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log level %q: %w", s, err)
	}
	return l, nil
}

// ConfigFrom reads the variables every service shares: LOG_LEVEL (debug,
// info, warn, error; default info), LOG_FORMAT (json or text; default json)
// and OTEL_EXPORTER_OTLP_ENDPOINT. Problems are recorded on r.
func ConfigFrom(r *config.Reader, service string) Config {
	c := Config{Service: service, OTLPEndpoint: r.String("OTEL_EXPORTER_OTLP_ENDPOINT", "")}
	level, err := ParseLevel(r.String("LOG_LEVEL", "info"))
	if err != nil {
		r.Fail("LOG_LEVEL: %v", err)
	}
	c.Level = level
	switch f := r.String("LOG_FORMAT", "json"); f {
	case "json":
		c.JSONLogs = true
	case "text":
	default:
		r.Fail("LOG_FORMAT: %q: want json or text", f)
	}
	return c
}
