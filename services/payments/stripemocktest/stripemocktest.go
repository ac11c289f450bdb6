// Package stripemocktest runs Stripe's official API fake, stripe-mock, for
// tests: payments' own and the end-to-end ones.
package stripemocktest

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Version is the stripe-mock installed when none is found.
const Version = "v0.203.0"

// Start runs stripe-mock on a free port until the test ends and returns its
// base URL. The binary is $STRIPE_MOCK_BIN, stripe-mock on PATH, or
// installed once from the Go module proxy into the user cache dir.
func Start(tb testing.TB) string {
	tb.Helper()
	bin, err := Find()
	if err != nil {
		tb.Fatalf("stripe-mock: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "-http-addr", addr)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/v1/balance")
		if err == nil {
			resp.Body.Close()
			return base
		}
		if time.Now().After(deadline) {
			tb.Fatalf("stripe-mock not up within 30s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Find returns the stripe-mock binary, installing it on first use.
func Find() (string, error) {
	if p := os.Getenv("STRIPE_MOCK_BIN"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("stripe-mock"); err == nil {
		return p, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "onekey", "stripe-mock-"+Version)
	bin := filepath.Join(dir, "stripe-mock")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	cmd := exec.Command("go", "install", "github.com/stripe/stripe-mock@"+Version)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOWORK=off", "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install stripe-mock: %v\n%s", err, out)
	}
	return bin, nil
}
