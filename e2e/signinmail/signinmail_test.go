// Package signinmail_test runs auth and the notifier on one embedded bus
// (each as its own bus user) and database with a fake Resend: a sign-in
// link travels sealed on the bus, so whoever reads the MAIL stream (here
// the bus admin) does not see it, while the mail still carries a link that
// signs in.
package signinmail_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/e2e/internal/e2estack"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/bus/bustest"
	"github.com/onekey-oss/onekey/pkg/store/storetest"
	"github.com/onekey-oss/onekey/services/auth/auth"
	"github.com/onekey-oss/onekey/services/auth/authtest"
	"github.com/onekey-oss/onekey/services/notifier/notifier"
	"github.com/onekey-oss/onekey/services/notifier/resendtest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var linkRE = regexp.MustCompile(`https?://[^\s"'<>]+/api/auth/magic-link/verify\?token=[A-Za-z0-9_-]+`)

func TestSignInMail_TheMailStreamHoldsNoLinkOrTokenYetTheMailedLinkSignsIn(t *testing.T) {
	t.Parallel()
	nats := bustest.Start(t)
	st := storetest.New(t)
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	mailKey := events.NewMailSealKey() // MAIL_SEAL_KEY of auth and the notifier, nobody else

	var handler http.Handler
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(web.Close)
	au, err := auth.New(auth.Config{
		Addr: "127.0.0.1:0", PublicURL: web.URL, MagicLinksPerAddress: 5, MagicLinksPerIP: 100, MagicLinkWindow: 15 * time.Minute,
		FreeGrantSecret: "signinmail-e2e-free-grant-secret-0123456789", MailSealKey: mailKey,
	}, auth.Deps{Bus: nats.ConnectAs(t, bus.UserAuth), Store: st, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	handler = au.Handler()
	rs := resendtest.Start(t)
	nt, err := notifier.New(notifier.Config{
		ResendAPIKey: resendtest.APIKey, ResendBaseURL: rs.URL(), From: "onekey <login@onekey.test>", SiteURL: web.URL,
		MailSealKey: mailKey,
	}, notifier.Deps{Bus: nats.ConnectAs(t, bus.UserNotifier), Store: st, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	e2estack.Run(t, "auth", au.Run)
	e2estack.Run(t, "notifier", nt.Run)

	c := authtest.New(t, web.URL)
	c.Must(http.MethodPost, "/api/auth/magic-link", map[string]string{"email": "zoe@example.com"}, http.StatusAccepted)
	m := rs.WaitForMail(t, func(m resendtest.Mail) bool { return len(m.To) == 1 && m.To[0] == "zoe@example.com" })
	link := linkRE.FindString(m.Text)
	if link == "" {
		t.Fatalf("no sign-in link in the mail:\n%s", m.Text)
	}
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	token := u.Query().Get("token")

	// What the MAIL stream holds, read as the bus admin (an operator, a
	// stream backup): the address and the expiry, never the link.
	raw := mailStream(t, nats.Connect(t, "operator"))
	if len(raw) != 1 {
		t.Fatalf("%d messages on MAIL, want 1", len(raw))
	}
	for _, secret := range []string{token, link, u.RawQuery, "magic-link/verify"} {
		if bytes.Contains(raw[0], []byte(secret)) {
			t.Errorf("the MAIL stream holds %q in clear: %s", secret, raw[0])
		}
	}
	var ev events.MailRequestedV1
	if err := json.Unmarshal(raw[0], &ev); err != nil {
		t.Fatal(err)
	}
	if ev.To != "zoe@example.com" || ev.Sealed == nil {
		t.Errorf("mail event %+v: want the address and a sealed part", ev)
	}

	// The mailed link signs in.
	c.Must(http.MethodGet, u.RequestURI(), nil, http.StatusOK)
	c.Must(http.MethodPost, "/api/auth/magic-link/verify", url.Values{"token": {token}}, http.StatusSeeOther)
	var me struct {
		Email string `json:"email"`
	}
	if err := json.Unmarshal(c.Must(http.MethodGet, "/api/me", nil, http.StatusOK).Body, &me); err != nil || me.Email != "zoe@example.com" {
		t.Fatalf("/api/me = %+v (%v), want zoe's session", me, err)
	}
}

// mailStream is every message of the MAIL stream, raw.
func mailStream(t *testing.T, b *bus.Bus) [][]byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cons, err := b.JetStream().OrderedConsumer(ctx, events.StreamMail, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for {
		batch, err := cons.Fetch(100, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			out = append(out, m.Data())
			n++
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			t.Fatal(err)
		}
		if n == 0 {
			return out
		}
	}
}
