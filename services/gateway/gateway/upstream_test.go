package gateway_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/services/gateway/gateway"
)

// leaveEarly sends body to path and hangs up once ready says so (after
// reading what it wants of the response, if any), or, when no response
// headers came within wait, at once (ready gets nil). It returns the
// request id when the response headers arrived.
func (h *harness) leaveEarly(path, body string, wait time.Duration, ready func(resp *http.Response)) string {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, h.url+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+h.key)
	req.Header.Set("Content-Type", "application/json")
	type answer struct {
		resp *http.Response
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		got <- answer{resp, err}
	}()
	var rid string
	select {
	case a := <-got:
		if a.err != nil {
			h.t.Fatalf("request: %v", a.err)
		}
		rid = a.resp.Header.Get("X-Request-Id")
		ready(a.resp)
		cancel()
		a.resp.Body.Close()
	case <-time.After(wait):
		// No headers yet: the client gives up waiting.
		ready(nil)
		cancel()
		<-got
	}
	return rid
}

func TestUpstream_AbandonedRequestIsBilledTheProvidersUsage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	release := make(chan struct{})
	h.fakes[catalog.OpenAI].setHandle(func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		<-release // the provider is still working when the client leaves
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"c","object":"chat.completion","created":1,"model":"gpt-5-mini","choices":[{"index":0,"message":{"role":"assistant","content":"done"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1234,"completion_tokens":5678,"total_tokens":6912}}`)
		return true
	})
	before := len(h.usageEvents())
	// The provider writes nothing before it is released: the client leaves
	// after half a second without headers.
	h.leaveEarly("/v1/chat/completions", plainChat, 500*time.Millisecond, func(*http.Response) {})
	time.Sleep(200 * time.Millisecond) // the gateway has seen the client go
	close(release)
	var ev = waitOneMore(h, before)
	m := mustModel(t, "gpt-5-mini")
	if ev.Estimated || ev.InputTokens != 1234 || ev.OutputTokens != 5678 || ev.CostMicros != expectCost(m, 1234, 0, 0, 5678) {
		t.Errorf("event = %+v, want the provider's usage (1234 in, 5678 out), not estimated", ev)
	}
	if n := len(h.fakes[catalog.OpenAI].requests()); n != 1 {
		t.Errorf("provider got %d requests, want 1", n)
	}
}

// waitOneMore waits for the usage event after the first before ones.
func waitOneMore(h *harness, before int) (ev events.UsageRecordedV1) {
	h.t.Helper()
	waitFor(h.t, time.Minute, "the usage event of the abandoned request", func() bool {
		evs := h.usageEvents()
		if len(evs) > before {
			ev = evs[before]
			return true
		}
		return false
	})
	return ev
}

func TestUpstream_AbandonedStreamIsReadToItsEndAndBilledTheProvidersUsage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, tc := range []struct {
		name, path, body string
		provider         catalog.Provider
		anthropic        bool
		model            string
		in, cached, out  int64
	}{
		// The client did not ask for usage: the gateway asked on its behalf.
		{"openai", "/v1/chat/completions", `{"model":"gpt-5-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`, catalog.OpenAI, false, "gpt-5-mini", 176, 1024, 300},
		{"anthropic", "/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":1000,"stream":true,"messages":[{"role":"user","content":"hi"}]}`, catalog.Anthropic, true, "claude-sonnet-4-5", 2095, 0, 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			var finished atomic.Bool
			h.fakes[tc.provider].setHandle(func(w http.ResponseWriter, r *http.Request, body []byte) bool {
				w.Header().Set("Content-Type", "text/event-stream")
				fl := w.(http.Flusher)
				evs := strings.SplitAfter(string(golden(t, map[bool]string{false: "openai/chat_stream.sse", true: "anthropic/messages_stream.sse"}[tc.anthropic])), "\n\n")
				sawHello, waited := false, false
				for _, ev := range evs {
					if sawHello && !waited {
						<-release // the rest comes after the client has left
						waited = true
					}
					sawHello = sawHello || strings.Contains(ev, "Hello")
					if !tc.anthropic && strings.Contains(ev, `"usage":{`) && !strings.Contains(string(body), `"include_usage":true`) {
						continue
					}
					if _, err := io.WriteString(w, ev); err != nil {
						return true
					}
					fl.Flush()
				}
				finished.Store(true)
				return true
			})
			before := len(h.usageEvents())
			// The provider streams its first events at once; a loaded
			// machine may take more than the half second this waited.
			h.leaveEarly(tc.path, tc.body, time.Minute, func(resp *http.Response) {
				if resp == nil {
					t.Fatal("no response headers")
				}
				br := bufio.NewReader(resp.Body)
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						t.Fatalf("stream: %v", err)
					}
					if strings.Contains(line, "Hello") {
						return
					}
				}
			})
			time.Sleep(200 * time.Millisecond)
			close(release)
			ev := waitOneMore(h, before)
			m := mustModel(t, tc.model)
			want := expectCost(m, tc.in, tc.cached, 0, tc.out)
			if tc.anthropic {
				want = expectCost(m, 2095, 4096, 512, 503)
			}
			if ev.Estimated || ev.OutputTokens != tc.out || ev.CostMicros != want || !ev.Streamed {
				t.Errorf("event = %+v, want the provider's usage (%d out, cost %d), not estimated", ev, tc.out, want)
			}
			if !finished.Load() {
				t.Error("the provider's stream was not read to its end")
			}
			h.fakes[tc.provider].setHandle(nil)
		})
	}
}

func TestUpstream_SlowUpstreamIsSentOnceAndBilledItsInputEstimate(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withChannel("openai-primary", catalog.OpenAI, 10), withConfig(func(c *gateway.Config) {
		c.FirstByteTimeout = 300 * time.Millisecond
	}))
	release := make(chan struct{})
	defer close(release)
	slow := func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		select {
		case <-r.Context().Done():
		case <-release:
		}
		return true
	}
	h.extra["openai-primary"].setHandle(slow)
	h.fakes[catalog.OpenAI].setHandle(slow)
	resp, body := h.post("/v1/chat/completions", h.key, plainChat)
	if resp.StatusCode/100 != 5 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	sent := len(h.extra["openai-primary"].requests()) + len(h.fakes[catalog.OpenAI].requests())
	if sent != 1 {
		t.Errorf("the request reached providers %d times, want exactly once", sent)
	}
	ev := h.waitUsage(resp.Header.Get("X-Request-Id"))
	if !ev.Estimated || ev.InputTokens <= 0 || ev.OutputTokens != 0 || ev.CostMicros <= 0 {
		t.Errorf("event = %+v, want its input estimate, marked estimated", ev)
	}
}

func TestUpstream_RetriedOnTheNextChannelOnlyWhenTheProviderDidNoWork(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now
	for _, tc := range []struct {
		name     string
		provider catalog.Provider
		status   int // of the first channel; 0: connection refused
		retried  bool
	}{
		{"connection refused", catalog.OpenAI, 0, true},
		{"429", catalog.OpenAI, http.StatusTooManyRequests, true},
		{"503", catalog.OpenAI, http.StatusServiceUnavailable, true},
		{"anthropic 529", catalog.Anthropic, 529, true},
		{"500", catalog.OpenAI, http.StatusInternalServerError, false},
		{"502", catalog.OpenAI, http.StatusBadGateway, false},
		{"anthropic 500", catalog.Anthropic, http.StatusInternalServerError, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := []harnessOpt{withChannel("first", tc.provider, 10)}
			if tc.status == 0 {
				opts = []harnessOpt{withConfig(func(c *gateway.Config) {
					c.Channels = append(c.Channels, gateway.ChannelConfig{Name: "first", Provider: tc.provider, BaseURL: refused, APIKey: "k", Priority: 10})
				})}
			}
			h := newHarness(t, opts...)
			var hits atomic.Int64
			if f := h.extra["first"]; f != nil {
				f.setHandle(failWith(tc.status, &hits))
			}
			path, body := "/v1/chat/completions", plainChat
			if tc.provider == catalog.Anthropic {
				path, body = "/v1/messages", `{"model":"claude-haiku-4-5","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`
			}
			resp, got := h.post(path, h.key, body)
			next := len(h.fakes[tc.provider].requests())
			if tc.retried {
				if resp.StatusCode != 200 || next != 1 {
					t.Errorf("status %d, next channel hit %d times; want 200 from the next channel: %s", resp.StatusCode, next, got)
				}
				return
			}
			if resp.StatusCode != tc.status || hits.Load() != 1 || next != 0 {
				t.Errorf("status %d, first channel hit %d times, next %d; want the first's %d passed through, not retried", resp.StatusCode, hits.Load(), next, tc.status)
			}
		})
	}
}

