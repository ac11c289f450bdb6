package stack_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/onekey-oss/onekey/api/apikey"
	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/tools/devstack/stack"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leakOptions()...)
}

// leakOptions ignores the process-wide goroutines of libraries we embed:
// they are not per-server and cannot be stopped by their owner.
func leakOptions() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*Server).startGoRoutine.func1"),
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.(*ipQueue[...]).push"),
		goleak.IgnoreAnyFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreAnyFunction("modernc.org/sqlite/lib.Xsqlite3_initialize"),
		goleak.IgnoreTopFunction("github.com/FerretDB/FerretDB/internal/util/state.(*Provider).Subscribe.func1"),
	}
}

// started is one devstack run in this process.
type started struct {
	cancel context.CancelFunc
	done   chan error
	key    string
	dir    string
	// lines is what devstack printed up to the demo key.
	lines []string
}

func start(t *testing.T, dir string) *started {
	t.Helper()
	return startWith(t, stack.Config{
		DataDir: dir, GatewayAddr: "127.0.0.1:0", AccountAddr: "127.0.0.1:0", PaymentsAddr: "127.0.0.1:0",
		NATSAddr: "127.0.0.1:0", MongoAddr: "127.0.0.1:0", LogOutput: io.Discard,
	})
}

// startWith runs devstack with cfg until its demo key is printed.
func startWith(t *testing.T, cfg stack.Config) *started {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	s := &started{cancel: cancel, done: make(chan error, 1), dir: cfg.DataDir}
	go func() {
		err := stack.Run(ctx, cfg, pw)
		pw.CloseWithError(io.EOF)
		s.done <- err
	}()
	keys := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if k, ok := strings.CutPrefix(sc.Text(), "demo API key: "); ok {
				keys <- k
				break
			}
			s.lines = append(s.lines, sc.Text())
		}
		close(keys)
	}()
	select {
	case k, ok := <-keys:
		if !ok {
			cancel()
			t.Fatalf("devstack ended before printing a demo key: %v", <-s.done)
		}
		s.key = k
	case <-time.After(2 * time.Minute):
		cancel()
		t.Fatal("devstack printed no demo key within 2 minutes")
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	return s
}

// stop cancels devstack (what SIGINT does in main) and requires a clean
// return within 30 s (the services' ordered shutdown; a loaded machine
// can take more than a few seconds).
func (s *started) stop(t *testing.T) {
	t.Helper()
	s.cancel()
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("devstack stopped with: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("devstack did not stop within 30 s")
	}
}

func TestDevstack_StopsCleanlyAndRestartKeepsTheDemoAccount(t *testing.T) {
	dir := t.TempDir()

	first := start(t, dir)
	if err := apikey.Check(first.key); err != nil {
		t.Fatalf("printed demo key is malformed: %v", err)
	}
	onDisk, err := os.ReadFile(filepath.Join(dir, "demo-key"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(onDisk)) != first.key {
		t.Fatalf("demo-key file holds %q, printed %q", onDisk, first.key)
	}
	before := balanceOf(t, first)
	// With the ledger running, the demo account holds its $5.00 and its 20
	// free requests (the gateway has seen no request in this test).
	if want := fmt.Sprintf("%s, 20 free requests", stack.DemoCredit); before != "" && before != want {
		t.Fatalf("demo account balance %q, want %q", before, want)
	}
	first.stop(t)
	sealKey := mailSealKey(t, dir)

	second := start(t, dir)
	// A sign-in mail auth sealed before the restart still opens after it.
	if again := mailSealKey(t, dir); again != sealKey {
		t.Fatal("restart made a new mail seal key")
	}
	if second.key != first.key {
		t.Fatalf("restart made a new demo key: %q then %q", first.key, second.key)
	}
	after := balanceOf(t, second)
	if before != after {
		t.Fatalf("demo balance changed across a restart: %s then %s", before, after)
	}
	second.stop(t)
}

// The README's first request works, also after a restart: the demo key
// lives in auth's database, so auth's startup sync (which deletes KV entries
// of keys it does not know) keeps it, and the gateway serves it.
func TestDevstack_DemoKeyIsServedByTheGatewayAfterAuthsStartupSync(t *testing.T) {
	dir := t.TempDir()
	start(t, dir).stop(t)
	s := start(t, dir)
	defer s.stop(t)
	gw := s.gatewayURL(t)
	ask := func() int { return s.chat(t, gw) }
	deadline := time.Now().Add(time.Minute)
	for ask() != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("the demo key was not served within a minute")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for i := range 5 {
		time.Sleep(300 * time.Millisecond)
		if code := ask(); code != http.StatusOK {
			t.Fatalf("request %d with the demo key: status %d", i+2, code)
		}
	}
}

// gatewayURL is the gateway's address as devstack printed it.
func (s *started) gatewayURL(t *testing.T) string {
	t.Helper()
	for _, l := range s.lines {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "gateway" && strings.HasPrefix(f[1], "127.0.0.1:") {
			return "http://" + f[1]
		}
	}
	t.Fatalf("no gateway address in %q", s.lines)
	return ""
}

// chat sends the README's first request with the demo key and returns the
// status.
func (s *started) chat(t *testing.T, gw string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, gw+"/v1/chat/completions",
		strings.NewReader(`{"model":"gpt-5-mini","messages":[{"role":"user","content":"Say hello"}]}`))
	req.Header.Set("Authorization", "Bearer "+s.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// With two ledger partitions the gateway, which does not know there are
// two, serves the demo key: its credit lease for the demo account (asked of
// every ledger writer) is answered by the partition that owns the account,
// which has applied the account's opening.
func TestDevstack_TwoLedgerPartitionsServeTheDemoKey(t *testing.T) {
	s := startWith(t, stack.Config{
		DataDir: t.TempDir(), GatewayAddr: "127.0.0.1:0", AccountAddr: "127.0.0.1:0", PaymentsAddr: "127.0.0.1:0",
		NATSAddr: "127.0.0.1:0", MongoAddr: "127.0.0.1:0", LogOutput: io.Discard, LedgerPartitions: 2,
	})
	defer s.stop(t)
	gw := s.gatewayURL(t)
	deadline := time.Now().Add(time.Minute)
	for s.chat(t, gw) != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("the demo key was not served within a minute with two ledger partitions")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// mailSealKey is the MAIL_SEAL_KEY devstack keeps in DATA/mail-seal-key
// (auth seals sign-in links with it, the notifier opens them): a valid key,
// readable by its owner only.
func mailSealKey(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "mail-seal-key")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("%s is readable by others: %v", path, fi.Mode())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := events.ParseMailSealKey(string(raw)); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return string(raw)
}
