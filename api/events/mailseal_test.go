package events_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/api/events"
)

func mustKey(t *testing.T, s string) events.MailSealKey {
	t.Helper()
	k, err := events.ParseMailSealKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func sealedMail(t *testing.T, k events.MailSealKey) events.MailRequestedV1 {
	t.Helper()
	ev := events.MailRequestedV1{V: 1, ID: "mail_1", Time: time.Now().UTC(), AccountID: events.NoAccount, To: "ada@example.com",
		Template: events.MailMagicLink, Data: map[string]string{"expires_in": "15 minutes"}}
	ev, err := k.SealMail(ev, map[string]string{"link": "https://app.example/api/auth/magic-link/verify?token=SECRET-TOKEN"})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestMailSeal_TheLinkIsNotOnTheWireAndOpensWithTheKey(t *testing.T) {
	t.Parallel()
	k := mustKey(t, events.NewMailSealKey())
	ev := sealedMail(t, k)
	wire, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(wire), "SECRET-TOKEN") || strings.Contains(string(wire), "magic-link") {
		t.Fatalf("the link is readable on the wire: %s", wire)
	}
	var got events.MailRequestedV1
	if err := json.Unmarshal(wire, &got); err != nil {
		t.Fatal(err)
	}
	data, err := events.OpenMail(got, k)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(data["link"], "token=SECRET-TOKEN") || data["expires_in"] != "15 minutes" {
		t.Fatalf("opened data = %v", data)
	}
}

func TestMailSeal_ARotatedNotifierOpensWithThePreviousKey(t *testing.T) {
	t.Parallel()
	old, cur := mustKey(t, events.NewMailSealKey()), mustKey(t, events.NewMailSealKey())
	ev := sealedMail(t, old) // auth not yet rotated
	if _, err := events.OpenMail(ev, cur, old); err != nil {
		t.Fatalf("current + previous: %v", err)
	}
	if _, err := events.OpenMail(ev, cur); !errors.Is(err, events.ErrMailKeyUnknown) {
		t.Fatalf("without the previous key: err = %v, want ErrMailKeyUnknown", err)
	}
}

func TestMailSeal_AnAlteredOrMovedSealDoesNotOpen(t *testing.T) {
	t.Parallel()
	k := mustKey(t, events.NewMailSealKey())
	cases := map[string]func(*events.MailRequestedV1){
		"another recipient": func(ev *events.MailRequestedV1) { ev.To = "mallory@example.com" },
		"another mail id":   func(ev *events.MailRequestedV1) { ev.ID = "mail_2" },
		"another template":  func(ev *events.MailRequestedV1) { ev.Template = "receipt" },
		"a flipped bit":     func(ev *events.MailRequestedV1) { ev.Sealed.Ciphertext[3] ^= 1 },
		"a short nonce":     func(ev *events.MailRequestedV1) { ev.Sealed.Nonce = ev.Sealed.Nonce[:4] },
		"an unknown form":   func(ev *events.MailRequestedV1) { ev.Sealed.V = 2 },
	}
	for name, alter := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ev := sealedMail(t, k)
			alter(&ev)
			data, err := events.OpenMail(ev, k)
			if !errors.Is(err, events.ErrMailSealBroken) {
				t.Fatalf("err = %v, want ErrMailSealBroken", err)
			}
			if data != nil || strings.Contains(err.Error(), "SECRET") {
				t.Fatalf("a broken seal gave data %v / err %v", data, err)
			}
		})
	}
}

func TestMailSeal_KeysOfTheWrongShapeAreRefusedWithoutEchoingThem(t *testing.T) {
	t.Parallel()
	for name, s := range map[string]string{
		"empty":          "",
		"16 bytes":       "AAAAAAAAAAAAAAAAAAAAAA==",
		"not base64":     "this is not a key at all, it's a sentence!!",
		"hex, not b64 ":  strings.Repeat("ab", 32),
		"url-safe chars": strings.Repeat("-_", 22),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := events.ParseMailSealKey(s)
			if err == nil {
				t.Fatalf("%q accepted", s)
			}
			if s != "" && strings.Contains(err.Error(), s) {
				t.Fatalf("the error repeats the key: %v", err)
			}
		})
	}
	k := mustKey(t, events.NewMailSealKey())
	if k.ID() == "" || k.ID() == mustKey(t, events.NewMailSealKey()).ID() {
		t.Fatalf("key ids do not tell keys apart: %q", k.ID())
	}
}
