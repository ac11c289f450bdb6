package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/readmodel"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/bus/bustest"
	"github.com/onekey-oss/onekey/pkg/config"
	"github.com/onekey-oss/onekey/pkg/store"
	"github.com/onekey-oss/onekey/pkg/store/storetest"
	"github.com/onekey-oss/onekey/services/auth/auth"
	"github.com/onekey-oss/onekey/services/ledger/ledger"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// stack is the embedded bus and database with the real ledger running and
// auth built (its background work is not needed: SeedAccount writes the
// user, the key and KV apikeys as a sign-in would).
type stack struct {
	t    *testing.T
	nats *bustest.Server
	bus  *bus.Bus
	st   *store.Store
	auth *auth.Service
	env  map[string]string
}

func newStack(t *testing.T) *stack {
	t.Helper()
	s := &stack{t: t, nats: bustest.Start(t)}
	s.bus = s.nats.Connect(t, "onekeyctl-test")
	s.st = storetest.New(t)
	lg, err := ledger.New(ledger.DefaultConfig(), ledger.Deps{Bus: s.nats.ConnectAs(t, bus.UserLedger), Store: s.st})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- lg.Run(ctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("ledger: %v", err)
		}
	})
	s.auth, err = auth.New(auth.Config{
		Addr: "127.0.0.1:0", PublicURL: "http://127.0.0.1",
		MagicLinksPerAddress: 5, MagicLinksPerIP: 1000, MagicLinkWindow: 15 * time.Minute,
		FreeGrantSecret: "the harness's secret, 32 characters or more",
		MailSealKey:     events.NewMailSealKey(),
	}, auth.Deps{Bus: s.nats.ConnectAs(t, bus.UserAuth), Store: s.st})
	if err != nil {
		t.Fatal(err)
	}
	s.env = map[string]string{
		"NATS_URL": s.nats.ClientURL(), "NATS_CREDS_FILE": s.nats.CredsFile(bus.UserAdmin), "MONGODB_URI": storetest.URI(t), "MONGODB_DB": s.st.DB().Name(), "USER": "alice",
	}
	return s
}

// seed opens an account through auth and waits for the ledger to open it.
func (s *stack) seed(email string) auth.SeededAccount {
	s.t.Helper()
	ctx := context.Background()
	acc, err := s.auth.SeedAccount(ctx, email, "laptop")
	if err != nil {
		s.t.Fatal(err)
	}
	s.waitAccount(acc.AccountID, func(a readmodel.Account) bool { return a.Opened })
	return acc
}

// waitAccount waits up to a minute for the ledger's account to satisfy ok.
func (s *stack) waitAccount(id string, ok func(readmodel.Account) bool) readmodel.Account {
	s.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var a readmodel.Account
		err := s.st.Collection(readmodel.CollAccounts).FindOne(context.Background(), bson.D{{Key: "_id", Value: id}}).Decode(&a)
		if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
			s.t.Fatal(err)
		}
		if err == nil && ok(a) {
			return a
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("account %s not as expected within a minute: %+v", id, a)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// run runs the tool as a command line would and returns its output and
// exit code.
func (s *stack) run(args ...string) (string, int) {
	s.t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), args, config.MapEnv(s.env), &out)
	if err != nil {
		out.WriteString("error: " + err.Error() + "\n")
	}
	s.t.Logf("onekeyctl %s\n%s", strings.Join(args, " "), out.String())
	return out.String(), exitCode(err)
}
