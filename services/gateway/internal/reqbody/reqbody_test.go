package reqbody_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/onekey-oss/onekey/services/gateway/internal/reqbody"
)

func TestPeek_ReadsOnlyWhatBillingNeeds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		body         string
		model        string
		stream, incl bool
		max          int64
	}{
		{`{"model":"gpt-5.2","messages":[{"role":"user","content":"{\"model\":\"x\"}"}]}`, "gpt-5.2", false, false, 0},
		{` { "messages" : [ ] , "model" : "o3" , "stream" : true , "max_completion_tokens" : 77 } `, "o3", true, false, 77},
		{`{"model":"a","stream":true,"stream_options":{"include_usage":true},"max_tokens":5}`, "a", true, true, 5},
		{`{"mod\u0065l":"escaped-key","stream":false}`, "escaped-key", false, false, 0},
		{`{"model":"gpt-5\u002e2"}`, "gpt-5.2", false, false, 0},
		{`{"model":"m","max_tokens":null,"stream_options":null}`, "m", false, false, 0},
	}
	for _, tt := range tests {
		in, err := reqbody.Peek([]byte(tt.body))
		if err != nil {
			t.Errorf("%s: %v", tt.body, err)
			continue
		}
		if in.Model != tt.model || in.Stream != tt.stream || in.IncludeUsage != tt.incl || in.MaxOutputTokens != tt.max {
			t.Errorf("%s: got %+v", tt.body, in)
		}
	}
}

func TestPeek_RefusesBodiesAProviderCouldReadDifferently(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		`{"model":"gpt-5-nano","model":"gpt-5.2-pro"}`,
		`{"model":"a","mod\u0065l":"b"}`,
		`{"model":"a","max_tokens":1,"max_tokens":100000}`,
		`{"model":"a","stream":"yes"}`,
		`{"model":1}`,
		`{"model":"a","max_tokens":-1}`,
		`{"model":"a"`, `[]`, `{"model":"a"} trailing`, `{"model":"a","x":[1,2}`, `{"model":"a\u0000`,
	} {
		if _, err := reqbody.Peek([]byte(body)); !errors.Is(err, reqbody.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", body, err)
		}
	}
}

func TestRewrite_ChangesOnlyTheModelAndUsageOption(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{`{"model":"claude-sonnet-4-5","messages":[]}`, `{"model":"claude-sonnet-4-5-20250929","messages":[]}`},
		{`{"model":"m","stream":true,"messages":[]}`, `{"stream_options":{"include_usage":true},"model":"m-up","stream":true,"messages":[]}`},
		{`{"stream":true,"stream_options":{"include_obfuscation":false},"model":"m"}`, `{"stream":true,"stream_options":{"include_obfuscation":false,"include_usage":true},"model":"m-up"}`},
		{`{"model":"m","stream":true,"stream_options":{"include_usage":true}}`, `{"model":"m-up","stream":true,"stream_options":{"include_usage":true}}`},
	}
	for i, tt := range tests {
		in, err := reqbody.Peek([]byte(tt.in))
		if err != nil {
			t.Fatal(err)
		}
		up := "m-up"
		if i == 0 {
			up = "claude-sonnet-4-5-20250929"
		}
		got, err := reqbody.Rewrite([]byte(tt.in), in, up, true)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tt.want {
			t.Errorf("Rewrite(%s)\n got %s\nwant %s", tt.in, got, tt.want)
		}
		if !json.Valid(got) {
			t.Errorf("invalid JSON: %s", got)
		}
	}
	same := []byte(`{"model":"gpt-5.2","messages":[]}`)
	in, _ := reqbody.Peek(same)
	got, _ := reqbody.Rewrite(same, in, "gpt-5.2", true)
	if &got[0] != &same[0] {
		t.Errorf("an unchanged body was copied")
	}
}

func FuzzPeek_NeverPanicsAndRewriteStaysValidJSON(f *testing.F) {
	f.Add([]byte(`{"model":"a","stream":true,"messages":[{"content":"x"}]}`))
	f.Add([]byte(`{"stream_options":{"include_usage":false},"model":"b","stream":true}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := reqbody.Peek(b)
		if err != nil || in.Model == "" {
			return
		}
		out, err := reqbody.Rewrite(b, in, "upstream", true)
		if err == nil && json.Valid(b) && !json.Valid(out) {
			t.Errorf("rewrite of valid %q is invalid: %q", b, out)
		}
	})
}

func TestRewrite_SetMemberReplacesTheLastCopyOrComesFirst(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{"model":"m","store":true,"input":"hi"}`, `{"model":"up","store":false,"input":"hi"}`},
		{`{"store":null,"model":"m","store":true}`, `{"store":null,"model":"up","store":false}`},
		{`{"model":"m","input":"hi"}`, `{"store":false,"max_output_tokens":7,"model":"up","input":"hi"}`},
	} {
		in, err := reqbody.Peek([]byte(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		if got := string(in.Raw([]byte(tc.body), "store")); tc.body[2] == 's' && got != "true" {
			t.Errorf("Raw(store) = %q, want the last copy", got)
		}
		in.SetMember("store", []byte("false"))
		if !strings.Contains(tc.body, "store") {
			in.SetOutputLimit("max_output_tokens", 7)
		}
		out, err := reqbody.Rewrite([]byte(tc.body), in, "up", false)
		if err != nil || string(out) != tc.want {
			t.Errorf("Rewrite(%s) = %s, %v; want %s", tc.body, out, err, tc.want)
		}
	}
	in, _ := reqbody.Peek([]byte(`{}`))
	in.SetMember("store", []byte("false"))
	in.SetOutputLimit("max_output_tokens", 7)
	if out, _ := reqbody.Rewrite([]byte(`{}`), in, "", false); string(out) != `{"store":false,"max_output_tokens":7}` {
		t.Errorf("empty object: %s", out)
	}
}
