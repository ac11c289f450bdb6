package notifier_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.uber.org/goleak"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/bus/bustest"
	"github.com/onekey-oss/onekey/pkg/store"
	"github.com/onekey-oss/onekey/pkg/store/storetest"
	"github.com/onekey-oss/onekey/pkg/telemetry"
	"github.com/onekey-oss/onekey/services/notifier/notifier"
	"github.com/onekey-oss/onekey/services/notifier/resendtest"
)

// One embedded FerretDB serves every test in this binary; each test gets
// its own database and its own NATS server.
func TestMain(m *testing.M) { storetest.Main(m) }

// fixture is one notifier world: a bus, a database, a fake Resend.
type fixture struct {
	srv *bustest.Server
	bus *bus.Bus
	st  *store.Store
	rs  *resendtest.Server
	cfg notifier.Config
	key events.MailSealKey // auth's MAIL_SEAL_KEY
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	srv := bustest.Start(t)
	f := &fixture{srv: srv, bus: srv.Connect(t, "test"), st: storetest.New(t), rs: resendtest.Start(t)}
	mailKey := events.NewMailSealKey()
	key, err := events.ParseMailSealKey(mailKey)
	if err != nil {
		t.Fatal(err)
	}
	f.key = key
	f.cfg = notifier.Config{
		MailSealKey:  mailKey,
		ResendAPIKey: resendtest.APIKey, ResendBaseURL: f.rs.URL(), From: "onekey <noreply@onekey.example>",
		SiteURL: "https://onekey.example", SendAttempts: 2, SendBackoff: time.Millisecond,
		MaxDeliveries: 4, RetryBackoff: 50 * time.Millisecond,
	}
	return f
}

// start runs a notifier until the test ends, and returns it.
func (f *fixture) start(t *testing.T, deps notifier.Deps) *notifier.Service {
	t.Helper()
	deps.Bus, deps.Store = f.srv.ConnectAs(t, bus.UserNotifier), f.st
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	svc, err := notifier.New(f.cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("Run did not return within 30s of the cancel")
		}
	})
	return svc
}

func (f *fixture) addUser(t *testing.T, accountID, email string, deleted bool) {
	t.Helper()
	doc := bson.D{{Key: "_id", Value: accountID}, {Key: "email", Value: email}, {Key: "created_at", Value: time.Now().UTC()}}
	if deleted {
		doc = append(doc, bson.E{Key: "deleted_at", Value: time.Now().UTC()})
	}
	if _, err := f.st.Collection(notifier.CollUsers).InsertOne(context.Background(), doc); err != nil {
		t.Fatal(err)
	}
}

