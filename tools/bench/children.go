package main

// The bench's processes: the proxies, the fake upstream and the ledger each
// run as a child process of the bench binary (-role), so that their CPU time
// can be read from /proc and the ledger can be paused.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/onekey-oss/onekey/api/apikey"
	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/pkg/bus"
	"github.com/onekey-oss/onekey/pkg/httpx"
	"github.com/onekey-oss/onekey/pkg/store"
	"github.com/onekey-oss/onekey/services/gateway/gateway"
	"github.com/onekey-oss/onekey/services/ledger/ledger"
)

// ---- child processes ----

func serveChild(ctx context.Context, h http.Handler) error {
	ln, err := httpx.Listen("127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("ADDR %s\n", ln.Addr())
	return httpx.Serve(ctx, httpx.NewServer(h, httpx.ServerConfig{}), ln, 5*time.Second)
}

func runBare(ctx context.Context, o options) error {
	u, err := url.Parse(o.upstream)
	if err != nil {
		return err
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second}
	return serveChild(ctx, rp)
}

func runGateway(ctx context.Context, o options) error {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	b, err := bus.Connect(cctx, bus.Config{URL: o.natsURL, Name: "bench-gateway", User: bus.UserGateway, CredsFile: bus.CredsFile(o.creds, bus.UserGateway)})
	if err != nil {
		return err
	}
	defer b.Close()
	svc, err := gateway.New(gateway.Config{
		Addr:      "127.0.0.1:0",
		OutboxDir: filepath.Join(o.dir, "outbox"),
		Channels:  []gateway.ChannelConfig{{Name: "openai", Provider: "openai", BaseURL: o.upstream + "/v1", APIKey: "bench"}},
	}, gateway.Deps{Bus: b, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return err
	}
	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	errc := make(chan error, 1)
	go func() { errc <- svc.Run(ctx) }()
	for !svc.Ready() {
		select {
		case err := <-errc:
			return err
		case <-cctx.Done():
			return errors.New("gateway not ready within 30s")
		case <-time.After(10 * time.Millisecond):
		}
	}
	fmt.Printf("ADDR %s\n", svc.Addr())
	return <-errc
}

// paused runs f with the child process stopped (SIGSTOP), and resumes it.
func paused(c *child, f func() (*sample, error)) (*sample, error) {
	if err := c.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		return nil, fmt.Errorf("pause the ledger: %w", err)
	}
	defer func() { _ = c.cmd.Process.Signal(syscall.SIGCONT) }()
	return f()
}

// warmUp sends one request and wants a 200. It asks again after a 503
// for up to a minute: the ledger, paused through the previous phases for
// longer than half its writer lease's TTL, may still be taking the lease
// back, and until then it grants no credit lease.
func warmUp(ctx context.Context, url, key, payload string) error {
	deadline := time.Now().Add(time.Minute)
	for {
		status, err := post(ctx, url, key, payload)
		switch {
		case err != nil:
			return fmt.Errorf("warm-up request: %w", err)
		case status == http.StatusOK:
			return nil
		case status != http.StatusServiceUnavailable || time.Now().After(deadline):
			return fmt.Errorf("warm-up request: status %d", status)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func post(ctx context.Context, url, key, payload string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(payload))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

type child struct {
	cmd  *exec.Cmd
	addr string
}

func startChild(ctx context.Context, args ...string) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self, args...)
	cmd.Stderr = os.Stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if addr, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
			go func() { _, _ = io.Copy(io.Discard, stdout) }()
			return &child{cmd: cmd, addr: addr}, nil
		}
	}
	_ = cmd.Wait()
	return nil, fmt.Errorf("child %v exited before listening", args)
}

func (c *child) stop() {
	_ = c.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

// cpu is the process's user+system CPU time, from /proc (Linux).
func (c *child) cpu() (time.Duration, error) { return procCPU(c.cmd.Process.Pid) }

func procCPU(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	// After the command name: state is field 3, utime 14, stime 15.
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const clkTck = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / clkTck, nil
}

// seedAccount stores a key, as auth would, and opens its account with a
// large balance through the ledger; it returns once the ledger has
// published the balance.
func seedAccount(ctx context.Context, b *bus.Bus) (string, error) {
	key, err := apikey.New(nil)
	if err != nil {
		return "", err
	}
	keys, err := b.KV(ctx, events.BucketAPIKeys)
	if err != nil {
		return "", err
	}
	now := time.Now().UTC()
	raw, _ := json.Marshal(events.APIKeyV1{V: 1, KeyID: "key_bench", ProjectID: "prj_bench", AccountID: "acc_bench", Status: events.KeyActive, UpdatedAt: now})
	if _, err := keys.Put(ctx, apikey.Hash(key), raw); err != nil {
		return "", err
	}
	for _, ev := range []events.Event{
		events.AccountCreatedV1{V: 1, ID: "account.created:acc_bench", Time: now, AccountID: "acc_bench", NoFreeRequests: true},
		events.CreditAdjustedV1{V: 1, ID: "adj_bench", Time: now, AccountID: "acc_bench", AmountMicros: money.USD(1_000_000), Reason: "bench", Actor: "bench"},
	} {
		if _, err := b.Publish(ctx, ev); err != nil {
			return "", fmt.Errorf("seed the bench account: %w", err)
		}
	}
	bals, err := b.KV(ctx, events.BucketBalances)
	if err != nil {
		return "", err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if e, err := bals.Get(ctx, "acc_bench"); err == nil {
			var v events.BalanceV1
			if json.Unmarshal(e.Value(), &v) == nil && v.BalanceMicros == money.USD(1_000_000) {
				return key, nil
			}
		}
		if time.Now().After(deadline) {
			return "", errors.New("the ledger did not publish the bench account's balance within 60s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runLedger runs the real ledger on an embedded database, at the lowest
// CPU priority (see runBench).
func runLedger(ctx context.Context, o options) error {
	if err := syscall.Setpriority(syscall.PRIO_PROCESS, 0, 19); err != nil {
		return fmt.Errorf("lower the ledger's priority: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	db, err := store.StartEmbedded(ctx, store.EmbeddedConfig{DataDir: filepath.Join(o.dir, "db"), Logger: log})
	if err != nil {
		return err
	}
	defer func() { _ = db.Close(context.Background()) }()
	st, err := store.Open(ctx, db.URI(), "onekey", log)
	if err != nil {
		return err
	}
	defer func() { _ = st.Close(context.Background()) }()
	b, err := bus.Connect(ctx, bus.Config{URL: o.natsURL, Name: "bench-ledger", User: bus.UserLedger, CredsFile: bus.CredsFile(o.creds, bus.UserLedger)})
	if err != nil {
		return err
	}
	defer b.Close()
	svc, err := ledger.New(ledger.DefaultConfig(), ledger.Deps{Bus: b, Store: st, Logger: log})
	if err != nil {
		return err
	}
	fmt.Println("ADDR ledger")
	return svc.Run(ctx)
}
