package bus_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/bus/bustest"
)

// short bounds one refused operation: a refused publish or request gets no
// answer, so the client waits for its deadline.
func short(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	t.Cleanup(cancel)
	return ctx
}

func TestBus_GatewayUserIsRefusedCreditWritesKVWritesAndTheMailStream(t *testing.T) {
	t.Parallel()
	srv := bustest.Start(t)
	admin := srv.Connect(t, "test")
	gw := srv.ConnectAs(t, bus.UserGateway)
	ctx := context.Background()

	t.Run("publish credit.adjusted", func(t *testing.T) {
		_, err := gw.Publish(short(t), events.CreditAdjustedV1{V: 1, ID: "forged", AccountID: "acc1", AmountMicros: 1_000_000_000, Reason: "forged"})
		if err == nil {
			t.Fatal("the gateway published credit.adjusted")
		}
		if n := len(bustest.Messages[events.CreditAdjustedV1](t, admin, events.StreamBilling, events.FamilyCreditAdjusted+".acc1")); n != 0 {
			t.Fatalf("BILLING holds %d forged credits", n)
		}
	})
	t.Run("core publish credit.adjusted", func(t *testing.T) {
		if err := gw.Conn().Publish(events.FamilyCreditAdjusted+".acc1", []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		if err := gw.Conn().FlushWithContext(short(t)); err != nil {
			t.Fatal(err)
		}
		if n := len(bustest.Messages[events.CreditAdjustedV1](t, admin, events.StreamBilling, events.FamilyCreditAdjusted+".acc1")); n != 0 {
			t.Fatalf("BILLING holds %d forged credits", n)
		}
	})
	for _, bucket := range []string{events.BucketBalances, events.BucketAPIKeys, events.BucketLeases} {
		t.Run("write KV "+bucket, func(t *testing.T) {
			kv, err := admin.KV(ctx, bucket)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := kv.Put(ctx, "probe", []byte("admin")); err != nil {
				t.Fatal(err)
			}
			// Through the KV API when the gateway can open the bucket,
			// else straight to the bucket's subject.
			if gkv, err := gw.KV(short(t), bucket); err == nil {
				if _, err := gkv.Put(short(t), "probe", []byte("forged")); err == nil {
					t.Fatalf("the gateway wrote %s", bucket)
				}
			}
			if _, err := gw.JetStream().Publish(short(t), "$KV."+bucket+".probe", []byte("forged")); err == nil {
				t.Fatalf("the gateway wrote %s", bucket)
			}
			e, err := kv.Get(ctx, "probe")
			if err != nil {
				t.Fatal(err)
			}
			if string(e.Value()) != "admin" {
				t.Fatalf("%s/probe = %q after the gateway's writes", bucket, e.Value())
			}
		})
	}
	t.Run("subscribe MAIL", func(t *testing.T) {
		gw := srv.ConnectAs(t, bus.UserGateway) // a fresh connection: no earlier error
		sub, err := gw.Conn().SubscribeSync(events.FamilyMailRequested + ".>")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = sub.Unsubscribe() }()
		_ = gw.Conn().Flush()
		if _, err := admin.Publish(ctx, events.MailRequestedV1{V: 1, ID: "m1", AccountID: events.NoAccount, To: "a@example.com", Template: events.MailMagicLink}); err != nil {
			t.Fatal(err)
		}
		if m, err := sub.NextMsg(time.Second); err == nil {
			t.Fatalf("the gateway read a sign-in mail: %s", m.Data)
		}
		if err := gw.Conn().LastError(); err == nil || !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
			t.Fatalf("no permissions violation reported for the subscription: %v", err)
		}
	})
	t.Run("consumer on MAIL through the JetStream API", func(t *testing.T) {
		_, err := gw.JetStream().CreateOrUpdateConsumer(short(t), events.StreamMail, jetstream.ConsumerConfig{
			Name: "snoop", DeliverPolicy: jetstream.DeliverAllPolicy, AckPolicy: jetstream.AckNonePolicy,
		})
		if err == nil {
			t.Fatal("the gateway created a consumer on MAIL")
		}
		if _, err := gw.JetStream().OrderedConsumer(short(t), events.StreamMail, jetstream.OrderedConsumerConfig{}); err == nil {
			t.Fatal("the gateway created an ordered consumer on MAIL")
		}
		// Nor was one created behind the refused reply.
		st, err := admin.JetStream().Stream(ctx, events.StreamMail)
		if err != nil {
			t.Fatal(err)
		}
		if info, err := st.Info(ctx); err != nil || info.State.Consumers != 1 {
			t.Fatalf("MAIL has %d consumers (want only notifier-mail), err %v", info.State.Consumers, err)
		}
	})
	t.Run("read a stream message directly", func(t *testing.T) {
		if _, err := gw.JetStream().Stream(short(t), events.StreamMail); err == nil {
			t.Fatal("the gateway opened stream MAIL")
		}
		msg := nats.NewMsg("$JS.API.DIRECT.GET." + events.StreamMail)
		msg.Data = []byte(`{"seq":1}`)
		if _, err := gw.Conn().RequestMsgWithContext(short(t), msg); err == nil {
			t.Fatal("the gateway read MAIL's first message")
		}
	})
}

