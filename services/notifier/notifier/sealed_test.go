package notifier_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/services/notifier/notifier"
	"github.com/onekey-oss/onekey/services/notifier/resendtest"
)

func signIn(id, to string) events.MailRequestedV1 {
	return events.MailRequestedV1{V: 1, ID: id, Time: time.Now().UTC(), AccountID: events.NoAccount, To: to,
		Template: events.MailMagicLink, Data: map[string]string{"expires_in": "15 minutes"}}
}

func TestNotifier_SignInMailWhoseSealDoesNotOpenIsNeitherMailedNorKept(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var mu sync.Mutex
	var logs bytes.Buffer
	f.start(t, notifier.Deps{Logger: slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	const secret = "tok-never-mailed"
	link := "https://onekey.example/api/auth/magic-link/verify?token=" + secret

	tampered := f.sealed(t, signIn("mail_tampered", "eve@example.com"), link)
	tampered.Sealed.Ciphertext[0] ^= 0x01
	other, err := events.ParseMailSealKey(events.NewMailSealKey())
	if err != nil {
		t.Fatal(err)
	}
	wrongKey, err := other.SealMail(signIn("mail_wrongkey", "eve@example.com"), map[string]string{"link": link})
	if err != nil {
		t.Fatal(err)
	}
	// A sealed link copied into a mail to another address.
	moved := f.sealed(t, signIn("mail_moved", "ada@example.com"), link)
	moved.ID, moved.To = "mail_moved2", "mallory@example.com"
	for _, ev := range []events.MailRequestedV1{tampered, wrongKey, moved} {
		f.publish(t, ev)
	}
	f.waitIdle(t, events.ConsumerNotifierMail)

	if n := f.rs.Requests(); n != 0 {
		t.Errorf("%d requests to Resend, want 0: a mail that does not open is never sent", n)
	}
	// Nothing keeps the address (or the sealed link) past the MAIL
	// stream's 15 minutes: no dead letter.
	if n := deadLetters(t, f, events.NoAccount); n != 0 {
		t.Fatalf("%d dead letters, want 0: a dead letter would keep the address for 90 days", n)
	}
	mu.Lock()
	defer mu.Unlock()
	out := logs.String()
	if strings.Contains(out, secret) || strings.Contains(out, "eve@example.com") || strings.Contains(out, "mallory@example.com") {
		t.Errorf("logs hold the link or the address:\n%s", out)
	}
	if n := strings.Count(out, "sign-in mail dropped: its sealed link does not open"); n != 3 {
		t.Errorf("%d error lines about a seal that does not open, want 3 (the operator's signal):\n%s", n, out)
	}
}

func TestNotifier_SignInLinkInClearIsNeitherMailedNorKept(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.start(t, notifier.Deps{})
	clear := signIn("mail_clear", "x@example.com")
	clear.Data["link"] = "https://phish.example/?token=t"
	// A clear link beside a sealed one must not win either.
	both := f.sealed(t, signIn("mail_both", "x@example.com"), "https://onekey.example/?token=t")
	both.Data["link"] = "https://phish.example/?token=t"
	f.publish(t, clear)
	f.publish(t, both)
	f.waitIdle(t, events.ConsumerNotifierMail)
	if n := f.rs.Requests(); n != 0 {
		t.Errorf("%d requests to Resend, want 0", n)
	}
	// A dead letter would keep a readable link for months.
	if n := deadLetters(t, f, events.NoAccount); n != 0 {
		t.Errorf("%d dead letters, want 0", n)
	}
}

func TestNotifier_DuringAKeyRotationMailsSealedWithEitherKeyAreSent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// The notifier is rotated first: the new key is current, auth's old
	// one (f.key) is previous; auth, rotated next, seals with the new one.
	newKey := events.NewMailSealKey()
	f.cfg.MailSealKeyPrevious, f.cfg.MailSealKey = f.cfg.MailSealKey, newKey
	f.start(t, notifier.Deps{})
	f.publish(t, f.sealed(t, signIn("mail_oldkey", "a@example.com"), "https://onekey.example/?token=old"))
	k, err := events.ParseMailSealKey(newKey)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := k.SealMail(signIn("mail_newkey", "a@example.com"), map[string]string{"link": "https://onekey.example/?token=new"})
	if err != nil {
		t.Fatal(err)
	}
	f.publish(t, ev)
	for id, token := range map[string]string{"mail_oldkey": "token=old", "mail_newkey": "token=new"} {
		m := f.rs.WaitForMail(t, func(m resendtest.Mail) bool { return m.IdempotencyKey == id })
		if !strings.Contains(m.Text, token) {
			t.Errorf("%s: text %q", id, m.Text)
		}
	}
}
