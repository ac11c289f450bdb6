package gateway

import (
	"testing"

	"github.com/onekey-oss/onekey/services/gateway/internal/reqbody"
)

// TestFormats_StreamEventsPassedOnCostNoAllocation holds the streamReader
// contract on the hot path: an event that goes to the client unchanged (a
// content chunk, a ping) costs no allocation, per event, in every stream
// reader.
func TestFormats_StreamEventsPassedOnCostNoAllocation(t *testing.T) {
	chunk := []byte(`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}]}`)
	delta := []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}`)
	ping := []byte(`{"type": "ping"}`)
	for _, tc := range []struct {
		name       string
		sr         streamReader
		ev, n, dat []byte
	}{
		{"chat", chatAPI{}.stream(reqbody.Info{Stream: true, IncludeUsage: true}, &biller{}), sse(chunk), nil, chunk},
		{"chat_strip", chatAPI{}.stream(reqbody.Info{Stream: true}, &biller{}), sse(chunk), nil, chunk},
		{"messages_delta", messagesAPI{}.stream(reqbody.Info{Stream: true}, &biller{}), sse(delta), []byte("content_block_delta"), delta},
		{"messages_ping", messagesAPI{}.stream(reqbody.Info{Stream: true}, &biller{}), sse(ping), []byte("ping"), ping},
		{"messages_unnamed", messagesAPI{}.stream(reqbody.Info{Stream: true}, &biller{}), sse(delta), nil, delta},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var res result
			if n := testing.AllocsPerRun(100, func() {
				if out := tc.sr.event(tc.ev, tc.n, tc.dat, &res); len(out) != len(tc.ev) {
					t.Fatalf("event changed: %s", out)
				}
			}); n != 0 {
				t.Errorf("%v allocations per event passed on", n)
			}
		})
	}
}

func sse(data []byte) []byte { return append(append([]byte("data: "), data...), "\n\n"...) }
