package auth_test

import (
	"strings"
	"testing"

	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/pkg/config"
	"github.com/onekey-oss/onekey/services/auth/auth"
)

func TestConfig_DashboardSettingsAreReadAndChecked(t *testing.T) {
	t.Parallel()
	env := map[string]string{"NATS_URL": "nats://x", "MONGODB_URI": "mongodb://y", "AUTH_FREE_GRANT_SECRET": strings.Repeat("s", 32), "MAIL_SEAL_KEY": harnessMailKey}
	c, err := auth.ConfigFromEnv(config.MapEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	if c.Dashboard.GatewayPublicURL != auth.DefaultGatewayPublicURL || c.Dashboard.CheckoutMin != 5*money.Dollar || c.Dashboard.CheckoutMax != 1000*money.Dollar {
		t.Fatalf("defaults: %+v", c.Dashboard)
	}
	env["GATEWAY_PUBLIC_URL"], env["OPERATOR_NAME"], env["OPERATOR_CONTACT"] = "https://api.example.com", "Example Ltd", "privacy@example.com"
	env["CHECKOUT_MIN_USD"], env["CHECKOUT_MAX_USD"] = "10", "250.50"
	if c, err = auth.ConfigFromEnv(config.MapEnv(env)); err != nil {
		t.Fatal(err)
	}
	d := c.Dashboard
	if d.GatewayPublicURL != "https://api.example.com" || d.OperatorName != "Example Ltd" || d.OperatorContact != "privacy@example.com" || d.CheckoutMin != 10*money.Dollar || d.CheckoutMax != 250_500_000 {
		t.Fatalf("read: %+v", d)
	}
	env["GATEWAY_PUBLIC_URL"], env["CHECKOUT_MIN_USD"] = "api.example.com", "500"
	_, err = auth.ConfigFromEnv(config.MapEnv(env))
	if err == nil || !strings.Contains(err.Error(), "GATEWAY_PUBLIC_URL") || !strings.Contains(err.Error(), "CHECKOUT_MIN_USD") {
		t.Fatalf("bad dashboard config: %v", err)
	}
}