// The positive control: what the gateway needs works with its permissions.
func TestBus_GatewayUserPublishesUsageReadsKeysAndBalancesAndAsksTheLedger(t *testing.T) {
	t.Parallel()
	srv := bustest.Start(t)
	admin := srv.Connect(t, "test")
	gw := srv.ConnectAs(t, bus.UserGateway)
	ledger := srv.ConnectAs(t, bus.UserLedger)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	if _, err := gw.Publish(ctx, events.UsageRecordedV1{V: 1, ID: "r1", AccountID: "acc1"}); err != nil {
		t.Fatalf("publish usage: %v", err)
	}
	for _, bucket := range []string{events.BucketAPIKeys, events.BucketBalances} {
		akv, err := admin.KV(ctx, bucket)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := akv.Put(ctx, "k1", []byte("v1")); err != nil {
			t.Fatal(err)
		}
		kv, err := gw.KV(ctx, bucket)
		if err != nil {
			t.Fatalf("open %s: %v", bucket, err)
		}
		if e, err := kv.Get(ctx, "k1"); err != nil || string(e.Value()) != "v1" {
			t.Fatalf("get %s/k1: %v", bucket, err)
		}
		w, err := kv.WatchAll(ctx)
		if err != nil {
			t.Fatalf("watch %s: %v", bucket, err)
		}
		if e := <-w.Updates(); e == nil || e.Key() != "k1" {
			t.Fatalf("watch %s: first update %v", bucket, e)
		}
		_ = w.Stop()
	}
	sub, err := ledger.Conn().QueueSubscribe(events.FamilyLease+".*", "ledger", func(m *nats.Msg) { _ = m.Respond([]byte("granted")) })
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := ledger.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	rep, err := gw.Conn().RequestWithContext(ctx, events.FamilyLease+".acc1", []byte("lease?"))
	if err != nil || string(rep.Data) != "granted" {
		t.Fatalf("lease request: %v", err)
	}
	if err := gw.Conn().LastError(); err != nil {
		t.Fatalf("the gateway's connection reported %v", err)
	}
}

// Only the ledger writes balances, only auth writes apikeys, and no
// service reads another's replies.
func TestBus_OnlyTheLedgerWritesBalancesAndOnlyAuthWritesAPIKeys(t *testing.T) {
	t.Parallel()
	srv := bustest.Start(t)
	writers := map[string]string{events.BucketBalances: bus.UserLedger, events.BucketAPIKeys: bus.UserAuth}
	for _, user := range bus.Users() {
		if user == bus.UserAdmin {
			continue
		}
		b := srv.ConnectAs(t, user)
		for bucket, writer := range writers {
			t.Run(user+" writes "+bucket, func(t *testing.T) {
				_, err := b.JetStream().Publish(short(t), "$KV."+bucket+".probe-"+user, []byte("x"))
				if user == writer && err != nil {
					t.Fatalf("%s cannot write %s: %v", user, bucket, err)
				}
				if user != writer && err == nil {
					t.Fatalf("%s wrote %s", user, bucket)
				}
			})
		}
		t.Run(user+" reads another's inbox", func(t *testing.T) {
			b := srv.ConnectAs(t, user) // a fresh connection: no earlier error
			sub, err := b.Conn().SubscribeSync("_INBOX.>")
			if err == nil {
				_ = b.Conn().Flush()
				_ = sub.Unsubscribe()
			}
			if err := b.Conn().LastError(); err == nil || !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
				t.Fatalf("%s subscribed to _INBOX.> (err %v)", user, err)
			}
		})
	}
}