// sealed is a sign-in mail as auth publishes it: its link sealed with the
// key auth and the notifier share.
func (f *fixture) sealed(t *testing.T, ev events.MailRequestedV1, link string) events.MailRequestedV1 {
	t.Helper()
	ev, err := f.key.SealMail(ev, map[string]string{"link": link})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func (f *fixture) publish(t *testing.T, ev events.Event) {
	t.Helper()
	if _, err := f.bus.Publish(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
}

// redeliver puts the same event on the bus again under another
// Nats-Msg-Id, as a redelivery after the duplicate window (or a republish
// by a recovering publisher) would.
func (f *fixture) redeliver(t *testing.T, ev events.Event, n int) {
	t.Helper()
	subject, err := ev.EventSubject()
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := f.bus.JetStream().Publish(context.Background(), subject, data, jetstream.WithMsgID(fmt.Sprintf("%s#again-%d", ev.EventID(), i))); err != nil {
			t.Fatal(err)
		}
	}
}

// waitIdle polls until the durable consumer has handled (acked or
// terminated) everything in its stream.
func (f *fixture) waitIdle(t *testing.T, consumer string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		c, err := f.bus.Consumer(ctx, consumer)
		if err != nil {
			t.Fatal(err)
		}
		info, err := c.Info(ctx)
		if err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.Delivered.Stream > 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("consumer %s did not finish within 60s: %+v", consumer, info)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func mailsWithKey(rs *resendtest.Server, key string) []resendtest.Mail {
	var out []resendtest.Mail
	for _, m := range rs.Mails() {
		if m.IdempotencyKey == key {
			out = append(out, m)
		}
	}
	return out
}

func receipt(account, source string) events.CreditAppliedV1 {
	return events.CreditAppliedV1{V: 1, ID: "applied:" + source, Time: time.Now().UTC(), AccountID: account, SourceEventID: source,
		Method: "card", Kind: events.CreditPurchase, AmountMicros: money.USD(25), BalanceMicros: money.USD(30)}
}

func TestNotifier_RedeliveredCreditAppliedSendsExactlyOneReceipt(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.addUser(t, "acc_ada", "ada@example.com", false)
	// Two replicas share the durable consumer, so copies of one event are
	// handled concurrently as well as one after another.
	f.start(t, notifier.Deps{})
	f.start(t, notifier.Deps{})

	ev := receipt("acc_ada", "evt_pay_1")
	f.publish(t, ev)
	f.publish(t, ev) // inside JetStream's duplicate window: dropped
	f.redeliver(t, ev, 5)
	f.waitIdle(t, events.ConsumerNotifier)

	got := mailsWithKey(f.rs, ev.ID)
	if len(got) != 1 || len(f.rs.Mails()) != 1 {
		t.Fatalf("%d receipts under key %s (%d mails in all), want exactly 1", len(got), ev.ID, len(f.rs.Mails()))
	}
	m := got[0]
	if len(m.To) != 1 || m.To[0] != "ada@example.com" || m.Tag("kind") != "receipt" || !strings.Contains(m.Subject, "$25.00") ||
		!strings.Contains(m.Text, "$30.00") || !strings.Contains(m.HTML, "evt_pay_1") {
		t.Errorf("receipt %+v", m)
	}
	// Later copies, with the record saying sent, do not even reach Resend.
	before := f.rs.Requests()
	f.redeliver(t, ev, 3)
	f.waitIdle(t, events.ConsumerNotifier)
	if f.rs.Requests() != before || len(f.rs.Mails()) != 1 {
		t.Errorf("late redeliveries made %d more requests, %d mails", f.rs.Requests()-before, len(f.rs.Mails()))
	}
}

func TestNotifier_ReceiptIsSentOnceWhenTheAnswerIsLostAfterSending(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.cfg.SendAttempts = 1 // the loss reaches the bus: the event is redelivered
	f.addUser(t, "acc_bob", "bob@example.com", false)
	svc := f.start(t, notifier.Deps{})
	f.rs.LoseNextResponses(1)

	ev := receipt("acc_bob", "evt_pay_2")
	f.publish(t, ev)
	f.rs.WaitForRequests(t, 2)
	f.waitIdle(t, events.ConsumerNotifier)

	if n := len(mailsWithKey(f.rs, ev.ID)); n != 1 {
		t.Fatalf("%d receipts, want 1", n)
	}
	rec, err := svc.RecordOf(context.Background(), ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.State != notifier.StateSent || rec.ProviderID != f.rs.Mails()[0].ID || rec.AccountID != "acc_bob" || rec.Kind != "receipt" {
		t.Errorf("record %+v", rec)
	}
}

func TestNotifier_ReceiptClaimedByACrashedProcessIsSentOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.addUser(t, "acc_cy", "cy@example.com", false)
	ev := receipt("acc_cy", "evt_pay_3")

	// A first notifier claims the event and sends the mail, but never
	// learns it went out, and gives up on the event (as a process dying
	// right after the send would leave it): its record says sending.
	t.Run("first process", func(t *testing.T) {
		crashing := *f
		crashing.cfg.SendAttempts, crashing.cfg.MaxDeliveries = 1, 1
		svc := crashing.start(t, notifier.Deps{})
		f.rs.LoseNextResponses(1)
		f.publish(t, ev)
		f.waitIdle(t, events.ConsumerNotifier)
		if rec, err := svc.RecordOf(context.Background(), ev.ID); err != nil || rec.State != notifier.StateSending {
			t.Fatalf("record %+v, err %v: want it left in state sending", rec, err)
		}
	}) // its notifier stops here
	if n := len(f.rs.Mails()); n != 1 {
		t.Fatalf("%d mails after the first process, want 1", n)
	}

	// The event comes back (replayed from the dead letters, or redelivered
	// after a crash): a new notifier sends again under the same key, and
	// Resend answers with the first mail instead of a second one.
	svc := f.start(t, notifier.Deps{})
	f.redeliver(t, ev, 1)
	f.waitIdle(t, events.ConsumerNotifier)
	if n := len(mailsWithKey(f.rs, ev.ID)); n != 1 || f.rs.Requests() != 2 {
		t.Fatalf("%d receipts after %d requests, want 1 after 2", n, f.rs.Requests())
	}
	rec, err := svc.RecordOf(context.Background(), ev.ID)
	if err != nil || rec.State != notifier.StateSent || rec.ProviderID != f.rs.Mails()[0].ID {
		t.Fatalf("record %+v, err %v", rec, err)
	}
}

func TestNotifier_MagicLinkIsMailedToTheRequestedAddress(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.start(t, notifier.Deps{})
	link := "https://onekey.example/auth/magic?token=s3cr3t-token"
	ev := f.sealed(t, events.MailRequestedV1{V: 1, ID: "mail_01", Time: time.Now().UTC(), AccountID: events.NoAccount, To: "new@example.com",
		Template: events.MailMagicLink, Data: map[string]string{"expires_in": "15 minutes"}}, link)
	f.publish(t, ev)
	m := f.rs.WaitForMail(t, func(m resendtest.Mail) bool { return m.IdempotencyKey == "mail_01" })
	if m.To[0] != "new@example.com" || m.Tag("kind") != "magic_link" || !strings.Contains(m.Text, link) || !strings.Contains(m.HTML, `href="`+link+`"`) {
		t.Errorf("mail %+v", m)
	}
}

func TestNotifier_ExpiredSignInMailIsDropped(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.start(t, notifier.Deps{})
	f.publish(t, f.sealed(t, events.MailRequestedV1{V: 1, ID: "mail_old", Time: time.Now().Add(-16 * time.Minute).UTC(), To: "late@example.com",
		Template: events.MailMagicLink}, "https://onekey.example/auth/magic?token=x"))
	f.publish(t, f.sealed(t, events.MailRequestedV1{V: 1, ID: "mail_old2", Time: time.Now().UTC(), To: "late@example.com",
		Template: events.MailMagicLink, Data: map[string]string{"expires_at": time.Now().Add(-time.Second).UTC().Format(time.RFC3339)}}, "https://onekey.example/auth/magic?token=y"))
	f.waitIdle(t, events.ConsumerNotifierMail)
	if n := f.rs.Requests(); n != 0 {
		t.Fatalf("%d requests to Resend for expired links, want 0", n)
	}
}

func TestNotifier_EveryNotifyEventMailsTheAccountOwner(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.addUser(t, "acc_dee", "dee@example.com", false)
	f.start(t, notifier.Deps{})
	now := time.Now().UTC()
	evs := map[string]events.Event{
		"balance_low":    events.BalanceLowV1{V: 1, ID: "low_1", Time: now, AccountID: "acc_dee", BalanceMicros: 400_000, ThresholdMicros: money.USD(1)},
		"payment_failed": events.PaymentFailedV1{V: 1, ID: "evt_fail_1", Time: now, AccountID: "acc_dee", PaymentID: "cs_1", AmountMicros: money.USD(10), Reason: "async_payment_failed"},
		"tx_rejected":    events.TxRejectedV1{V: 1, ID: "rej_1", Time: now, AccountID: "acc_dee", ClaimID: "clm_1", Chain: "ethereum", TxHash: "0xfeed", Reason: "reverted"},
		"receipt":        receipt("acc_dee", "base:0xabc:0"),
	}
	for _, ev := range evs {
		f.publish(t, ev)
	}
	for kind, ev := range evs {
		m := f.rs.WaitForMail(t, func(m resendtest.Mail) bool { return m.IdempotencyKey == ev.EventID() })
		if m.Tag("kind") != kind || m.To[0] != "dee@example.com" {
			t.Errorf("%s: mail %+v", kind, m)
		}
	}
}

func TestNotifier_DeletedOrUnknownAccountsGetNoMail(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.addUser(t, "acc_gone", "gone@example.com", true)
	f.start(t, notifier.Deps{})
	f.publish(t, receipt("acc_gone", "evt_g"))
	f.publish(t, receipt("acc_nobody", "evt_n"))
	f.waitIdle(t, events.ConsumerNotifier)
	if n := f.rs.Requests(); n != 0 {
		t.Fatalf("%d requests to Resend, want 0", n)
	}
	if got := deadLetters(t, f, "acc_gone") + deadLetters(t, f, "acc_nobody"); got != 0 {
		t.Errorf("%d dead letters, want 0: no address is not a failure", got)
	}
}

func deadLetters(t *testing.T, f *fixture, account string) int {
	t.Helper()
	s, err := f.bus.JetStream().Stream(context.Background(), events.StreamDeadLetter)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background(), jetstream.WithSubjectFilter(events.FamilyDeadLetter+"."+account))
	if err != nil {
		t.Fatal(err)
	}
	return int(info.State.Subjects[events.FamilyDeadLetter+"."+account])
}

func lastDeadLetter(t *testing.T, f *fixture, account string) events.DeadLetterV1 {
	t.Helper()
	s, err := f.bus.JetStream().Stream(context.Background(), events.StreamDeadLetter)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := s.GetLastMsgForSubject(context.Background(), events.FamilyDeadLetter+"."+account)
	if err != nil {
		t.Fatal(err)
	}
	var dl events.DeadLetterV1
	if err := json.Unmarshal(msg.Data, &dl); err != nil {
		t.Fatal(err)
	}
	return dl
}

func TestNotifier_MailResendRefusesIsDeadLetteredAtOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.addUser(t, "acc_eve", "eve@example.com", false)
	f.start(t, notifier.Deps{})
	f.rs.FailNext(1, 422)
	ev := receipt("acc_eve", "evt_bad")
	f.publish(t, ev)
	f.waitIdle(t, events.ConsumerNotifier)
	if n := f.rs.Requests(); n != 1 {
		t.Errorf("%d requests, want 1: a refused mail is not retried", n)
	}
	dl := lastDeadLetter(t, f, "acc_eve")
	if dl.Consumer != events.ConsumerNotifier || dl.MsgID != ev.ID || dl.Attempts != 1 || strings.Contains(dl.Reason, "eve@example.com") {
		t.Errorf("dead letter %+v", dl)
	}
}

