package stack

import (
	"io"
	"os"
	"path/filepath"

	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/services/notifier/notifier"
)

// notifierService builds the notifier. devstack has no mail provider: every
// mail is written to DATA/outbox/<event id>.eml, and a line per mail goes to
// the console, with the sign-in link of a magic-link mail, so signing in
// works on a fresh machine.
func notifierService(env *Env) (*runner, error) {
	b, err := env.ConnectAs(bus.UserNotifier)
	if err != nil {
		return nil, err
	}
	var console io.Writer = os.Stdout
	if env.Config.LogOutput != nil {
		console = env.Config.LogOutput
	}
	mailKey, err := mailSealKey(env)
	if err != nil {
		return nil, err
	}
	cfg := notifier.Config{
		MailSealKey: mailKey,
		OutboxDir:   filepath.Join(env.Config.DataDir, "outbox"),
		From:        "onekey devstack <noreply@localhost>",
		SiteURL:     "http://" + env.Config.AccountAddr,
	}
	svc, err := notifier.New(cfg, notifier.Deps{
		Bus:           b,
		Store:         env.Store,
		Logger:        env.Telemetry.Logger.With("part", "notifier"),
		MeterProvider: env.Telemetry.MeterProvider,
		Console:       console,
	})
	if err != nil {
		return nil, err
	}
	return &runner{name: "notifier", addr: "", run: svc.Run}, nil
}
