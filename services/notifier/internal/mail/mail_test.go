package mail_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/api/notices"
	"github.com/onekey-oss/onekey/services/notifier/internal/mail"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var when = time.Date(2026, 11, 25, 13, 4, 5, 0, time.UTC)

func renderer(t *testing.T) *mail.Renderer {
	t.Helper()
	r, err := mail.NewRenderer(mail.Site{Name: "onekey", URL: "https://onekey.example", DashboardURL: "https://onekey.example/dashboard"})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// golden compares a rendered mail with testdata/<name>.{txt,html}.
func golden(t *testing.T, name string, m mail.Message) {
	t.Helper()
	for ext, got := range map[string]string{".txt": "Subject: " + m.Subject + "\n\n" + m.Text, ".html": m.HTML} {
		path := filepath.Join("testdata", name+ext)
		if *update {
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -update to create it)", err)
		}
		if got != string(want) {
			t.Errorf("%s differs from the rendered mail (go test -update rewrites it):\n%s", path, got)
		}
	}
}

func mustContain(t *testing.T, what, s string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(s, p) {
			t.Errorf("%s does not contain %q:\n%s", what, p, s)
		}
	}
}

func TestMail_EveryKindRendersTextAndHTML(t *testing.T) {
	t.Parallel()
	r := renderer(t)
	cases := []struct {
		name    string
		render  func() (mail.Message, error)
		kind    string
		subject string
		body    []string // in both the text and the HTML
	}{
		{
			name: "magic_link",
			render: func() (mail.Message, error) {
				return r.MagicLink(events.MailRequestedV1{V: 1, ID: "mail_1", Time: when, To: "ada@example.com", Template: events.MailMagicLink,
					Data: map[string]string{"link": "https://onekey.example/auth/magic?token=abc"}})
			},
			kind: mail.KindMagicLink, subject: "Your onekey sign-in link",
			body: []string{"https://onekey.example/auth/magic?token=abc", "expires in 15 minutes"},
		},
		{
			name: "magic_link_expires_at",
			render: func() (mail.Message, error) {
				return r.MagicLink(events.MailRequestedV1{V: 1, ID: "mail_2", Time: when, To: "ada@example.com", Template: events.MailMagicLink,
					Data: map[string]string{"link": "https://onekey.example/auth/magic?token=abc", "expires_at": "2026-11-25T13:19:05Z"}})
			},
			kind: mail.KindMagicLink, subject: "Your onekey sign-in link",
			body: []string{"expires at 13:19 UTC on 25 November 2026"},
		},
		{
			name: "magic_link_expires_in",
			render: func() (mail.Message, error) {
				return r.MagicLink(events.MailRequestedV1{V: 1, ID: "mail_3", Time: when, AccountID: events.NoAccount, To: "ada@example.com", Template: events.MailMagicLink,
					Data: map[string]string{"link": "https://onekey.example/auth/magic?token=abc", "expires_in": "10 minutes"}})
			},
			kind: mail.KindMagicLink, subject: "Your onekey sign-in link",
			body: []string{"expires in 10 minutes"},
		},
		{
			name: "receipt_card",
			render: func() (mail.Message, error) {
				return r.Receipt(events.CreditAppliedV1{V: 1, ID: "applied:evt_1", Time: when, AccountID: "acc_1", SourceEventID: "evt_1",
					Method: "card", Kind: events.CreditPurchase, AmountMicros: money.USD(10), BalanceMicros: 12_345_678}, "ada@example.com")
			},
			kind: mail.KindReceipt, subject: "Receipt: $10.00 added to your onekey balance",
			body: []string{"$10.00", "card", "evt_1", "$12.345678", "25 November 2026, 13:04 UTC"},
		},
		{
			name: "receipt_crypto",
			render: func() (mail.Message, error) {
				return r.Receipt(events.CreditAppliedV1{V: 1, ID: "applied:base:0xabc:3", Time: when, AccountID: "acc_1", SourceEventID: "base:0xabc:3",
					Method: "crypto", Kind: events.CreditPurchase, AmountMicros: 1_500_001, BalanceMicros: money.USD(2)}, "ada@example.com")
			},
			kind: mail.KindReceipt, subject: "Receipt: $1.500001 added to your onekey balance",
			body: []string{"$1.500001", "stablecoin transfer", "base:0xabc:3", "$2.00"},
		},
		{
			name: "receipt_refund",
			render: func() (mail.Message, error) {
				return r.Receipt(events.CreditAppliedV1{V: 1, ID: "applied:evt_r", Time: when, AccountID: "acc_1", SourceEventID: "evt_r",
					Method: "card", Kind: events.CreditRefund, AmountMicros: -money.USD(5), BalanceMicros: -money.Cent}, "ada@example.com")
			},
			kind: mail.KindReceipt, subject: "Refund of $5.00 from your onekey balance",
			body: []string{"$5.00", "-$0.01"},
		},
		{
			name: "balance_low",
			render: func() (mail.Message, error) {
				return r.BalanceLow(events.BalanceLowV1{V: 1, ID: "low_1", Time: when, AccountID: "acc_1", BalanceMicros: 900_000, ThresholdMicros: money.USD(1)}, "ada@example.com")
			},
			kind: mail.KindBalanceLow, subject: "Your onekey balance is low: $0.90",
			body: []string{"$1.00", "https://onekey.example/dashboard"},
		},
		{
			name: "payment_failed",
			render: func() (mail.Message, error) {
				return r.PaymentFailed(events.PaymentFailedV1{V: 1, ID: "evt_f", Time: when, AccountID: "acc_1", PaymentID: "cs_test_1", AmountMicros: money.USD(20), Reason: "declined"}, "ada@example.com")
			},
			kind: mail.KindPaymentFailed, subject: "Your onekey payment of $20.00 did not go through",
			body: []string{"the card was declined", "cs_test_1"},
		},
		{
			name: "tx_rejected",
			render: func() (mail.Message, error) {
				return r.TxRejected(events.TxRejectedV1{V: 1, ID: "rej_1", Time: when, AccountID: "acc_1", ClaimID: "clm_1", Chain: "base", TxHash: "0xdeadbeef", Reason: "wrong_sender"}, "ada@example.com")
			},
			kind: mail.KindTxRejected, subject: "Your Base transfer could not be credited",
			body: []string{"0xdeadbeef", "not sent from a wallet linked to your account"},
		},
		{
			name: "notice",
			render: func() (mail.Message, error) {
				return r.Notice(events.NoticeRequestedV1{V: 1, ID: events.NoticeEventID("privacy-2026-12", "acc_1"), Time: when, NoticeID: "privacy-2026-12", AccountID: "acc_1"},
					notices.Notice{ID: "privacy-2026-12", Subject: "We are changing our privacy policy",
						Text: "Hello,\n\nFrom 1 January 2027 <usage metadata> is kept 60 days instead of 90.\nNothing else changes."}, "ada@example.com")
			},
			kind: mail.KindNotice, subject: "We are changing our privacy policy",
			body: []string{"60 days instead of 90", "Nothing else changes."},
		},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		seen[c.kind] = true
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			m, err := c.render()
			if err != nil {
				t.Fatal(err)
			}
			if m.Kind != c.kind || m.Subject != c.subject || m.To != "ada@example.com" || m.ID == "" {
				t.Errorf("got kind %q subject %q to %q id %q", m.Kind, m.Subject, m.To, m.ID)
			}
			mustContain(t, "text", m.Text, c.body...)
			mustContain(t, "html", m.HTML, c.body...)
			mustContain(t, "html", m.HTML, "<!DOCTYPE html>", "</html>")
			again, err := c.render()
			if err != nil || again != m {
				t.Errorf("a second rendering differs (a redelivery would be refused by Resend's idempotency check)")
			}
			golden(t, c.name, m)
		})
	}
	for _, k := range mail.Kinds() {
		if !seen[k] {
			t.Errorf("no test renders kind %s", k)
		}
	}
}