func TestNotifier_UndecodableEventIsDeadLettered(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.start(t, notifier.Deps{})
	if _, err := f.bus.JetStream().Publish(context.Background(), "credit.applied.acc_x", []byte(`{"v":1,"id":`), jetstream.WithMsgID("broken")); err != nil {
		t.Fatal(err)
	}
	f.waitIdle(t, events.ConsumerNotifier)
	if dl := lastDeadLetter(t, f, "acc_x"); dl.MsgID != "broken" || dl.Consumer != events.ConsumerNotifier {
		t.Errorf("dead letter %+v", dl)
	}
}

func TestNotifier_ResendOutageIsRetriedWithBackoffUntilItRecovers(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.addUser(t, "acc_fay", "fay@example.com", false)
	f.cfg.MaxDeliveries = 5
	f.start(t, notifier.Deps{})
	// Two deliveries of two attempts each fail; the third delivery works.
	f.rs.FailNext(4, 503)
	ev := receipt("acc_fay", "evt_outage")
	f.publish(t, ev)
	f.rs.WaitForMail(t, func(m resendtest.Mail) bool { return m.IdempotencyKey == ev.ID })
	f.waitIdle(t, events.ConsumerNotifier)
	if n, r := len(f.rs.Mails()), f.rs.Requests(); n != 1 || r != 5 {
		t.Errorf("%d mails after %d requests, want 1 after 5", n, r)
	}
	if n := deadLetters(t, f, "acc_fay"); n != 0 {
		t.Errorf("%d dead letters, want 0", n)
	}
}

