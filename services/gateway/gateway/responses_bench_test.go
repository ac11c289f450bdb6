package gateway

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/services/gateway/internal/reqbody"
)

// benchEvents splits a recorded stream into its events (ev, name, data).
func benchEvents(b *testing.B, path string) (evs, names, datas [][]byte) {
	raw, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	for ev := range bytes.SplitSeq(raw, []byte("\n\n")) {
		if len(bytes.TrimSpace(ev)) == 0 {
			continue
		}
		var name, data []byte
		for line := range bytes.SplitSeq(ev, []byte("\n")) {
			if n, ok := bytes.CutPrefix(line, []byte("event: ")); ok {
				name = n
			}
			if d, ok := bytes.CutPrefix(line, []byte("data: ")); ok {
				data = d
			}
		}
		evs, names, datas = append(evs, append(ev, "\n\n"...)), append(names, name), append(datas, data)
	}
	return evs, names, datas
}

func benchRead(b *testing.B, path string) []byte {
	raw, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	return bytes.TrimSpace(raw)
}

// BenchmarkFormats_ChatAgainstResponses measures the gateway's own work on
// a request and its answer (body read, rewrite, usage, cost), plain and
// streamed, for chat completions and for the Responses passthrough side by
// side: the Responses API should cost about what chat completions cost.
func BenchmarkFormats_ChatAgainstResponses(b *testing.B) {
	m := catalog.Model{ID: "gpt-5-mini", UpstreamID: "gpt-5-mini-2025-08-07", Provider: catalog.OpenAI, Kind: catalog.Chat}
	bill := &biller{s: &Service{}, m: &m}
	key := events.APIKeyV1{AccountID: "acct", KeyID: "key"}
	chatReq := []byte(`{"model":"gpt-5-mini","messages":[{"role":"system","content":"Answer briefly."},{"role":"user","content":"Hello"}],"max_tokens":1000}`)
	respReq := benchRead(b, "testdata/pairs/responses_openai.request.json")
	chatAns := benchRead(b, "testdata/openai/chat_response.json")
	respAns := benchRead(b, "testdata/openai/responses_text.json")
	respEvs, respNames, respData := benchEvents(b, "testdata/openai/responses_text.sse")
	responses := responsesAPI{store: &responseStore{}}

	b.Run("chat/plain", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			info, err := reqbody.Peek(chatReq)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := (chatAPI{}).request(chatReq, info, m, 1000); err != nil {
				b.Fatal(err)
			}
			var res result
			(chatAPI{}).answer(chatAns, &res, bill)
		}
	})
	b.Run("responses/plain", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			info, err := reqbody.Peek(respReq)
			if err != nil {
				b.Fatal(err)
			}
			x := responses.exchange(m)
			if _, aerr := x.(preparer).prepare(context.Background(), key, respReq, info, m); aerr != nil {
				b.Fatal(aerr)
			}
			if _, err := x.request(respReq, info, m, 1000); err != nil {
				b.Fatal(err)
			}
			var res result
			if out := x.answer(respAns, &res, bill); !res.charged || len(out) == len(respAns) {
				b.Fatal("answer not billed")
			}
		}
	})
	b.Run("responses/stream", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			x := responses.exchange(m)
			sr := x.stream(reqbody.Info{Stream: true}, bill)
			var res result
			for i := range respEvs {
				sr.event(respEvs[i], respNames[i], respData[i], &res)
			}
			sr.end(&res)
			if !res.charged || res.aborted {
				b.Fatal("stream not billed")
			}
		}
	})
	b.Run("responses/stream_unnamed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			x := responses.exchange(m)
			sr := x.stream(reqbody.Info{Stream: true}, bill)
			var res result
			for i := range respEvs {
				sr.event(respEvs[i], nil, respData[i], &res)
			}
			sr.end(&res)
			if !res.charged || res.aborted {
				b.Fatal("stream not billed")
			}
		}
	})
}
