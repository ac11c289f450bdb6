package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.uber.org/goleak"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/bus/bustest"
	"github.com/onekey-oss/onekey/pkg/store"
	"github.com/onekey-oss/onekey/pkg/store/storetest"
	"github.com/onekey-oss/onekey/services/auth/auth"
	"github.com/onekey-oss/onekey/services/auth/authtest"
)

// db is the FerretDB shared by this test binary; each test gets its own
// database from it. Test-only state, written once before m.Run.
var db *storetest.Server

func TestMain(m *testing.M) {
	srv, err := storetest.Start(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	db = srv
	code := m.Run()
	if err := srv.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	if code == 0 {
		if err := goleak.Find(
			// Process-wide goroutines of third parties, not ours to stop.
			goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*Server).startGoRoutine.func1"),
			goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.(*ipQueue[...]).push"),
		); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// clock is a test clock that only moves when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// harness is one auth service on its own embedded bus and database,
// served over HTTP by httptest.
type harness struct {
	t     testing.TB
	nats  *bustest.Server
	bus   *bus.Bus
	store *store.Store
	clock *clock
	svc   *auth.Service
	srv   *httptest.Server
	kv    jetstream.KeyValue
	// cfg and deps built svc (restarted builds another, as a new process).
	cfg  auth.Config
	deps auth.Deps

	mu      sync.Mutex
	mails   []events.MailRequestedV1
	newMail chan struct{}
}

type option func(*auth.Config, *auth.Deps)

// harnessMailKey is the harness's MAIL_SEAL_KEY: the test reads sign-in
// links as the notifier does.
var harnessMailKey = events.NewMailSealKey()

func mustMailKey(t testing.TB) events.MailSealKey {
	t.Helper()
	k, err := events.ParseMailSealKey(harnessMailKey)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newHarness(t testing.TB, opts ...option) *harness {
	t.Helper()
	h := &harness{t: t, clock: &clock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}, newMail: make(chan struct{}, 1)}
	h.nats = bustest.Start(t)
	h.bus = h.nats.Connect(t, "auth-test")
	h.store = db.New(t)
	var handler http.Handler
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(h.srv.Close)
	cfg := auth.Config{
		Addr: "127.0.0.1:0", PublicURL: h.srv.URL,
		MagicLinksPerAddress: 5, MagicLinksPerIP: 1000, MagicLinkWindow: 15 * time.Minute,
		FreeGrantSecret: "the harness's secret, 32 characters or more",
		MailSealKey:     harnessMailKey,
	}
	deps := auth.Deps{Bus: h.nats.ConnectAs(t, bus.UserAuth), Store: h.store, Now: h.clock.Now}
	for _, o := range opts {
		o(&cfg, &deps)
	}
	svc, err := auth.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	h.svc, h.cfg, h.deps = svc, cfg, deps
	handler = svc.Handler()
	ctx := context.Background()
	if h.kv, err = h.bus.KV(ctx, events.BucketAPIKeys); err != nil {
		t.Fatal(err)
	}
	sub, err := h.bus.Conn().Subscribe(events.FamilyMailRequested+".>", func(m *nats.Msg) {
		var ev events.MailRequestedV1
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			t.Errorf("mail event: %v", err)
			return
		}
		h.mu.Lock()
		h.mails = append(h.mails, ev)
		h.mu.Unlock()
		select {
		case h.newMail <- struct{}{}:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.bus.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return h
}

// restarted is the handler of a new auth service on the harness's bus
// and database: what a restarted process (with nothing in memory) serves.
func (h *harness) restarted() http.Handler {
	h.t.Helper()
	svc, err := auth.New(h.cfg, h.deps)
	if err != nil {
		h.t.Fatal(err)
	}
	return svc.Handler()
}

func (h *harness) mailCount(addr string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, m := range h.mails {
		if m.To == addr {
			n++
		}
	}
	return n
}

// linkFor waits for the n-th (1-based) sign-in mail to addr and returns the
// token in its link.
func (h *harness) linkFor(addr string, n int) string {
	h.t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		h.mu.Lock()
		seen := 0
		for _, m := range h.mails {
			if m.To == addr && m.Template == events.MailMagicLink {
				seen++
				if seen == n {
					h.mu.Unlock()
					data, err := events.OpenMail(m, mustMailKey(h.t))
					if err != nil {
						h.t.Fatalf("open the sign-in mail: %v", err)
					}
					return tokenOf(h.t, data["link"])
				}
			}
		}
		h.mu.Unlock()
		select {
		case <-h.newMail:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			h.t.Fatalf("no sign-in mail #%d to %s within 15s", n, addr)
		}
	}
}

func tokenOf(t testing.TB, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatalf("link %q: %v", link, err)
	}
	return u.Query().Get("token")
}

// client is a browser of the harness's test.
type client = authtest.Browser

func (h *harness) client() *client {
	return authtest.New(h.t, h.srv.URL)
}

type response = authtest.Response

type me struct {
	AccountID        string `json:"account_id"`
	Email            string `json:"email"`
	Name             string `json:"name"`
	DefaultProjectID string `json:"default_project_id"`
	CSRFToken        string `json:"csrf_token"`
}

// signIn signs a new browser in by magic link and returns it with /api/me.
func (h *harness) signIn(email string) (*client, me) {
	h.t.Helper()
	c := h.client()
	n := h.mailCount(email)
	c.Must(http.MethodPost, "/api/auth/magic-link", map[string]string{"email": email}, http.StatusAccepted)
	tok := h.linkFor(email, n+1)
	c.Must(http.MethodPost, "/api/auth/magic-link/verify", map[string]string{"token": tok}, http.StatusOK)
	var m me
	c.Must(http.MethodGet, "/api/me", nil, http.StatusOK).JSON(h.t, &m)
	c.CSRF = m.CSRFToken
	return c, m
}

// dump is every document of every collection of the test's database as
// extended JSON.
func (h *harness) dump() string {
	h.t.Helper()
	ctx := context.Background()
	names, err := h.store.DB().ListCollectionNames(ctx, bson.D{})
	if err != nil {
		h.t.Fatal(err)
	}
	var b strings.Builder
	for _, n := range names {
		cur, err := h.store.Collection(n).Find(ctx, bson.D{})
		if err != nil {
			h.t.Fatal(err)
		}
		for cur.Next(ctx) {
			j, err := bson.MarshalExtJSON(cur.Current, false, false)
			if err != nil {
				h.t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s %s\n", n, j)
		}
		_ = cur.Close(ctx)
	}
	return b.String()
}

func (h *harness) count(coll string, filter bson.D) int64 {
	h.t.Helper()
	n, err := h.store.Collection(coll).CountDocuments(context.Background(), filter)
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

// eventually polls cond every 20ms until it holds or timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runUntilCleanup runs the service (its bus responders, the key relay) until
// the test ends, which fails if Run returned an error.
func (h *harness) runUntilCleanup() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.svc.Run(ctx) }()
	h.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			h.t.Error(err)
		}
	})
}

// changeKeyStatus asks auth, as the operator's tool does, to suspend or
// restore a key, and fails unless auth changed it.
func (h *harness) changeKeyStatus(req events.KeyStatusRequestV1) {
	h.t.Helper()
	raw, _ := json.Marshal(req)
	var rep events.KeyStatusReplyV1
	eventually(h.t, 10*time.Second, "auth answers "+req.Action, func() bool {
		msg, err := h.bus.Conn().Request(events.SubjectKeyStatus, raw, 5*time.Second)
		return err == nil && json.Unmarshal(msg.Data, &rep) == nil
	})
	if rep.Code != "" || !rep.Changed {
		h.t.Fatalf("%s %s: %+v", req.Action, req.KeyID, rep)
	}
}
