package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/ids"
	"github.com/onekey-oss/onekey/services/gateway/gateway"
)

// echoCanary answers every call with a completion that contains the canary
// (and the provider's usage), in the format the path asks for.
func echoCanary(canary string) func(http.ResponseWriter, *http.Request, []byte) bool {
	return func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		stream := bytes.Contains(body, []byte(`"stream":true`))
		switch {
		case strings.HasSuffix(r.URL.Path, "/messages") && stream:
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprintf(w, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-haiku-4-5-20251001\",\"usage\":{\"input_tokens\":10,\"output_tokens\":1}}}\n\n")
			fmt.Fprintf(w, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"%s\"}}\n\n", canary)
			fmt.Fprintf(w, "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":5}}\n\n")
		case strings.HasSuffix(r.URL.Path, "/embeddings"):
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1]}],"model":"%s","usage":{"prompt_tokens":3,"total_tokens":3}}`, canary)
		case stream:
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprintf(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-5-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"%s\"},\"finish_reason\":null}]}\n\n", canary)
			fmt.Fprint(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-5-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":5,\"total_tokens\":15}}\n\ndata: [DONE]\n\n")
		default:
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"id":"c","object":"chat.completion","created":1,"model":"gpt-5-mini","choices":[{"index":0,"message":{"role":"assistant","content":"%s"},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}`, canary)
		}
		return true
	}
}

func TestPrivacy_CanaryInPromptsAndCompletionsIsNowhereTheSystemWrites(t *testing.T) {
	t.Parallel()
	canary := "CANARY-" + ids.New("x")
	h := newHarness(t, withConfig(func(c *gateway.Config) { c.PublishTimeout = 200 * time.Millisecond }))
	for _, f := range h.fakes {
		f.setHandle(echoCanary(canary))
	}
	run := func() {
		bodies := []struct{ path, body string }{
			{"/v1/chat/completions", `{"model":"gpt-5-mini","messages":[{"role":"user","content":"` + canary + `"}]}`},
			{"/v1/chat/completions", `{"model":"gpt-5-mini","stream":true,"messages":[{"role":"user","content":"` + canary + `"}]}`},
			{"/v1/messages", `{"model":"claude-haiku-4-5","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"` + canary + `"}]}`},
			{"/v1/embeddings", `{"model":"text-embedding-3-small","input":"` + canary + `"}`},
			// Error paths echo nothing into logs either.
			{"/v1/chat/completions", `{"model":"` + canary + `","messages":[]}`},
			{"/v1/chat/completions", `{"model":"gpt-5-mini","messages":[` + canary + `]}`},
			{"/v1/chat/completions", `not json ` + canary},
		}
		for _, b := range bodies {
			resp, got := h.post(b.path, h.key, b.body)
			if resp.StatusCode == 200 && !bytes.Contains(got, []byte(canary)) {
				t.Errorf("%s: the client did not get the completion", b.path)
			}
		}
	}
	run()
	// Again during a bus outage, so that usage events are written to the
	// outbox on disk, then drained.
	h.nats.Stop()
	run()
	waitFor(t, 10*time.Second, "events spilled to disk", func() bool { return h.svc.OutboxSpilled() > 0 })
	h.nats.Resume(t)
	waitFor(t, 30*time.Second, "spill drained", func() bool { return h.svc.OutboxSpilled() == 0 && len(h.usageEvents()) >= 8 })
	h.stop() // flush everything the gateway writes

	if strings.Contains(h.logs.String(), canary) {
		t.Errorf("the canary is in the gateway's logs")
	}
	if !strings.Contains(h.logs.String(), "level=") {
		t.Errorf("no logs captured: the check above proves nothing")
	}
	ctx := context.Background()
	js := h.bus.JetStream()
	checked := 0
	for _, name := range events.Streams() {
		st, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		info, _ := st.Info(ctx)
		for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
			m, err := st.GetMsg(ctx, seq)
			if err != nil {
				continue
			}
			checked++
			if bytes.Contains(m.Data, []byte(canary)) || strings.Contains(fmt.Sprint(m.Header), canary) {
				t.Errorf("the canary is in bus message %s #%d", name, seq)
			}
		}
	}
	if checked < 8 {
		t.Errorf("only %d bus messages checked", checked)
	}
	for _, bucket := range []string{events.BucketAPIKeys, events.BucketBalances} {
		kv, err := h.bus.KV(ctx, bucket)
		if err != nil {
			t.Fatal(err)
		}
		lister, err := kv.ListKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for k := range lister.Keys() {
			e, err := kv.Get(ctx, k)
			if err != nil && err != jetstream.ErrKeyNotFound {
				t.Fatal(err)
			}
			if strings.Contains(k, canary) || (e != nil && bytes.Contains(e.Value(), []byte(canary))) {
				t.Errorf("the canary is in KV %s", bucket)
			}
		}
	}
	// Every file under this test's temporary directories: the gateway's
	// outbox and the embedded NATS server's JetStream store.
	root := filepath.Dir(h.cfg.OutboxDir)
	root = filepath.Dir(root)
	files := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(raw, []byte(canary)) {
			t.Errorf("the canary is in file %s", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 5 {
		t.Errorf("only %d files checked under %s", files, root)
	}
	_ = catalog.OpenAI
}
