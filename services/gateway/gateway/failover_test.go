package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/services/gateway/gateway"
)

const plainChat = `{"model":"gpt-5-mini","messages":[{"role":"user","content":"hi"}]}`

func failWith(status int, hits *atomic.Int64) func(http.ResponseWriter, *http.Request, []byte) bool {
	return func(w http.ResponseWriter, _ *http.Request, _ []byte) bool {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":{"message":"upstream says %d","type":"server_error","param":null,"code":null}}`, status)
		return true
	}
}

func TestFailover_5xxMovesToNextChannelAndFailingChannelCoolsDownThenComesBack(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withChannel("openai-primary", catalog.OpenAI, 10),
		// Long enough that the second request falls within it on a loaded
		// machine (300 ms was missed while the test waited for the first
		// request's usage event).
		withConfig(func(c *gateway.Config) { c.Cooldown = 5 * time.Second }))
	primary, backup := h.extra["openai-primary"], h.fakes[catalog.OpenAI]
	var primaryHits atomic.Int64
	primary.setHandle(failWith(http.StatusServiceUnavailable, &primaryHits))

	resp, body := h.post("/v1/chat/completions", h.key, plainChat)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if primaryHits.Load() != 1 || len(backup.requests()) != 1 {
		t.Fatalf("primary hit %d times, backup %d; want 1 and 1", primaryHits.Load(), len(backup.requests()))
	}
	first := resp.Header.Get("X-Request-Id")
	// While it cools down, the failing channel is not tried first.
	resp, _ = h.post("/v1/chat/completions", h.key, plainChat)
	if resp.StatusCode != 200 || primaryHits.Load() != 1 {
		t.Errorf("during cooldown: status %d, primary hit %d times", resp.StatusCode, primaryHits.Load())
	}
	if ev := h.waitUsage(first); ev.Channel != "openai" {
		t.Errorf("billed channel %q, want the backup", ev.Channel)
	}
	// Fixed and cooled down, it takes traffic again.
	primary.setHandle(nil)
	waitFor(t, time.Minute, "primary back in rotation", func() bool {
		resp, _ := h.post("/v1/chat/completions", h.key, plainChat)
		return resp.StatusCode == 200 && len(primary.requests()) > int(primaryHits.Load())
	})
}

func TestFailover_ConnectErrorMovesToNextChannel(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String() + "/v1"
	ln.Close() // nothing listens there now
	h := newHarness(t, withConfig(func(c *gateway.Config) {
		c.Channels = append(c.Channels, gateway.ChannelConfig{Name: "openai-dead", Provider: catalog.OpenAI, BaseURL: dead, APIKey: "k", Priority: 10})
	}))
	resp, body := h.post("/v1/chat/completions", h.key, plainChat)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if ev := h.waitUsage(resp.Header.Get("X-Request-Id")); ev.Channel != "openai" {
		t.Errorf("channel %q", ev.Channel)
	}
}

func TestFailover_429IsRetriedTwiceThenPassedThroughAsTypedSDKError(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var hits atomic.Int64
	h.fakes[catalog.OpenAI].setHandle(failWith(http.StatusTooManyRequests, &hits))
	var raw *http.Response
	_, err := h.openai(h.key).Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "gpt-5-mini", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	}, option.WithResponseInto(&raw))
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || !strings.Contains(apiErr.Message, "upstream says 429") {
		t.Fatalf("err = %v", err)
	}
	if hits.Load() != 3 {
		t.Errorf("upstream tried %d times, want 1 + 2 retries", hits.Load())
	}
	if apiErr.Response.Header.Get("Retry-After") != "7" || apiErr.Response.Header.Get("X-Request-Id") == "" {
		t.Errorf("headers = %v", apiErr.Response.Header)
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(h.usageEvents()); n != 0 {
		t.Errorf("a refused request was billed (%d events)", n)
	}
}

func TestFailover_4xxIsPassedThroughWithoutRetry(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withChannel("openai-primary", catalog.OpenAI, 10))
	var hits atomic.Int64
	h.extra["openai-primary"].setHandle(failWith(http.StatusBadRequest, &hits))
	resp, body := h.post("/v1/chat/completions", h.key, plainChat)
	if resp.StatusCode != 400 || !strings.Contains(string(body), "upstream says 400") || hits.Load() != 1 || len(h.fakes[catalog.OpenAI].requests()) != 0 {
		t.Errorf("status %d body %s primary %d backup %d", resp.StatusCode, body, hits.Load(), len(h.fakes[catalog.OpenAI].requests()))
	}
}

func TestFailover_ErrorAfterFirstByteIsPassedThroughNotRetried(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withChannel("openai-primary", catalog.OpenAI, 10))
	h.extra["openai-primary"].setHandle(func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-5-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},\"finish_reason\":null}]}\n\n")
		w.(http.Flusher).Flush()
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close() // the provider drops the connection mid-stream
		return true
	})
	stream := h.openai(h.key).Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model: "gpt-5-mini", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	})
	var got strings.Builder
	for stream.Next() {
		if c := stream.Current(); len(c.Choices) > 0 {
			got.WriteString(c.Choices[0].Delta.Content)
		}
	}
	if got.String() != "Hel" {
		t.Errorf("client got %q, want the part sent before the failure", got.String())
	}
	if n := len(h.fakes[catalog.OpenAI].requests()); n != 0 {
		t.Errorf("retried on the backup after the first byte (%d requests)", n)
	}
}