// The gateway's copy of a request body is given back (to the in-flight body
// budget, and to the garbage collector) once the provider has it, not when
// a long answer ends.
func TestUpstream_RequestBodyIsFreedOnceTheProviderHasIt(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withEnv(map[string]string{"GATEWAY_MAX_BODY_BYTES": "1048576", "GATEWAY_MAX_INFLIGHT_BODY_BYTES": "1048576"}))
	release := make(chan struct{})
	var calls atomic.Int64
	h.fakes[catalog.OpenAI].setHandle(func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-5-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}],\"usage\":null}\n\n")
		w.(http.Flusher).Flush()
		if calls.Add(1) == 1 {
			<-release // the first answer is a long one
		}
		fmt.Fprint(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-5-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":1,\"total_tokens\":11}}\n\ndata: [DONE]\n\n")
		return true
	})
	first := strings.Replace(chatOfSize(700<<10), `"model"`, `"stream":true,"model"`, 1)
	firstDone := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, h.url+"/v1/chat/completions", strings.NewReader(first))
		req.Header.Set("Authorization", "Bearer "+h.key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			firstDone <- 0
			return
		}
		defer resp.Body.Close()
		_, _ = io.ReadAll(resp.Body)
		firstDone <- resp.StatusCode
	}()
	waitFor(t, time.Minute, "the first answer to start", func() bool { return calls.Load() == 1 })
	// While the first answer streams, a second large body fits the budget.
	resp, body := h.post("/v1/chat/completions", h.key, chatOfSize(600<<10))
	close(release)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("second body while the first answer streams: %d %.200s", resp.StatusCode, body)
	}
	if s := <-firstDone; s != http.StatusOK {
		t.Errorf("first request: %d", s)
	}
}