func TestBus_AUserWithoutCredentialsIsRefused(t *testing.T) {
	t.Parallel()
	srv := bustest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	b, err := bus.Connect(ctx, bus.Config{URL: srv.ClientURL(), Name: "anonymous"})
	if err == nil {
		b.Close()
		t.Fatal("connected without credentials")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v", err)
	}
}

// Sign-in links do not outlive themselves on the bus: MAIL keeps a message
// no longer than a link lives (15 minutes).
func TestTopology_MailKeepsAMessageNoLongerThanASignInLinkLives(t *testing.T) {
	t.Parallel()
	srv := bustest.Start(t)
	st, err := srv.Connect(t, "test").JetStream().Stream(context.Background(), events.StreamMail)
	if err != nil {
		t.Fatal(err)
	}
	if age := st.CachedInfo().Config.MaxAge; age <= 0 || age > 15*time.Minute {
		t.Fatalf("MAIL keeps messages for %s, longer than a sign-in link lives (15m)", age)
	}
}

// A key's suspension is the operator's: auth answers SubjectKeyStatus, the
// admin (onekeyctl) may ask, and no service, auth included, can reach it
// (a compromised gateway could otherwise restore a key an operator held).
func TestBus_OnlyTheAdminMayAskAuthToSuspendOrRestoreAKey(t *testing.T) {
	t.Parallel()
	srv := bustest.Start(t)
	authb := srv.ConnectAs(t, bus.UserAuth)
	var asked atomic.Int32
	sub, err := authb.Conn().QueueSubscribe(events.SubjectKeyStatus, "auth", func(m *nats.Msg) {
		asked.Add(1)
		_ = m.Respond([]byte("done"))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := authb.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	for _, user := range bus.Users() {
		if user == bus.UserAdmin {
			continue
		}
		t.Run(user, func(t *testing.T) {
			b := srv.ConnectAs(t, user)
			if rep, err := b.Conn().RequestWithContext(short(t), events.SubjectKeyStatus, []byte(`{"v":1}`)); err == nil {
				t.Fatalf("%s asked auth to change a key's status: %s", user, rep.Data)
			}
		})
	}
	if n := asked.Load(); n != 0 {
		t.Fatalf("auth received %d requests from services", n)
	}
	admin := srv.Connect(t, "onekeyctl")
	rep, err := admin.Conn().RequestWithContext(short(t), events.SubjectKeyStatus, []byte(`{"v":1}`))
	if err != nil || string(rep.Data) != "done" {
		t.Fatalf("the admin's request: %v", err)
	}
}

// The gateway asks the ledger for generations (GET /v1/generation) and
// leases under its own user, and for nothing else: a request on any other
// ledger subject, or one shaped unlike "ledger.<family>.<account>", never
// reaches a server, and the gateway cannot answer in the ledger's place.
func TestBus_GatewayAsksTheLedgerForGenerationsAndLeasesAndNothingElse(t *testing.T) {
	t.Parallel()
	srv := bustest.Start(t)
	gw := srv.ConnectAs(t, bus.UserGateway)
	ledger := srv.ConnectAs(t, bus.UserLedger)
	for _, family := range []string{events.FamilyGeneration, events.FamilyLease} {
		sub, err := ledger.Conn().QueueSubscribe(family+".*", "ledger", func(m *nats.Msg) { _ = m.Respond([]byte("ledger:" + m.Subject)) })
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sub.Unsubscribe() })
	}
	if err := ledger.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	// The admin sees every ledger subject the gateway's requests reach.
	var reached atomic.Int32
	admin := srv.Connect(t, "watch")
	watch, err := admin.Conn().Subscribe("ledger.>", func(m *nats.Msg) {
		if !strings.HasPrefix(m.Subject, events.FamilyGeneration+".") && !strings.HasPrefix(m.Subject, events.FamilyLease+".") {
			reached.Add(1)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = watch.Unsubscribe() })
	if err := admin.Conn().Flush(); err != nil {
		t.Fatal(err)
	}

	req, err := events.GenerationRequestV1{V: 1, AccountID: "acc1", ID: "req_1"}.EventSubject()
	if err != nil {
		t.Fatal(err)
	}
	rep, err := gw.Conn().RequestWithContext(short(t), req, []byte(`{}`))
	if err != nil || string(rep.Data) != "ledger:"+req {
		t.Fatalf("generation lookup as the gateway: %v", err)
	}
	for _, subject := range []string{
		"ledger.reconcile.acc1", "ledger.partition.acc1", "ledger.admin", // families it has no business with
		events.FamilyGeneration + ".acc1.more", events.FamilyLease + ".acc1.more", // not "<family>.<account>"
		events.FamilyCreditAdjusted + ".acc1", events.SubjectKeyStatus, events.SubjectCheckoutCreate,
	} {
		if rep, err := gw.Conn().RequestWithContext(short(t), subject, []byte(`{}`)); err == nil {
			t.Errorf("the gateway's request on %s was answered: %s", subject, rep.Data)
		}
	}
	// Impersonating the ledger: serving its request subjects.
	for _, subject := range []string{events.FamilyGeneration + ".*", events.FamilyLease + ".*", "ledger.>"} {
		sub, err := gw.Conn().QueueSubscribe(subject, "ledger", func(m *nats.Msg) { _ = m.Respond([]byte("gateway")) })
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sub.Unsubscribe() })
	}
	_ = gw.Conn().Flush()
	for range 20 {
		rep, err := admin.Conn().RequestWithContext(short(t), req, []byte(`{}`))
		if err != nil || string(rep.Data) != "ledger:"+req {
			t.Fatalf("a generation request got %q (%v), want the ledger's answer only", rep.Data, err)
		}
	}
	if n := reached.Load(); n != 0 {
		t.Fatalf("%d of the gateway's requests reached other ledger subjects", n)
	}
}