func TestMail_MagicLinkIsPrintedOnlyForSignInMails(t *testing.T) {
	t.Parallel()
	r := renderer(t)
	m, err := r.MagicLink(events.MailRequestedV1{ID: "m", To: "a@example.com", Template: events.MailMagicLink, Data: map[string]string{"link": "http://127.0.0.1:8081/auth/magic#t=1"}})
	if err != nil || m.Link != "http://127.0.0.1:8081/auth/magic#t=1" {
		t.Fatalf("link %q, err %v", m.Link, err)
	}
	rc, err := r.Receipt(events.CreditAppliedV1{ID: "x", Kind: events.CreditPurchase, AmountMicros: 1}, "a@example.com")
	if err != nil || rc.Link != "" {
		t.Fatalf("receipt link %q, err %v", rc.Link, err)
	}
}

func TestMail_UnsafeInputIsRefusedOrEscaped(t *testing.T) {
	t.Parallel()
	r := renderer(t)
	bad := []events.MailRequestedV1{
		{ID: "1", To: "a@example.com", Template: "welcome", Data: map[string]string{"link": "https://x.example"}},
		{ID: "2", To: "a@example.com", Template: events.MailMagicLink},
		{ID: "3", To: "a@example.com", Template: events.MailMagicLink, Data: map[string]string{"link": "javascript:alert(1)"}},
		{ID: "4", To: "a@example.com", Template: events.MailMagicLink, Data: map[string]string{"link": "/relative"}},
		{ID: "5", To: "a@example.com\r\nBcc: evil@example.com", Template: events.MailMagicLink, Data: map[string]string{"link": "https://x.example"}},
		{ID: "6", To: "not-an-address", Template: events.MailMagicLink, Data: map[string]string{"link": "https://x.example"}},
		{ID: "7", To: "a@example.com", Template: events.MailMagicLink, Data: map[string]string{"link": "https://x.example", "expires_at": "soon"}},
	}
	for _, ev := range bad {
		if _, err := r.MagicLink(ev); !errors.Is(err, mail.ErrInvalid) {
			t.Errorf("event %s: err %v, want ErrInvalid", ev.ID, err)
		}
	}
	m, err := r.TxRejected(events.TxRejectedV1{ID: "r", Chain: "<script>", TxHash: "<b>0x1</b>", Reason: "<img src=x>"}, "a@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.HTML, "<script>") || strings.Contains(m.HTML, "<b>0x1") || strings.Contains(m.HTML, "<img") {
		t.Errorf("event data reached the HTML unescaped:\n%s", m.HTML)
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		t.Errorf("subject spans lines: %q", m.Subject)
	}
}

