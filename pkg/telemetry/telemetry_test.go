package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/onekey-oss/onekey/pkg/config"
	"github.com/onekey-oss/onekey/pkg/telemetry"
)

func TestTelemetry_MetricsAreServedFromTheServicesOwnRegistry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, err := telemetry.Setup(ctx, telemetry.Config{Service: "a", Output: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	b, err := telemetry.Setup(ctx, telemetry.Config{Service: "b", Output: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	c, err := a.MeterProvider.Meter("test").Int64Counter("onekey_test_events")
	if err != nil {
		t.Fatal(err)
	}
	c.Add(ctx, 3)
	scrape := func(tel *telemetry.Telemetry) string {
		rec := httptest.NewRecorder()
		tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		return rec.Body.String()
	}
	if got := scrape(a); !strings.Contains(got, "onekey_test_events_total 3") {
		t.Errorf("service a's metrics lack its counter:\n%s", got)
	}
	if got := scrape(b); strings.Contains(got, "onekey_test_events") {
		t.Error("service b's registry shows service a's counter: registries are shared")
	}
	if err := a.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestTelemetry_JSONLogsInProductionTextInDev(t *testing.T) {
	t.Parallel()
	var prod, dev bytes.Buffer
	p, err := telemetry.Setup(context.Background(), telemetry.Config{Service: "gw", JSONLogs: true, Output: &prod})
	if err != nil {
		t.Fatal(err)
	}
	d, err := telemetry.Setup(context.Background(), telemetry.Config{Service: "gw", Output: &dev})
	if err != nil {
		t.Fatal(err)
	}
	p.Logger.Info("hello", "n", 1)
	d.Logger.Info("hello", "n", 1)
	var line map[string]any
	if err := json.Unmarshal(prod.Bytes(), &line); err != nil || line["service"] != "gw" {
		t.Errorf("production log is not JSON with the service: %q (%v)", prod.String(), err)
	}
	if !strings.Contains(dev.String(), "msg=hello") || !strings.Contains(dev.String(), "service=gw") {
		t.Errorf("dev log = %q", dev.String())
	}
	if _, err := telemetry.ParseLevel("loud"); err == nil {
		t.Error("ParseLevel accepted nonsense")
	}
}

func TestConfigFrom_ReadsSharedVariablesAndReportsEveryProblem(t *testing.T) {
	r := config.NewReader(config.MapEnv(map[string]string{"LOG_LEVEL": "debug", "LOG_FORMAT": "text", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4318"}))
	c := telemetry.ConfigFrom(r, "svc")
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if c.Service != "svc" || c.Level != slog.LevelDebug || c.JSONLogs || c.OTLPEndpoint != "http://otel:4318" {
		t.Fatalf("config = %+v", c)
	}
	if c := telemetry.ConfigFrom(config.NewReader(config.MapEnv(nil)), "svc"); !c.JSONLogs || c.Level != slog.LevelInfo {
		t.Fatalf("defaults = %+v, want JSON logs at info", c)
	}
	r = config.NewReader(config.MapEnv(map[string]string{"LOG_LEVEL": "loud", "LOG_FORMAT": "xml"}))
	telemetry.ConfigFrom(r, "svc")
	err := r.Err()
	if err == nil || !strings.Contains(err.Error(), "LOG_LEVEL") || !strings.Contains(err.Error(), "LOG_FORMAT") {
		t.Fatalf("err = %v, want both problems reported", err)
	}
}
