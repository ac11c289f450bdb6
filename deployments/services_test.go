package deployments

import (
	"errors"
	"strings"

	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/config"
	"github.com/onekey-oss/onekey/pkg/telemetry"
	"github.com/onekey-oss/onekey/services/auth/auth"
	"github.com/onekey-oss/onekey/services/chainwatcher/chainwatcher"
	"github.com/onekey-oss/onekey/services/gateway/gateway"
	"github.com/onekey-oss/onekey/services/ledger/ledger"
	"github.com/onekey-oss/onekey/services/notifier/notifier"
	"github.com/onekey-oss/onekey/services/payments/payments"
)

// spec is what a deployment of one service must give it, read from its
// code (main.go and its config): where it answers /healthz, /readyz and
// /metrics, which listener (if any) the public reaches, and whom it talks to.
type spec struct {
	// health are the variables of the listeners that answer /healthz.
	health []string
	// ready: those listeners also answer /readyz.
	ready bool
	// metrics is the variable of the listener that answers /metrics.
	metrics string
	// public is the variable of the listener behind the Ingress, at
	// publicPath ("" for a service nobody outside reaches).
	public, publicPath string
	// egress are the peers it needs besides DNS: "nats", "mongodb",
	// "internet" (TCP 443, the providers, OAuth, Stripe, Resend, JSON-RPC).
	egress []string
	// parse runs the service's own reading of its environment (its
	// ConfigFromEnv, and what pkg/boot reads), so that every problem it
	// would refuse to start with is found here.
	parse func(config.Getenv) error
}

// services are the programs under services/ and what each needs.
func services() map[string]spec {
	return map[string]spec{
		"gateway": {
			health: []string{"GATEWAY_ADDR", "GATEWAY_ADMIN_ADDR"}, ready: true, metrics: "GATEWAY_ADMIN_ADDR",
			public: "GATEWAY_ADDR", publicPath: "/", egress: []string{"nats", "internet"},
			parse: func(g config.Getenv) error { _, err := gateway.ConfigFromEnv(g); return shared(g, err) },
		},
		"ledger": {
			health: []string{"LEDGER_ADMIN_ADDR"}, ready: true, metrics: "LEDGER_ADMIN_ADDR",
			egress: []string{"nats", "mongodb"},
			parse:  func(g config.Getenv) error { _, err := ledger.ConfigFromEnv(g); return shared(g, err) },
		},
		"auth": {
			health: []string{"AUTH_ADMIN_ADDR"}, ready: true, metrics: "AUTH_ADMIN_ADDR",
			public: "AUTH_ADDR", publicPath: "/", egress: []string{"nats", "mongodb", "internet"},
			parse: func(g config.Getenv) error { _, err := auth.ConfigFromEnv(g); return shared(g, err) },
		},
		"payments": {
			health: []string{"PAYMENTS_ADMIN_ADDR"}, ready: true, metrics: "PAYMENTS_ADMIN_ADDR",
			public: "PAYMENTS_ADDR", publicPath: "/webhooks/stripe", egress: []string{"nats", "mongodb", "internet"},
			parse: func(g config.Getenv) error { _, err := payments.ConfigFromEnv(g); return shared(g, err) },
		},
		"chainwatcher": {
			health: []string{"CHAINWATCHER_ADMIN_ADDR"}, ready: true, metrics: "CHAINWATCHER_ADMIN_ADDR",
			egress: []string{"nats", "mongodb", "internet"},
			parse:  func(g config.Getenv) error { _, err := chainwatcher.ConfigFromEnv(g); return shared(g, err) },
		},
		"notifier": {
			health: []string{"NOTIFIER_ADMIN_ADDR"}, ready: true, metrics: "NOTIFIER_ADMIN_ADDR",
			egress: []string{"nats", "mongodb", "internet"},
			parse:  func(g config.Getenv) error { _, err := notifier.ConfigFromEnv(g); return shared(g, err) },
		},
	}
}

// shared adds what every service reads through pkg/telemetry and pkg/bus
// (pkg/boot, or the gateway's main) to the service's own problems.
func shared(g config.Getenv, err error) error {
	r := config.NewReader(g)
	telemetry.ConfigFrom(r, "check")
	bus.TopologyFrom(r)
	return errors.Join(err, r.Err())
}

// secretPlaceholder stands for a Secret's value, which the manifests do
// not hold: one the services accept for that name.
func secretPlaceholder(name string) string {
	switch {
	case name == "NATS_URL":
		return "nats://nats-0.nats:4222,nats://nats-1.nats:4222,nats://nats-2.nats:4222"
	case strings.HasPrefix(name, "MONGODB_URI"):
		return "mongodb://mongo-0.mongo:27017/?replicaSet=rs0"
	case strings.HasSuffix(name, "_URL"), strings.HasSuffix(name, "_URI"):
		return "https://secret.example"
	case strings.HasPrefix(name, "MAIL_SEAL_KEY"): // base64 of 32 bytes
		return "c2VjcmV0LXBsYWNlaG9sZGVyLTAxMjM0NTY3ODlhYmM="
	case strings.HasSuffix(name, "_FILE"):
		return "/var/run/secrets/onekey/" + strings.ToLower(name)
	}
	return "secret-placeholder-0123456789abcdef0123456789abcdef"
}