func TestNotifier_OutboxWritesMailsAndPrintsTheSignInLink(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	dir := filepath.Join(t.TempDir(), "outbox")
	f.cfg.ResendAPIKey, f.cfg.OutboxDir = "", dir
	var mu sync.Mutex
	var console bytes.Buffer
	svc := f.start(t, notifier.Deps{Console: lockedWriter{&mu, &console}})
	if svc.Transport() != "outbox" {
		t.Fatalf("transport %s", svc.Transport())
	}
	link := "http://127.0.0.1:8081/auth/magic?token=dev-token"
	ev := f.sealed(t, events.MailRequestedV1{V: 1, ID: "mail_dev", Time: time.Now().UTC(), To: "dev@example.com", Template: events.MailMagicLink}, link)
	f.publish(t, ev)
	f.redeliver(t, ev, 2)
	f.waitIdle(t, events.ConsumerNotifierMail)
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	if len(files) != 1 {
		t.Fatalf("outbox holds %v, want one .eml", files)
	}
	raw, _ := os.ReadFile(files[0])
	if !bytes.Contains(raw, []byte("To: dev@example.com")) {
		t.Errorf("eml:\n%s", raw)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Count(console.String(), "sign-in link: "+link) != 1 {
		t.Errorf("console: %q", console.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestNotifier_LogsHoldIDsButNoAddressLinkOrContent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.addUser(t, "acc_gus", "gus@example.com", false)
	var mu sync.Mutex
	var logs bytes.Buffer
	f.start(t, notifier.Deps{Logger: slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	f.rs.FailNext(1, 500) // a failure path logs too
	link := "https://onekey.example/auth/magic?token=very-secret-token"
	f.publish(t, f.sealed(t, events.MailRequestedV1{V: 1, ID: "mail_gus", Time: time.Now().UTC(), To: "gus@example.com", Template: events.MailMagicLink}, link))
	rc := receipt("acc_gus", "evt_gus")
	f.publish(t, rc)
	f.redeliver(t, rc, 1)
	f.waitIdle(t, events.ConsumerNotifierMail)
	f.waitIdle(t, events.ConsumerNotifier)
	mu.Lock()
	defer mu.Unlock()
	out := logs.String()
	for _, secret := range []string{"gus@example.com", "very-secret-token", "Receipt:", "$25.00", "sign-in link"} {
		if strings.Contains(out, secret) {
			t.Errorf("logs contain %q:\n%s", secret, out)
		}
	}
	for _, id := range []string{"mail_gus", "applied:evt_gus", "acc_gus"} {
		if !strings.Contains(out, id) {
			t.Errorf("logs do not name %q:\n%s", id, out)
		}
	}
	// Nor does the database hold them.
	cur, err := f.st.Collection(notifier.CollMails).Find(context.Background(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var recs []bson.M
	if err := cur.All(context.Background(), &recs); err != nil {
		t.Fatal(err)
	}
	dump := fmt.Sprint(recs)
	if len(recs) != 2 || strings.Contains(dump, "gus@example.com") || strings.Contains(dump, "very-secret-token") {
		t.Errorf("records: %s", dump)
	}
}

func TestNotifier_MetricsCountMailsByKindAndOutcome(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.addUser(t, "acc_hal", "hal@example.com", false)
	tel, err := telemetry.Setup(context.Background(), telemetry.Config{Service: "notifier-test", Output: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	f.start(t, notifier.Deps{MeterProvider: tel.MeterProvider})
	ev := receipt("acc_hal", "evt_m")
	f.publish(t, ev)
	f.redeliver(t, ev, 1)
	f.publish(t, receipt("acc_nobody", "evt_m2"))
	f.waitIdle(t, events.ConsumerNotifier)

	rec := httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`notifier_mails_total{kind="receipt",outcome="sent"} 1`,
		`notifier_mails_total{kind="receipt",outcome="duplicate"} 1`,
		`notifier_mails_total{kind="receipt",outcome="no_address"} 1`,
		`notifier_send_duration_seconds_count{kind="receipt",ok="true",transport="resend"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if t.Failed() {
		t.Log(body)
	}
}

func TestNotifier_ProbesAnswerAndRunStopsWithoutLeaks(t *testing.T) {
	f := newFixture(t)
	b := f.srv.ConnectAs(t, bus.UserNotifier)
	// The connection's first request opens its reply subscription, which
	// lives as long as the connection: open it before counting goroutines.
	if _, err := b.Consumer(context.Background(), events.ConsumerNotifier); err != nil {
		t.Fatal(err)
	}
	svc, err := notifier.New(f.cfg, notifier.Deps{Bus: b, Store: f.st})
	if err != nil {
		t.Fatal(err)
	}
	h := svc.Handler()
	probe := func(path string) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Code
	}
	if probe("/healthz") != 200 || probe("/readyz") != 503 {
		t.Fatalf("before Run: healthz %d readyz %d", probe("/healthz"), probe("/readyz"))
	}
	ignore := goleak.IgnoreCurrent()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for probe("/readyz") != 200 {
		if time.Now().After(deadline) {
			t.Fatal("not ready within 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if probe("/readyz") != 503 {
		t.Error("still ready after Run returned")
	}
	goleak.VerifyNone(t, ignore,
		// The Resend client's idle keep-alive connections and the mongo
		// driver's pool belong to shared clients, not to Run.
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		// The embedded FerretDB opens an SQLite pool per new database
		// (Run's index creates one); it is the test server's, not Run's.
		goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"),
	)
}

func TestNotifier_NewRefusesIncompleteSendingSettings(t *testing.T) {
	t.Parallel()
	srv := bustest.Start(t)
	b := srv.Connect(t, "test")
	st := storetest.New(t)
	key := events.NewMailSealKey()
	for _, cfg := range []notifier.Config{
		{MailSealKey: key},                       // neither Resend nor an outbox
		{MailSealKey: key, ResendAPIKey: "re_x"}, // Resend without a sender
		{MailSealKey: key, OutboxDir: t.TempDir(), SiteURL: "not a url"},
		{OutboxDir: t.TempDir()},                                             // no key to open sign-in links
		{MailSealKey: "c2hvcnQ=", OutboxDir: t.TempDir()},                    // a key of 5 bytes
		{MailSealKey: key, MailSealKeyPrevious: "x", OutboxDir: t.TempDir()}, // a previous key that is none
	} {
		if _, err := notifier.New(cfg, notifier.Deps{Bus: b, Store: st}); err == nil {
			t.Errorf("New accepted %+v", cfg)
		}
	}
}

func TestConfig_FromEnvReportsEveryProblemTogether(t *testing.T) {
	t.Parallel()
	_, err := notifier.ConfigFromEnv(func(k string) string {
		return map[string]string{"RESEND_API_KEY": "re_x", "NOTIFIER_MAX_DELIVERIES": "many", "NOTIFIER_RECORD_RETENTION": "1h", "PUBLIC_URL": "onekey.example"}[k]
	})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"MAIL_FROM", "NOTIFIER_MAX_DELIVERIES", "NOTIFIER_RECORD_RETENTION", "PUBLIC_URL", "MAIL_SEAL_KEY"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
	key := events.NewMailSealKey()
	cfg, err := notifier.ConfigFromEnv(func(k string) string {
		return map[string]string{"NOTIFIER_OUTBOX_DIR": "/tmp/outbox", "MAIL_SEAL_KEY": key}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	// Each default is written once, in DefaultConfig.
	want := notifier.DefaultConfig()
	want.OutboxDir, want.MailSealKey = "/tmp/outbox", key
	if !reflect.DeepEqual(cfg, want) || cfg.ResendBaseURL != "https://api.resend.com/" {
		t.Errorf("defaults: %+v, want DefaultConfig %+v", cfg, want)
	}
}

func TestNotifier_CancelDuringStartUpIsACleanStop(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.srv.ConnectAs(t, bus.UserNotifier)
	// The connection's first request opens its reply subscription, which
	// lives as long as the connection: open it before counting goroutines.
	if _, err := b.Consumer(context.Background(), events.ConsumerNotifier); err != nil {
		t.Fatal(err)
	}
	svc, err := notifier.New(f.cfg, notifier.Deps{Bus: b, Store: f.st})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := svc.Run(ctx); err != nil {
		t.Fatalf("Run after cancel: %v, want nil", err)
	}
}

func TestNotifier_UnsendableSignInMailIsDroppedWithoutADeadLetter(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.start(t, notifier.Deps{})
	f.rs.FailNext(1, 422)
	f.publish(t, f.sealed(t, events.MailRequestedV1{V: 1, ID: "mail_refused", Time: time.Now().UTC(), AccountID: events.NoAccount, To: "x@example.com",
		Template: events.MailMagicLink}, "https://onekey.example/auth/magic?token=t1"))
	f.publish(t, events.MailRequestedV1{V: 1, ID: "mail_unknown", Time: time.Now().UTC(), AccountID: events.NoAccount, To: "x@example.com", Template: "newsletter"})
	f.waitIdle(t, events.ConsumerNotifierMail)
	if n := f.rs.Requests(); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
	// A dead letter would keep the address and the link for months.
	if n := deadLetters(t, f, events.NoAccount); n != 0 {
		t.Errorf("%d dead letters of sign-in mails, want 0", n)
	}
}

func TestNotifier_FailingSignInMailIsRetriedUntilItsLinkExpires(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.start(t, notifier.Deps{})
	f.rs.FailNext(1_000_000, 503)
	f.publish(t, f.sealed(t, events.MailRequestedV1{V: 1, ID: "mail_outage", Time: time.Now().UTC(), AccountID: events.NoAccount, To: "x@example.com",
		Template: events.MailMagicLink, Data: map[string]string{"expires_at": time.Now().Add(2 * time.Second).UTC().Format(time.RFC3339)}}, "https://onekey.example/auth/magic?token=t2"))
	f.rs.WaitForRequests(t, 4) // two deliveries of two attempts at least
	f.waitIdle(t, events.ConsumerNotifierMail)
	if n := len(f.rs.Mails()); n != 0 {
		t.Errorf("%d mails, want 0", n)
	}
	if n := deadLetters(t, f, events.NoAccount); n != 0 {
		t.Errorf("%d dead letters, want 0", n)
	}
}

func TestNotifier_TemplateChangedBetweenDeliveriesDoesNotSendASecondMail(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.addUser(t, "acc_ivy", "ivy@example.com", false)
	ev := receipt("acc_ivy", "evt_pay_4")
	t.Run("old version", func(t *testing.T) {
		old := *f
		old.cfg.SendAttempts, old.cfg.MaxDeliveries = 1, 1
		old.start(t, notifier.Deps{})
		f.rs.LoseNextResponses(1)
		f.publish(t, ev)
		f.waitIdle(t, events.ConsumerNotifier)
	})
	// A new version renders the same event differently; Resend refuses the
	// reused key (409 invalid_idempotent_request), which means the mail of
	// this event went out already.
	f.cfg.SiteName = "OneKey"
	svc := f.start(t, notifier.Deps{})
	f.redeliver(t, ev, 1)
	f.waitIdle(t, events.ConsumerNotifier)
	if n := len(f.rs.Mails()); n != 1 || f.rs.Requests() != 2 {
		t.Fatalf("%d mails after %d requests, want 1 after 2", n, f.rs.Requests())
	}
	if rec, err := svc.RecordOf(context.Background(), ev.ID); err != nil || rec.State != notifier.StateSent {
		t.Fatalf("record %+v, err %v", rec, err)
	}
	if n := deadLetters(t, f, "acc_ivy"); n != 1 {
		t.Errorf("%d dead letters, want only the old version's 1", n)
	}
}
