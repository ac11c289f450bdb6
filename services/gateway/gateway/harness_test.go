package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/onekey-oss/onekey/api/apikey"
	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/bus/bustest"
	"github.com/onekey-oss/onekey/pkg/ids"
	"github.com/onekey-oss/onekey/services/gateway/gateway"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*Server).startGoRoutine.func1"),
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.(*ipQueue[...]).push"),
		// net/http keeps idle keep-alive readers of the SDK clients' shared
		// default transport.
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	)
}

// Provider keys the fakes expect; a request with another key gets the
// provider's 401.
var providerKeys = map[catalog.Provider]string{
	catalog.OpenAI:    "sk-proj-fake-openai",
	catalog.Anthropic: "sk-ant-fake-anthropic",
	catalog.Google:    "fake-gemini-key",
	catalog.XAI:       "xai-fake-key",
}

// recorded is one request a fake upstream received.
type recorded struct {
	Path   string
	Query  string
	Header http.Header
	Body   []byte
}

// fakeUpstream speaks one provider's documented wire format, answering from
// the golden files in testdata/<dir>. Handle, when set, may answer instead
// (returning true).
type fakeUpstream struct {
	*httptest.Server
	provider catalog.Provider
	dir      string
	prefix   string // the version path of the provider's base URL
	mu       sync.Mutex
	reqs     []recorded
	handle   func(w http.ResponseWriter, r *http.Request, body []byte) bool
}

func newFake(t *testing.T, p catalog.Provider) *fakeUpstream {
	t.Helper()
	f := &fakeUpstream{provider: p}
	switch p {
	case catalog.OpenAI:
		f.dir, f.prefix = "openai", "/v1"
	case catalog.Anthropic:
		f.dir, f.prefix = "anthropic", ""
	case catalog.Google:
		f.dir, f.prefix = "gemini", "/v1beta/openai"
	case catalog.XAI:
		f.dir, f.prefix = "xai", "/v1"
	}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Server.Close)
	return f
}

func (f *fakeUpstream) baseURL() string { return f.URL + f.prefix }

func (f *fakeUpstream) setHandle(h func(w http.ResponseWriter, r *http.Request, body []byte) bool) {
	f.mu.Lock()
	f.handle = h
	f.mu.Unlock()
}

func (f *fakeUpstream) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.reqs...)
}

