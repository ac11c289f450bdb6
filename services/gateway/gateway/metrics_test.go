package gateway_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/pkg/boot"
	"github.com/onekey-oss/onekey/pkg/telemetry"
)

func TestMetrics_ServedWithoutKeysAccountsOrContent(t *testing.T) {
	t.Parallel()
	tel, err := telemetry.Setup(context.Background(), telemetry.Config{Service: "gateway-test", Output: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	h := newHarness(t, func(h *harness) { h.deps.MeterProvider = tel.MeterProvider })
	for range 2 {
		if resp, _ := h.post("/v1/chat/completions", h.key, `{"model":"gpt-5-mini","messages":[{"role":"user","content":"secret-prompt"}]}`); resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	waitFor(t, time.Minute, "the usage events", func() bool { return len(h.usageEvents()) == 2 })
	// Served as main serves it: on pkg/boot's admin server.
	admin := httptest.NewServer(boot.AdminHandler(tel.MetricsHandler(), h.svc.Ready))
	defer admin.Close()
	resp, err := http.Get(admin.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	text := string(body)
	for _, want := range []string{"gateway_requests", "gateway_cost", "gateway_outbox_spilled", `model="gpt-5-mini"`} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// Both requests count in one series (the attribute sets are cached).
	if !regexp.MustCompile(`gateway_requests_total\{[^}]*op="chat"[^}]*status="200"[^}]*\} 2\b`).MatchString(text) {
		t.Errorf("/metrics does not count both requests in one series:\n%s", text)
	}
	for _, never := range []string{h.key, h.keyID, h.accountID, "secret-prompt"} {
		if strings.Contains(text, never) {
			t.Errorf("/metrics contains %q", never)
		}
	}
}
