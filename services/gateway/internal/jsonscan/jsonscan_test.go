package jsonscan_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/onekey-oss/onekey/services/gateway/internal/jsonscan"
)

func TestRemoveMember_KeepsTheObjectValidWhereverTheMemberIs(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{`{"a":1,"usage":{"x":2},"b":3}`, `{"a":1,"b":3}`},
		{`{"usage":{"x":2},"b":3}`, `{"b":3}`},
		{`{"a":1,"usage":{"x":2}}`, `{"a":1}`},
		{`{"usage":{"x":2}}`, `{}`},
		{`{"a":[1,{"usage":1}] , "usage" : null }`, `{"a":[1,{"usage":1}]  }`},
	} {
		s, e, ok, err := findMember([]byte(tt.in), "usage")
		if err != nil || !ok {
			t.Fatalf("%s: %v %v", tt.in, ok, err)
		}
		got := jsonscan.RemoveMember([]byte(tt.in), s, e)
		if string(got) != tt.want || !json.Valid(got) {
			t.Errorf("RemoveMember(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func findMember(b []byte, key string) (int, int, bool, error) {
	var s, e int
	var ok bool
	err := jsonscan.Fields(b, func(f jsonscan.Field) error {
		if f.Key == key {
			s, e, ok = f.MemberStart, f.ValueEnd, true
		}
		return nil
	})
	return s, e, ok, err
}

func TestFields_RejectsMalformedInput(t *testing.T) {
	t.Parallel()
	for _, in := range []string{``, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":tru}`, `{"a":"x`, `{"a":[1,2}`, `{"a":1}}`, "{\"a\":\"\x01\"}"} {
		if err := jsonscan.Fields([]byte(in), func(jsonscan.Field) error { return nil }); !errors.Is(err, jsonscan.ErrSyntax) {
			t.Errorf("Fields(%q) = %v, want ErrSyntax", in, err)
		}
	}
}

func TestMembers_FindsEveryKeyInOnePassLastCopyWinsEscapesDecoded(t *testing.T) {
	b := []byte(`{"id":"a","usage":{"x":1},"i\u0064":"b","other":[1,2]}`)
	var spans [3]jsonscan.Span
	if err := jsonscan.Members(b, []string{"id", "usage", "missing"}, spans[:]); err != nil {
		t.Fatal(err)
	}
	if got := string(b[spans[0].Start:spans[0].End]); !spans[0].Found || got != `"b"` {
		t.Errorf("id = %q, %v; want the last copy \"b\"", got, spans[0].Found)
	}
	if got := string(b[spans[1].Start:spans[1].End]); !spans[1].Found || got != `{"x":1}` {
		t.Errorf("usage = %q, %v", got, spans[1].Found)
	}
	if spans[2].Found {
		t.Error("missing key found")
	}
	plain := []byte(`{"type":"response.output_text.delta","delta":"Hi","sequence_number":3}`)
	if n := testing.AllocsPerRun(100, func() { _ = jsonscan.Members(plain, []string{"type"}, spans[:1]) }); n != 0 {
		t.Errorf("%v allocations for plain keys", n)
	}
	if err := jsonscan.Members([]byte(`{"a":}`), []string{"a"}, spans[:1]); err == nil {
		t.Error("malformed object accepted")
	}
}