// TestUpstream_TimeToFirstByteCountsFromTheRequestNotFromTheProvidersHeaders:
// ttfb_ms in the usage event (and so in GET /v1/generation) is the time from
// the request to the answer's first byte, as users mean it. A provider that
// thinks 300 ms before it sends its headers had it at about 0 ms.
func TestUpstream_TimeToFirstByteCountsFromTheRequestNotFromTheProvidersHeaders(t *testing.T) {
	t.Parallel()
	const think = 300 * time.Millisecond
	for _, c := range []struct {
		name, body string
	}{{"plain", plainChat}, {"streamed", `{"model":"gpt-5-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`}} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			h.fakes[catalog.OpenAI].setHandle(func(http.ResponseWriter, *http.Request, []byte) bool {
				time.Sleep(think)
				return false // then the fake answers as usual
			})
			resp, body := h.post("/v1/chat/completions", h.key, c.body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			ev := h.waitUsage(resp.Header.Get("X-Request-Id"))
			if ev.TTFBMS < think.Milliseconds() || ev.TTFBMS > ev.LatencyMS {
				t.Errorf("ttfb_ms = %d (latency %d ms), want at least the provider's %d ms before its first byte and at most the latency", ev.TTFBMS, ev.LatencyMS, think.Milliseconds())
			}
		})
	}
}
