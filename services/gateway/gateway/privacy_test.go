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
		case strings.HasSuffix(r.URL.Path, "/responses") && stream:
			id := ids.New("resp")
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprintf(w, "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"%s\",\"object\":\"response\",\"status\":\"in_progress\",\"output\":[],\"usage\":null}}\n\n", id)
			fmt.Fprintf(w, "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":1,\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":\"%s\",\"logprobs\":[]}\n\n", canary)
			fmt.Fprintf(w, "event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":2,\"response\":{\"id\":\"%s\",\"object\":\"response\",\"status\":\"completed\",\"output\":[{\"type\":\"message\",\"id\":\"msg_1\",\"status\":\"completed\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"%s\",\"annotations\":[]}]}],\"usage\":{\"input_tokens\":10,\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":5,\"output_tokens_details\":{\"reasoning_tokens\":0},\"total_tokens\":15}}}\n\n", id, canary)
		case strings.HasSuffix(r.URL.Path, "/responses"):
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"id":"%s","object":"response","status":"completed","model":"gpt-5-mini","output":[{"type":"message","id":"msg_1","status":"completed","role":"assistant","content":[{"type":"output_text","text":"%s","annotations":[]}]}],"usage":{"input_tokens":10,"input_tokens_details":{"cached_tokens":0},"output_tokens":5,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":15}}`, ids.New("resp"), canary)
		case strings.HasSuffix(r.URL.Path, "/messages") && !stream:
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"id":"m","type":"message","role":"assistant","model":"claude-haiku-4-5-20251001","content":[{"type":"text","text":"%s"}],"stop_reason":"end_turn","usage":{"input_tokens":10,"output_tokens":5}}`, canary)
		case strings.HasSuffix(r.URL.Path, "/messages") && stream:
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprintf(w, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-haiku-4-5-20251001\",\"usage\":{\"input_tokens\":10,\"output_tokens\":1}}}\n\n")
			fmt.Fprintf(w, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n")
			fmt.Fprintf(w, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"%s\"}}\n\n", canary)
			fmt.Fprintf(w, "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n")
			fmt.Fprintf(w, "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":5}}\n\n")
			fmt.Fprintf(w, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
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
	h := newHarness(t, withConfig(func(c *gateway.Config) { c.PublishTimeout = 200 * time.Millisecond; c.ResponsesStore = true }))
	for _, f := range h.fakes {
		f.setHandle(echoCanary(canary))
	}
	run := func() {
		bodies := []struct{ path, body string }{
			{"/v1/chat/completions", `{"model":"gpt-5-mini","messages":[{"role":"user","content":"` + canary + `"}]}`},
			{"/v1/chat/completions", `{"model":"gpt-5-mini","stream":true,"messages":[{"role":"user","content":"` + canary + `"}]}`},
			{"/v1/messages", `{"model":"claude-haiku-4-5","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"` + canary + `"}]}`},
			{"/v1/embeddings", `{"model":"text-embedding-3-small","input":"` + canary + `"}`},
			// The Responses API, passed through (and stored: the binding in
			// KV responses holds ids only) and translated.
			{"/v1/responses", `{"model":"gpt-5-mini","input":"` + canary + `"}`},
			{"/v1/responses", `{"model":"gpt-5-mini","stream":true,"instructions":"` + canary + `","input":"hi"}`},
			{"/v1/responses", `{"model":"claude-haiku-4-5","input":[{"role":"user","content":[{"type":"input_text","text":"` + canary + `"}]}]}`},
			{"/v1/responses", `{"model":"claude-haiku-4-5","stream":true,"input":"` + canary + `"}`},
			{"/v1/responses", `{"model":"gemini-2.5-flash","stream":true,"input":"` + canary + `"}`},
			{"/v1/responses", `{"model":"gemini-2.5-flash","input":"hi","tools":[{"type":"web_search","note":"` + canary + `"}]}`},
			{"/v1/responses", `{"model":"claude-haiku-4-5","input":"hi","prompt":{"id":"` + canary + `"}}`},
			// Error paths echo nothing into logs either.
			{"/v1/chat/completions", `{"model":"` + canary + `","messages":[]}`},
			{"/v1/chat/completions", `{"model":"gpt-5-mini","messages":[` + canary + `]}`},
			{"/v1/chat/completions", `not json ` + canary},
		}
		for _, b := range bodies {
			resp, got := h.post(b.path, h.key, b.body)
			if resp.StatusCode == 200 && !bytes.Contains(got, []byte(canary)) {
				t.Errorf("%s: the client did not get the completion: %s -> %s", b.path, b.body, got)
			}
		}
		// A stored response's id is looked up, never logged.
		req, _ := http.NewRequest(http.MethodGet, h.url+"/v1/responses/resp_"+canary, nil)
		req.Header.Set("Authorization", "Bearer "+h.key)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	run()
	// Again during a bus outage, so that usage events are written to the
	// outbox on disk, then drained.
	h.nats.Stop()
	run()
	waitFor(t, time.Minute, "events spilled to disk", func() bool { return h.svc.OutboxSpilled() > 0 })
	h.nats.Resume(t)
	waitFor(t, time.Minute, "spill drained", func() bool { return h.svc.OutboxSpilled() == 0 && len(h.usageEvents()) >= 8 })
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
	stored := 0
	for _, bucket := range []string{events.BucketAPIKeys, events.BucketBalances, events.BucketResponses} {
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
			if bucket == events.BucketResponses {
				stored++
			}
		}
	}
	if stored < 2 {
		t.Errorf("only %d stored responses bound: the check of KV responses proves little", stored)
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