func TestBus_NoticeUserPublishesNoticesAndNothingElse(t *testing.T) {
	t.Parallel()
	srv := bustest.Start(t)
	admin := srv.Connect(t, "test")
	nu := srv.ConnectAs(t, bus.UserNotice)
	ctx := context.Background()
	if _, err := nu.Publish(ctx, events.NoticeRequestedV1{V: 1, ID: events.NoticeEventID("n1", "acc1"), NoticeID: "n1", AccountID: "acc1"}); err != nil {
		t.Fatalf("notice.requested refused: %v", err)
	}
	if _, err := nu.Publish(short(t), events.CreditAdjustedV1{V: 1, ID: "forged", AccountID: "acc1", AmountMicros: 1_000_000_000, Reason: "forged"}); err == nil {
		t.Fatal("the notice tool published credit.adjusted")
	}
	if n := len(bustest.Messages[events.CreditAdjustedV1](t, admin, events.StreamBilling, events.FamilyCreditAdjusted+".acc1")); n != 0 {
		t.Fatalf("BILLING holds %d forged credits", n)
	}
	if _, err := nu.KV(short(t), events.BucketAPIKeys); err == nil {
		t.Fatal("the notice tool opened KV apikeys")
	}
}

// chainwatcher binds to no consumer or bucket, so it waits for the streams
// it publishes into themselves: it may read their info, and no other
// stream's.
func TestBus_ChainwatcherReadsTheInfoOfTheStreamsItPublishesIntoAndNoOther(t *testing.T) {
	t.Parallel()
	srv := bustest.Start(t)
	cw := srv.ConnectAs(t, bus.UserChainwatcher)
	for _, s := range []string{events.StreamBilling, events.StreamNotify} {
		if _, err := cw.WaitStream(short(t), s); err != nil {
			t.Errorf("stream %s: %v", s, err)
		}
	}
	for _, s := range []string{events.StreamMail, events.StreamUsage, events.StreamAccounts} {
		if _, err := cw.JetStream().Stream(short(t), s); err == nil {
			t.Errorf("chainwatcher read the info of stream %s", s)
		}
	}
}
