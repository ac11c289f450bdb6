// Package boottest checks a service's admin server (pkg/boot) from its
// main's tests: every service answers /healthz, /readyz and /metrics alike.
package boottest

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// FreeAddr is a loopback address with a port free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Get asks url and returns the status and body (status 0 and the error
// when nothing answered).
func Get(url string) (int, string) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// WaitStatus polls url until it answers want, failing the test after 30 s
// or when the service's run ends first (done, which may be nil).
func WaitStatus(t testing.TB, url string, want int, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := Get(url)
		if code == want {
			return
		}
		select {
		case err := <-done:
			t.Fatalf("the service stopped while waiting for %s to answer %d: %v", url, want, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s answered %d %.200q, want %d within 30s", url, code, body, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// CheckAdmin asserts what every ready service's admin server at addr
// answers: /healthz and /readyz 200 "ok", /metrics 200 holding metric
// (a name the service records), any other path 404.
func CheckAdmin(t testing.TB, addr, metric string) {
	t.Helper()
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, body := Get("http://" + addr + p); code != http.StatusOK || body != "ok\n" {
			t.Errorf("%s: %d %q, want 200 \"ok\\n\"", p, code, body)
		}
	}
	if code, body := Get("http://" + addr + "/metrics"); code != http.StatusOK || !strings.Contains(body, metric) {
		t.Errorf("/metrics: %d %.300s; want 200 with %s", code, body, metric)
	}
	if code, _ := Get("http://" + addr + "/v1/models"); code != http.StatusNotFound {
		t.Errorf("/v1/models on the admin server: %d, want 404 (the admin server serves nothing else)", code)
	}
}

// WaitClosed fails the test unless addr refuses connections (the admin
// server stopped with the service).
func WaitClosed(t testing.TB, addr string) {
	t.Helper()
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after the service stopped", addr)
	}
}
