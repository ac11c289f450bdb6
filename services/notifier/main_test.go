package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/boot/boottest"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/bus/bustest"
	"github.com/onekey-oss/onekey/pkg/config"
	"github.com/onekey-oss/onekey/pkg/store/storetest"
	"github.com/onekey-oss/onekey/services/notifier/resendtest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func TestRun_ReportsEveryConfigProblemTogether(t *testing.T) {
	t.Parallel()
	err := run(context.Background(), nil, func(string) string { return "" })
	if err == nil {
		t.Fatal("run started without configuration")
	}
	for _, want := range []string{"NATS_URL", "MONGODB_URI", "RESEND_API_KEY"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
}

func TestRun_SendsASignInMailFromTheEnvironmentsSettingsAndStopsOnCancel(t *testing.T) {
	t.Parallel()
	srv := bustest.Start(t)
	b := srv.Connect(t, "test")
	st := storetest.New(t)
	rs := resendtest.Start(t)
	env := map[string]string{
		"NATS_URL": srv.ClientURL(), "NATS_CREDS_FILE": srv.CredsFile(bus.UserNotifier), "MONGODB_URI": storetest.URI(t), "MONGODB_DB": st.DB().Name(),
		"RESEND_API_KEY": resendtest.APIKey, "RESEND_BASE_URL": rs.URL(), "MAIL_FROM": "onekey <noreply@onekey.example>",
		"NOTIFIER_ADDR": "127.0.0.1:0", "LOG_LEVEL": "warn", "MAIL_SEAL_KEY": events.NewMailSealKey(),
	}
	key, err := events.ParseMailSealKey(env["MAIL_SEAL_KEY"])
	if err != nil {
		t.Fatal(err)
	}
	ev, err := key.SealMail(events.MailRequestedV1{V: 1, ID: "mail_main", Time: time.Now().UTC(), To: "ada@example.com", Template: events.MailMagicLink},
		map[string]string{"link": "https://onekey.example/auth/magic?token=t"})
	if err != nil {
		t.Fatal(err)
	}
	svc := boottest.Start(t, func(ctx context.Context) error { return run(ctx, nil, func(k string) string { return env[k] }) })

	if _, err := b.Publish(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	m := rs.WaitForMail(t, func(m resendtest.Mail) bool { return m.IdempotencyKey == "mail_main" })
	if m.From != "onekey <noreply@onekey.example>" {
		t.Errorf("from %q", m.From)
	}
	svc.Stop(t)
}

// The admin server (NOTIFIER_ADMIN_ADDR) answers /healthz at once, /readyz
// 503 until the notifier is bound to its consumers (declared by the bus
// admin), 200 after, and /metrics; it closes once the consumers stopped.
func TestRun_AdminServerIsReadyOnceBoundToTheTopology(t *testing.T) {
	t.Parallel()
	srv := bustest.StartUndeclared(t)
	admin := boottest.FreeAddr(t)
	env := config.MapEnv(map[string]string{
		"NATS_URL": srv.ClientURL(), "NATS_CREDS_FILE": srv.CredsFile(bus.UserNotifier), "MONGODB_URI": storetest.URI(t), "MONGODB_DB": "notifier_admin",
		"NOTIFIER_OUTBOX_DIR": t.TempDir(), "NOTIFIER_ADMIN_ADDR": admin, "LOG_LEVEL": "error", "MAIL_SEAL_KEY": events.NewMailSealKey(),
	})
	svc := boottest.Start(t, func(ctx context.Context) error { return run(ctx, nil, env) })
	boottest.CheckReadyOnceDeclared(t, admin, svc.Done(), func() { srv.Declare(t, bus.DefaultTopology()) })
	svc.Stop(t)
	boottest.WaitClosed(t, admin)
}
