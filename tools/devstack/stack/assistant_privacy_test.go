package stack_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/ids"
	"github.com/onekey-oss/onekey/services/auth/anthropicfake"
	"github.com/onekey-oss/onekey/tools/devstack/stack"
)

// lockedBuffer collects the services' logs from many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var linkRE = regexp.MustCompile(`https?://[^\s"'<>]+/api/auth/magic-link/verify\?token=([A-Za-z0-9_-]+)`)

// browser is a minimal same-origin client of the account API: cookies by
// hand (the __Host- session cookie is Secure, which a cookie jar would
// not send over http), Origin and the CSRF token on POSTs.
type browser struct {
	t       *testing.T
	base    string
	cookies map[string]string
	csrf    string
}

func (b *browser) do(method, path string, body any) (int, []byte, http.Header) {
	b.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, b.base+path, rd)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", b.base)
	if b.csrf != "" {
		req.Header.Set("X-CSRF-Token", b.csrf)
	}
	for k, v := range b.cookies {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	for _, c := range resp.Cookies() {
		b.cookies[c.Name] = c.Value
	}
	return resp.StatusCode, raw, resp.Header
}

// TestDevstack_AssistantConversationIsInNoLogDatabaseStreamKVOrFile types a
// canary into the assistant (the fake Anthropic echoes it back, so it
// travels both ways) on the whole devstack at LOG_LEVEL=debug with traces
// exported, then looks for it in the logs, the exported spans, every
// stream message (dead letters included), every KV value, and every file
// under the data dir (the database and its write-ahead log, JetStream's
// store, the outboxes) and under TMPDIR.
func TestDevstack_AssistantConversationIsInNoLogDatabaseStreamKVOrFile(t *testing.T) {
	canary := "CANARY-" + ids.New("assistant")
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	fake := anthropicfake.Start(t, anthropicfake.Echo)
	var spansMu sync.Mutex
	var spans [][]byte
	otlp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		spansMu.Lock()
		spans = append(spans, raw)
		spansMu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(otlp.Close)
	env := map[string]string{
		"ASSISTANT_ANTHROPIC_API_KEY": anthropicfake.APIKey, "ASSISTANT_ANTHROPIC_BASE_URL": fake.URL,
		"OTEL_EXPORTER_OTLP_ENDPOINT": otlp.URL,
	}
	// A free port for auth: devstack prints the address it was given.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accountAddr := ln.Addr().String()
	ln.Close()
	logs := &lockedBuffer{}
	dir := filepath.Join(tmp, "data")
	s := startWith(t, stack.Config{
		DataDir: dir, GatewayAddr: "127.0.0.1:0", AccountAddr: accountAddr, PaymentsAddr: "127.0.0.1:0",
		NATSAddr: "127.0.0.1:0", MongoAddr: "127.0.0.1:0", LogLevel: slog.LevelDebug, LogOutput: logs,
		Getenv: func(k string) string { return env[k] },
	})
	authURL, natsURL := "http://"+accountAddr, ""
	for _, l := range s.lines {
		f := strings.Fields(l)
		if len(f) >= 3 && f[0] == "NATS" {
			natsURL = f[2]
		}
	}
	if natsURL == "" {
		t.Fatalf("no NATS address in %q", s.lines)
	}

	// Sign in by magic link (the mail is in DATA/outbox).
	b := &browser{t: t, base: authURL, cookies: map[string]string{}}
	if code, body, _ := b.do(http.MethodPost, "/api/auth/magic-link", map[string]string{"email": "canary@example.com"}); code != http.StatusAccepted {
		t.Fatalf("magic link: %d %s", code, body)
	}
	var token string
	deadline := time.Now().Add(30 * time.Second)
	for token == "" && time.Now().Before(deadline) {
		files, _ := filepath.Glob(filepath.Join(dir, "outbox", "*.eml"))
		for _, f := range files {
			raw, _ := os.ReadFile(f)
			if bytes.Contains(raw, []byte("canary@example.com")) {
				dec, _ := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(raw))) // the text part is quoted-printable
				if m := linkRE.FindSubmatch(dec); m != nil {
					token = string(m[1])
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if token == "" {
		t.Fatal("no sign-in mail in the outbox")
	}
	if code, body, _ := b.do(http.MethodPost, "/api/auth/magic-link/verify", map[string]string{"token": token}); code != http.StatusOK {
		t.Fatalf("verify: %d %s", code, body)
	}
	var me struct {
		CSRF string `json:"csrf_token"`
	}
	_, raw, _ := b.do(http.MethodGet, "/api/me", nil)
	_ = json.Unmarshal(raw, &me)
	b.csrf = me.CSRF

	// The canary goes in a question, comes back in the answer, and is in
	// the refused requests too.
	code, answer, hdr := b.do(http.MethodPost, "/api/assistant/messages", map[string]any{"messages": []map[string]string{{"role": "user", "content": "my secret is " + canary}}})
	if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/event-stream") || !bytes.Contains(answer, []byte("You asked: my secret is "+canary)) {
		t.Fatalf("assistant: %d %s", code, answer)
	}
	if code, body, _ := b.do(http.MethodPost, "/api/assistant/messages", map[string]any{"messages": []map[string]string{{"role": "assistant", "content": canary}}}); code != http.StatusBadRequest {
		t.Errorf("an invalid conversation: %d %s", code, body)
	}
	if len(fake.Requests()) != 1 || !strings.Contains(fake.Requests()[0].LastUserText(), canary) {
		t.Fatalf("the fake Anthropic did not get the canary: %d requests", len(fake.Requests()))
	}

	// Every stream message and KV value, read through the bus.
	// As the bus admin, with its credentials file from the data directory.
	admin, err := nats.NkeyOptionFromSeed(bus.CredsFile(stack.CredsDir(dir), bus.UserAdmin))
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(natsURL, admin)
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	msgs, kvSpend, seen := 0, false, map[string]bool{}
	for name := range js.StreamNames(ctx).Name() {
		seen[name] = true
		st, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
			m, err := st.GetMsg(ctx, seq)
			if err != nil {
				continue
			}
			msgs++
			if bytes.Contains(m.Data, []byte(canary)) || strings.Contains(fmt.Sprint(m.Header), canary) || strings.Contains(m.Subject, canary) {
				t.Errorf("the canary is in stream %s message #%d (%s)", name, seq, m.Subject)
			}
			if name == "KV_"+events.BucketAssistant && strings.Contains(m.Subject, ".spend.") {
				kvSpend = true
			}
		}
	}
	nc.Close()
	if msgs < 5 || !kvSpend {
		t.Errorf("only %d stream messages read (assistant spend counted in KV: %v): the check proves little", msgs, kvSpend)
	}
	if !seen[events.StreamDeadLetter] {
		t.Errorf("no %s stream was read", events.StreamDeadLetter)
	}

	// While running: the database file with its write-ahead log, JetStream's
	// store, the outboxes, anything under TMPDIR.
	if files, dbFiles := scanFiles(t, tmp, canary, "while running"); dbFiles < 2 {
		t.Errorf("only %d database files (of %d) checked: no write-ahead log?", dbFiles, files)
	}
	s.stop(t) // flush logs, spans and the database
	if strings.Contains(logs.String(), canary) {
		t.Error("the canary is in the logs")
	}
	if !strings.Contains(logs.String(), "/api/assistant/messages") {
		t.Error("no debug log line of the assistant's route: the log check proves nothing")
	}
	spansMu.Lock()
	for _, sp := range spans {
		if bytes.Contains(sp, []byte(canary)) {
			t.Error("the canary is in an exported span")
		}
	}
	if len(spans) == 0 {
		t.Error("no spans were exported: tracing was not on")
	}
	spansMu.Unlock()
	// After the stop: what was flushed at shutdown (the WAL is merged into
	// the database file then; it was checked while running, below).
	scanFiles(t, tmp, canary, "after the stop")
}

// scanFiles looks for the canary in every file under root and returns how
// many files, and how many of the database, it read.
func scanFiles(t *testing.T, root, canary, when string) (files, dbFiles int) {
	t.Helper()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		if strings.Contains(path, string(filepath.Separator)+"db"+string(filepath.Separator)) {
			dbFiles++
		}
		f, err := os.Open(path)
		if err != nil {
			return nil // removed meanwhile (a running system)
		}
		defer f.Close()
		if found, err := contains(bufio.NewReader(f), []byte(canary)); err != nil {
			return err
		} else if found {
			t.Errorf("%s: the canary is in file %s", when, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 10 {
		t.Errorf("%s: only %d files checked under %s", when, files, root)
	}
	return files, dbFiles
}

// contains reports whether r holds needle (read whole: the files are small).
func contains(r io.Reader, needle []byte) (bool, error) {
	raw, err := io.ReadAll(r)
	return bytes.Contains(raw, needle), err
}