func TestMail_EveryRejectionReasonHasItsOwnExplanation(t *testing.T) {
	t.Parallel()
	r := renderer(t)
	seen := map[string]string{}
	for _, reason := range []string{events.RejectReverted, events.RejectWrongToken, events.RejectWrongRecipient, events.RejectWrongSender,
		events.RejectNoTransfer, events.RejectRemoved, events.RejectTimeout, events.RejectAlreadyCredited, events.RejectAmount} {
		m, err := r.TxRejected(events.TxRejectedV1{ID: "r", Chain: "base", TxHash: "0x1", Reason: reason}, "a@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(m.Text, "did not pass our checks") {
			t.Errorf("reason %s has no explanation", reason)
		}
		if other, dup := seen[m.Text]; dup {
			t.Errorf("reasons %s and %s read the same", reason, other)
		}
		seen[m.Text] = reason
	}
}

func BenchmarkMail_RenderReceipt(b *testing.B) {
	r, err := mail.NewRenderer(mail.Site{Name: "onekey", URL: "https://onekey.example", DashboardURL: "https://onekey.example/dashboard"})
	if err != nil {
		b.Fatal(err)
	}
	ev := events.CreditAppliedV1{V: 1, ID: "applied:evt_1", Time: when, AccountID: "acc_1", SourceEventID: "evt_1", Method: "card", Kind: events.CreditPurchase, AmountMicros: money.USD(10), BalanceMicros: money.USD(12)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Receipt(ev, "ada@example.com"); err != nil {
			b.Fatal(err)
		}
	}
}
