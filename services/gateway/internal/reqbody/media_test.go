package reqbody_test

import (
	"strings"
	"testing"

	"github.com/onekey-oss/onekey/services/gateway/internal/reqbody"
)

func TestScanMedia_CountsPartsWhereTheProviderReadsMediaNotText(t *testing.T) {
	t.Parallel()
	img := `"data:image/png;base64,` + strings.Repeat("A", 1000) + `"`
	for _, tc := range []struct {
		name                 string
		body                 string
		images, files, audio int64
		minBytes             int64
	}{
		{"text only", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, 0, 0, 0, 0},
		{"openai image", `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"what?"},{"type":"image_url","image_url":{"url":` + img + `}}]}]}`, 1, 0, 0, 1000},
		{"image_url before its type", `{"messages":[{"content":[{"image_url":{"url":` + img + `},"type":"image_url"}]}]}`, 1, 0, 0, 1000},
		{"openai audio and file", `{"messages":[{"content":[{"type":"input_audio","input_audio":{"data":"` + strings.Repeat("B", 800) + `","format":"wav"}},{"type":"file","file":{"file_id":"file-1"}}]}]}`, 0, 1, 1, 800},
		{"anthropic image and pdf", `{"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"` + strings.Repeat("C", 500) + `"}},{"type":"document","source":{"type":"url","url":"https://x/a.pdf"}}]}]}`, 1, 1, 0, 500},
		{"anthropic image in a tool result", `{"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"image","source":{"type":"url","url":"https://x/a.png"}}]}]}]}`, 1, 0, 0, 10},
		// A Responses API image by URL is held as an image, not as the
		// few bytes of its URL.
		{"responses image and file", `{"input":[{"role":"user","content":[{"type":"input_image","image_url":` + img + `},{"type":"input_image","image_url":"https://x/a.png"},{"type":"input_file","file_url":"https://x/a.pdf"}]}]}`, 2, 1, 0, 1000},
		// Text the model reads as text is never discounted.
		{"plain-text document", `{"messages":[{"content":[{"type":"document","source":{"type":"text","media_type":"text/plain","data":"` + strings.Repeat("D", 500) + `"}}]}]}`, 0, 0, 0, 0},
		{"data URL inside text", `{"messages":[{"content":[{"type":"text","text":"data:image/png;base64,` + strings.Repeat("E", 500) + `"}]}]}`, 0, 0, 0, 0},
		{"a tool schema's file property", `{"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"file":{"type":"string"},"image_url":{"type":"string"}}}}}]}`, 0, 0, 0, 0},
		{"image_url member with a text type", `{"messages":[{"content":[{"type":"text","text":"x","image_url":{"url":` + img + `}}]}]}`, 0, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := reqbody.ScanMedia([]byte(tc.body))
			if m.Images != tc.images || m.Files != tc.files || m.Audio != tc.audio {
				t.Errorf("got %+v, want %d images, %d files, %d audio", m, tc.images, tc.files, tc.audio)
			}
			if m.Bytes < tc.minBytes || (tc.minBytes == 0 && m.Bytes != 0) {
				t.Errorf("media bytes %d, want at least %d (0 when none)", m.Bytes, tc.minBytes)
			}
		})
	}
}

func TestRewrite_SendsTheOutputLimitOnlyWhereAsked(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, key, want string }{
		{`{"model":"m","messages":[]}`, "max_tokens", `{"max_tokens":77,"model":"m","messages":[]}`},
		{`{"model":"m","max_completion_tokens":null,"messages":[]}`, "max_completion_tokens", `{"model":"m","max_completion_tokens":77,"messages":[]}`},
		{`{"model":"m","stream":true}`, "max_completion_tokens", `{"stream_options":{"include_usage":true},"max_completion_tokens":77,"model":"m","stream":true}`},
	} {
		in, err := reqbody.Peek([]byte(tc.in))
		if err != nil {
			t.Fatal(err)
		}
		in.SetOutputLimit(tc.key, 77)
		got, err := reqbody.Rewrite([]byte(tc.in), in, "m", true)
		if err != nil || string(got) != tc.want {
			t.Errorf("%s: got %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
}

func TestPeek_LargestLimitAndChoices(t *testing.T) {
	t.Parallel()
	in, err := reqbody.Peek([]byte(`{"model":"m","max_tokens":300,"max_completion_tokens":100,"max_output_tokens":200,"n":3}`))
	if err != nil || in.MaxOutputTokens != 300 || in.Choices != 3 {
		t.Errorf("got %+v, %v; want the largest limit (300) and n 3", in, err)
	}
}
