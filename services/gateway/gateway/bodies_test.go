package gateway_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// chatOfSize is a chat request body of n bytes.
func chatOfSize(n int) string {
	head, tail := `{"model":"gpt-5-nano","messages":[{"role":"user","content":"`, `"}]}`
	return head + strings.Repeat("a", n-len(head)-len(tail)) + tail
}

// The bodies held in memory across all requests are bounded
// (GATEWAY_MAX_INFLIGHT_BODY_BYTES): while one large body is arriving, a
// second that would go beyond the budget is answered 503 with Retry-After,
// and the first still completes.
func TestBodies_InFlightBudgetAnswers503BeyondItAndTheFirstBodyCompletes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withEnv(map[string]string{"GATEWAY_MAX_BODY_BYTES": "1048576", "GATEWAY_MAX_INFLIGHT_BODY_BYTES": "1048576"}))
	first := chatOfSize(700 << 10)
	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodPost, h.url+"/v1/chat/completions", pr)
	req.ContentLength = int64(len(first))
	req.Header.Set("Authorization", "Bearer "+h.key)
	req.Header.Set("Content-Type", "application/json")
	type answer struct {
		status int
		body   string
		err    error
	}
	firstDone := make(chan answer, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			firstDone <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		firstDone <- answer{status: resp.StatusCode, body: string(b)}
	}()
	// Most of the first body arrives, then the client pauses. Written is
	// not yet read: the socket buffers can hold it all, so wait until the
	// gateway holds it.
	if _, err := io.WriteString(pw, first[:600<<10]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "the gateway to hold the first body's bytes", func() bool {
		return h.svc.BodyBytesInFlight() >= 600<<10
	})
	second := chatOfSize(600 << 10)
	var resp *http.Response
	var body []byte
	waitFor(t, time.Minute, "a second large body to be refused while the first arrives", func() bool {
		resp, body = h.post("/v1/chat/completions", h.key, second)
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("second body: %d %s", resp.StatusCode, body)
		}
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	var e struct {
		Error struct{ Type, Code, Message string }
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != "server_busy" || e.Error.Message == "" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("503: %s, Retry-After %q", body, resp.Header.Get("Retry-After"))
	}
	if _, err := io.WriteString(pw, first[600<<10:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	select {
	case a := <-firstDone:
		if a.err != nil || a.status != http.StatusOK {
			t.Fatalf("first body: %d %v %s", a.status, a.err, a.body)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the first request did not complete")
	}
	// Its bytes are given back when its handler returns, just after the
	// client has its answer: then the second fits.
	waitFor(t, time.Minute, "the second body to fit once the first request ended", func() bool {
		resp, _ := h.post("/v1/chat/completions", h.key, second)
		return resp.StatusCode == http.StatusOK
	})
}

// A Content-Length is a client's word, not bytes: a request announcing a
// large body holds memory only for the bytes it has sent, so announcements
// alone exhaust neither the process's memory nor the in-flight budget.
// Not parallel: it measures the heap.
func TestBodies_AnnouncedLengthHoldsNoMemoryBeforeItsBytesArrive(t *testing.T) {
	const announced, conns = 16_000_000, 8
	h := newHarness(t, withEnv(map[string]string{"GATEWAY_MAX_BODY_BYTES": "16000000", "GATEWAY_MAX_INFLIGHT_BODY_BYTES": "16000000"}))
	heap := func() int64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapAlloc)
	}
	before := heap()
	addr := strings.TrimPrefix(h.url, "http://")
	for range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", addr, h.key, announced)
		_, _ = io.WriteString(c, chatOfSize(1 << 10)[:1<<10])
	}
	// Every handler is reading its body by the time an ordinary request,
	// sent after them, has been answered.
	if resp, body := h.post("/v1/chat/completions", h.key, chatOfSize(100<<10)); resp.StatusCode != http.StatusOK {
		t.Fatalf("a request beside the announced ones: %d %s", resp.StatusCode, body)
	}
	time.Sleep(200 * time.Millisecond)
	if grew := heap() - before; grew > announced {
		t.Errorf("the heap grew by %d MB for %d requests that announced %d MB each and sent 1 KB", grew>>20, conns, announced/1_000_000)
	}
}