func (f *fakeUpstream) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, recorded{Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
	h := f.handle
	f.mu.Unlock()
	if h != nil && h(w, r, body) {
		return
	}
	// Authentication, as each provider does it.
	want := providerKeys[f.provider]
	got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if f.provider == catalog.Anthropic && strings.HasPrefix(r.URL.Path, "/v1/messages") {
		got = r.Header.Get("X-Api-Key")
	}
	if got != want {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`)
		return
	}
	var req struct {
		Stream        bool `json:"stream"`
		StreamOptions *struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
		Tools []json.RawMessage `json:"tools"`
	}
	_ = json.Unmarshal(body, &req)
	path := strings.TrimPrefix(r.URL.Path, f.prefix)
	var file string
	switch {
	case path == "/chat/completions" || path == "/v1/chat/completions":
		file = "chat_response.json"
		if len(req.Tools) > 0 && f.provider == catalog.OpenAI {
			file = "chat_tool_response.json"
		}
		if req.Stream {
			file = "chat_stream.sse"
		}
	case path == "/responses" && (f.provider == catalog.OpenAI || f.provider == catalog.XAI):
		file = "responses_text.json"
		if req.Stream {
			file = "responses_text.sse"
		}
	case path == "/embeddings":
		file = "embeddings_response.json"
	case path == "/v1/messages":
		file = "messages_response.json"
		if req.Stream {
			file = "messages_stream.sse"
		}
	case path == "/v1/messages/count_tokens":
		file = "count_tokens_response.json"
	default:
		http.NotFound(w, r)
		return
	}
	raw, err := os.ReadFile(filepath.Join("testdata", f.dir, file))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if !strings.HasSuffix(file, ".sse") {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(raw)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	fl := w.(http.Flusher)
	for _, ev := range bytes.SplitAfter(raw, []byte("\n\n")) {
		if len(ev) == 0 {
			continue
		}
		// Like the real APIs, send the usage chunk only when asked for.
		if f.provider != catalog.Anthropic && bytes.Contains(ev, []byte(`"choices":[],"usage":{`)) &&
			(req.StreamOptions == nil || !req.StreamOptions.IncludeUsage) {
			continue
		}
		_, _ = w.Write(ev)
		fl.Flush()
	}
}

// harness is a gateway on a real embedded NATS with one fake upstream per
// provider and one funded account with one key.
type harness struct {
	t         *testing.T
	nats      *bustest.Server
	bus       *bus.Bus
	svc       *gateway.Service
	url       string
	fakes     map[catalog.Provider]*fakeUpstream
	extra     map[string]*fakeUpstream // more channels, by name
	key       string
	keyID     string
	accountID string
	projectID string
	cfg       gateway.Config
	deps      gateway.Deps
	logs      *syncBuffer
	stop      func()
}

type harnessOpt func(*harness)

func withConfig(f func(*gateway.Config)) harnessOpt { return func(h *harness) { f(&h.cfg) } }

// withEnv configures the gateway as its environment variables would; the
// harness keeps its channels, outbox and shutdown timeout, and listens on
// free ports. Give it before the options that change the config.
func withEnv(env map[string]string) harnessOpt {
	return func(h *harness) {
		c, err := gateway.ConfigFromEnv(func(k string) string {
			switch k {
			case "GATEWAY_ADDR", "GATEWAY_ADMIN_ADDR":
				return "127.0.0.1:0"
			}
			return env[k]
		})
		if err != nil {
			h.t.Fatalf("ConfigFromEnv: %v", err)
		}
		c.Channels, c.OutboxDir, c.ShutdownTimeout = h.cfg.Channels, h.cfg.OutboxDir, h.cfg.ShutdownTimeout
		h.cfg = c
	}
}

// withChannel adds a channel of provider p, served by a new fake, with the
// given priority; the default channel of p gets priority 0.
func withChannel(name string, p catalog.Provider, priority int) harnessOpt {
	return func(h *harness) {
		f := newFake(h.t, p)
		h.extra[name] = f
		h.cfg.Channels = append(h.cfg.Channels, gateway.ChannelConfig{Name: name, Provider: p, BaseURL: f.baseURL(), APIKey: providerKeys[p], Priority: priority})
	}
}

// syncBuffer collects log output for the privacy test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newHarness(t *testing.T, opts ...harnessOpt) *harness {
	t.Helper()
	h := &harness{t: t, fakes: map[catalog.Provider]*fakeUpstream{}, extra: map[string]*fakeUpstream{}, logs: &syncBuffer{}}
	h.nats = bustest.Start(t)
	h.bus = h.nats.Connect(t, "gateway-test") // the test's driver (the admin)
	for _, p := range []catalog.Provider{catalog.OpenAI, catalog.Anthropic, catalog.Google, catalog.XAI} {
		f := newFake(t, p)
		h.fakes[p] = f
		h.cfg.Channels = append(h.cfg.Channels, gateway.ChannelConfig{Name: string(p), Provider: p, BaseURL: f.baseURL(), APIKey: providerKeys[p]})
	}
	h.cfg.Addr = "127.0.0.1:0"
	h.cfg.OutboxDir = filepath.Join(t.TempDir(), "outbox")
	h.cfg.ShutdownTimeout = 5 * time.Second
	for _, o := range opts {
		o(h)
	}
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// This module's tests run no ledger (the gateway depends only on api
	// and pkg): they write KV balances as the ledger would and admit
	// against them. Credit leases are tested with the real ledger in /e2e.
	h.deps.Bus, h.deps.Logger, h.deps.SingleReplicaCredit = h.nats.ConnectAs(t, bus.UserGateway), log, true
	svc, err := gateway.New(h.cfg, h.deps)
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	h.svc = svc
	h.url = "http://" + svc.Addr()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	h.stop = sync.OnceFunc(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("gateway Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("gateway did not stop within 20s")
		}
	})
	t.Cleanup(h.stop)

	h.key, h.keyID, h.accountID, h.projectID = h.newKey(events.APIKeyV1{})
	h.setBalance(h.accountID, 100*money.Dollar, 0)
	waitFor(t, time.Minute, "gateway ready with the key and balance", func() bool {
		if !svc.Ready() {
			return false
		}
		c := h.credits(h.key)
		return c.BalanceMicros == int64(100*money.Dollar)
	})
	return h
}

// newKey stores a fresh key in KV apikeys for a new account (unless tmpl
// names one) and returns it with its ids.
func (h *harness) newKey(tmpl events.APIKeyV1) (key, keyID, accountID, projectID string) {
	h.t.Helper()
	key, err := apikey.New(nil)
	if err != nil {
		h.t.Fatal(err)
	}
	v := tmpl
	v.V = 1
	v.KeyID = ids.New("key")
	if v.AccountID == "" {
		v.AccountID = ids.New("acc")
	}
	if v.ProjectID == "" {
		v.ProjectID = ids.New("prj")
	}
	if v.Status == "" {
		v.Status = events.KeyActive
	}
	v.UpdatedAt = time.Now().UTC()
	h.putKey(key, v)
	return key, v.KeyID, v.AccountID, v.ProjectID
}

func (h *harness) putKey(key string, v events.APIKeyV1) {
	h.t.Helper()
	kv, err := h.bus.KV(context.Background(), events.BucketAPIKeys)
	if err != nil {
		h.t.Fatal(err)
	}
	raw, _ := json.Marshal(v)
	if _, err := kv.Put(context.Background(), apikey.Hash(key), raw); err != nil {
		h.t.Fatal(err)
	}
}

// keysCaughtUp returns once the gateway's key view has applied every write
// to KV apikeys made before the call: it writes a fresh key and waits for
// the gateway to know it (the view applies the bucket's writes in order).
// A test asserts right after it what a KV write must change at the
// gateway, with no timed bound that a loaded machine could miss.
func (h *harness) keysCaughtUp() {
	h.t.Helper()
	marker, _, _, _ := h.newKey(events.APIKeyV1{})
	waitFor(h.t, time.Minute, "the gateway to know a key written after the others", func() bool {
		req, _ := http.NewRequest(http.MethodGet, h.url+"/v1/credits", nil)
		req.Header.Set("Authorization", "Bearer "+marker)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			h.t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// setBalance writes KV balances as the ledger would.
func (h *harness) setBalance(accountID string, bal money.Micros, free int64, keySpend ...map[string]money.Micros) {
	h.t.Helper()
	kv, err := h.bus.KV(context.Background(), events.BucketBalances)
	if err != nil {
		h.t.Fatal(err)
	}
	seq := uint64(time.Now().UnixNano())
	v := events.BalanceV1{V: 1, AccountID: accountID, BalanceMicros: bal, FreeRequestsLeft: free, Seq: seq, UpdatedAt: time.Now().UTC()}
	if len(keySpend) > 0 {
		v.KeySpendMicros = keySpend[0]
	}
	raw, _ := json.Marshal(v)
	if _, err := kv.Put(context.Background(), accountID, raw); err != nil {
		h.t.Fatal(err)
	}
}

type creditsBody struct {
	BalanceMicros    int64 `json:"balance_micros"`
	AvailableMicros  int64 `json:"available_micros"`
	FreeRequestsLeft int64 `json:"free_requests_left"`
}

func (h *harness) credits(key string) creditsBody {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.url+"/v1/credits", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var c creditsBody
	if resp.StatusCode == http.StatusOK {
		_ = json.NewDecoder(resp.Body).Decode(&c)
	}
	return c
}

// post sends a raw JSON body and returns the response with its body read.
func (h *harness) post(path, key, body string, hdr ...string) (*http.Response, []byte) {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.url+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// usageEvents returns every usage.recorded event stored in JetStream.
func (h *harness) usageEvents() []events.UsageRecordedV1 {
	h.t.Helper()
	ctx := context.Background()
	st, err := h.bus.JetStream().Stream(ctx, events.StreamUsage)
	if err != nil {
		h.t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []events.UsageRecordedV1
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			continue
		}
		var ev events.UsageRecordedV1
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			h.t.Fatal(err)
		}
		if m.Header.Get(jetstream.MsgIDHeader) != ev.ID {
			h.t.Errorf("event %s published with Nats-Msg-Id %q", ev.ID, m.Header.Get(jetstream.MsgIDHeader))
		}
		out = append(out, ev)
	}
	return out
}

// waitUsage waits for the usage event of request id.
func (h *harness) waitUsage(id string) events.UsageRecordedV1 {
	h.t.Helper()
	var found events.UsageRecordedV1
	waitFor(h.t, time.Minute, "usage event "+id, func() bool {
		for _, ev := range h.usageEvents() {
			if ev.ID == id {
				found = ev
				return true
			}
		}
		return false
	})
	return found
}

func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func mustModel(t testing.TB, id string) catalog.Model {
	t.Helper()
	c, err := catalog.Default()
	if err != nil {
		t.Fatal(err)
	}
	m, ok := c.Lookup(id)
	if !ok {
		t.Fatalf("model %s not in catalog", id)
	}
	return m
}

// expectCost is the catalog formula written out: ceil(Σ tokens × price / 1e6).
func expectCost(m catalog.Model, in, cached, write, out int64) money.Micros {
	p := m.Pricing
	ci, cw := p.CachedInput, p.CacheWrite
	if ci == 0 {
		ci = p.Input
	}
	if cw == 0 {
		cw = p.Input
	}
	sum := in*int64(p.Input) + cached*int64(ci) + write*int64(cw) + out*int64(p.Output)
	return money.Micros((sum + 999_999) / 1_000_000)
}

func golden(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", path))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var _ = fmt.Sprintf
