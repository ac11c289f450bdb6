package auth_test

import (
	"context"
	"net/http"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/onekey-oss/onekey/services/auth/auth"
)

func TestMetrics_CountSignInsAndRefusalsWithoutPersonalLabels(t *testing.T) {
	t.Parallel()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	h := newHarness(t, withMeter(mp))
	c, _ := h.signIn("mia@example.com")
	c.Must(http.MethodGet, "/api/projects", nil, http.StatusOK)
	h.client().Must(http.MethodPost, "/api/auth/magic-link/verify", map[string]string{"token": "nope"}, http.StatusBadRequest)

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					key := m.Name
					for _, kv := range p.Attributes.ToSlice() {
						key += " " + string(kv.Key) + "=" + kv.Value.String()
					}
					got[key] += p.Value
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					route, _ := p.Attributes.Value("route")
					got[m.Name+" route="+route.AsString()] += int64(p.Count)
				}
			}
		}
	}
	for key, want := range map[string]int64{
		"auth.sign_ins method=magic_link":                             1,
		"auth.magic_link_requests outcome=sent":                       1,
		"auth.sign_in_refusals method=magic_link reason=link_invalid": 1,
		"auth.request.duration route=/api/projects":                   1,
		"auth.request.duration route=/api/auth/magic-link/verify":     2,
	} {
		if got[key] != want {
			t.Errorf("%s = %d, want %d (all: %v)", key, got[key], want, got)
		}
	}
}

func withMeter(mp *sdkmetric.MeterProvider) option {
	return func(_ *auth.Config, d *auth.Deps) { d.MeterProvider = mp }
}
