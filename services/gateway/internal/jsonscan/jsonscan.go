// Package jsonscan reads the few top-level fields of a JSON object the
// gateway needs (model, stream, limits) and splices new values into it,
// without decoding the rest of the document: a request body of megabytes of
// messages and images is skipped over byte by byte, never materialized.
//
// The scanner validates the structure it walks (strings, nesting, literals)
// well enough to find value boundaries; the provider validates the rest.
package jsonscan

import (
	"encoding/json"
	"errors"
	"fmt"
)

// ErrSyntax is wrapped by every error for input that is not a JSON object.
var ErrSyntax = errors.New("malformed JSON")

// Field is one top-level member of an object: its key, decoded, and the
// byte span of its raw value. MemberStart is where the member's key begins.
type Field struct {
	Key         string
	MemberStart int
	ValueStart  int
	ValueEnd    int
}

// Fields calls fn for every top-level member of the object in b, in order.
// Keys are decoded (escapes resolved) so that "mod\u0065l" is seen as
// "model", as the provider will see it.
func Fields(b []byte, fn func(f Field) error) error {
	return walk(b, func(raw []byte, escaped bool, start, vs, ve int) error {
		var key string
		if escaped {
			if err := json.Unmarshal(raw, &key); err != nil {
				return fmt.Errorf("%w: key at offset %d", ErrSyntax, start)
			}
		} else {
			key = string(raw[1 : len(raw)-1])
		}
		return fn(Field{Key: key, MemberStart: start, ValueStart: vs, ValueEnd: ve})
	})
}

// Span is the byte span of a member's value; Found reports the member is
// there.
type Span struct {
	Start, End int
	Found      bool
}

// Members finds the top-level members keys of the object in b in one pass:
// spans[i] is the value of keys[i] (its last copy, as Find). Unlike Fields
// it allocates nothing for a key without escapes.
func Members(b []byte, keys []string, spans []Span) error {
	clear(spans)
	return walk(b, func(raw []byte, escaped bool, start, vs, ve int) error {
		name := raw[1 : len(raw)-1]
		if escaped {
			var key string
			if err := json.Unmarshal(raw, &key); err != nil {
				return fmt.Errorf("%w: key at offset %d", ErrSyntax, start)
			}
			name = []byte(key)
		}
		for i, k := range keys {
			if string(name) == k {
				spans[i] = Span{Start: vs, End: ve, Found: true}
			}
		}
		return nil
	})
}

// walk calls fn for every top-level member of the object in b, with its
// raw key (quotes included) and whether the key has escapes.
func walk(b []byte, fn func(raw []byte, escaped bool, start, vs, ve int) error) error {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return fmt.Errorf("%w: not an object", ErrSyntax)
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return trailing(b, i+1)
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return fmt.Errorf("%w: expected a key at offset %d", ErrSyntax, i)
		}
		start := i
		end, escaped, err := skipString(b, i)
		if err != nil {
			return err
		}
		i = skipWS(b, end)
		if i >= len(b) || b[i] != ':' {
			return fmt.Errorf("%w: expected ':' at offset %d", ErrSyntax, i)
		}
		i = skipWS(b, i+1)
		vs := i
		ve, err := skipValue(b, i, 0)
		if err != nil {
			return err
		}
		if err := fn(b[start:end], escaped, start, vs, ve); err != nil {
			return err
		}
		i = skipWS(b, ve)
		if i >= len(b) {
			return fmt.Errorf("%w: unterminated object", ErrSyntax)
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case '}':
			return trailing(b, i+1)
		default:
			return fmt.Errorf("%w: unexpected %q at offset %d", ErrSyntax, b[i], i)
		}
	}
}

// Find returns the span of the top-level member key's value, or ok false.
func Find(b []byte, key string) (start, end int, ok bool, err error) {
	err = Fields(b, func(f Field) error {
		if f.Key == key {
			start, end, ok = f.ValueStart, f.ValueEnd, true
		}
		return nil
	})
	return start, end, ok, err
}

func trailing(b []byte, i int) error {
	if skipWS(b, i) != len(b) {
		return fmt.Errorf("%w: data after the object", ErrSyntax)
	}
	return nil
}

func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the offset just after the string starting at b[i]
// (a '"'), and whether it contains escapes.
func skipString(b []byte, i int) (int, bool, error) {
	escaped := false
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return j + 1, escaped, nil
		case c == '\\':
			escaped = true
			j++
		case c < 0x20:
			return 0, false, fmt.Errorf("%w: control character in string at offset %d", ErrSyntax, j)
		}
	}
	return 0, false, fmt.Errorf("%w: unterminated string", ErrSyntax)
}

// maxDepth bounds nesting so a hostile body cannot exhaust the stack.
const maxDepth = 512

func skipValue(b []byte, i, depth int) (int, error) {
	if depth > maxDepth {
		return 0, fmt.Errorf("%w: nested deeper than %d", ErrSyntax, maxDepth)
	}
	if i >= len(b) {
		return 0, fmt.Errorf("%w: missing value", ErrSyntax)
	}
	switch c := b[i]; {
	case c == '"':
		end, _, err := skipString(b, i)
		return end, err
	case c == '{' || c == '[':
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		j := skipWS(b, i+1)
		if j < len(b) && b[j] == closer {
			return j + 1, nil
		}
		for {
			if c == '{' {
				if j >= len(b) || b[j] != '"' {
					return 0, fmt.Errorf("%w: expected a key at offset %d", ErrSyntax, j)
				}
				end, _, err := skipString(b, j)
				if err != nil {
					return 0, err
				}
				j = skipWS(b, end)
				if j >= len(b) || b[j] != ':' {
					return 0, fmt.Errorf("%w: expected ':' at offset %d", ErrSyntax, j)
				}
				j = skipWS(b, j+1)
			}
			end, err := skipValue(b, j, depth+1)
			if err != nil {
				return 0, err
			}
			j = skipWS(b, end)
			if j >= len(b) {
				return 0, fmt.Errorf("%w: unterminated container", ErrSyntax)
			}
			if b[j] == closer {
				return j + 1, nil
			}
			if b[j] != ',' {
				return 0, fmt.Errorf("%w: unexpected %q at offset %d", ErrSyntax, b[j], j)
			}
			j = skipWS(b, j+1)
		}
	case c == 't':
		return literal(b, i, "true")
	case c == 'f':
		return literal(b, i, "false")
	case c == 'n':
		return literal(b, i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		j := i + 1
		for j < len(b) {
			switch d := b[j]; {
			case d >= '0' && d <= '9', d == '.', d == 'e', d == 'E', d == '+', d == '-':
				j++
				continue
			}
			break
		}
		return j, nil
	}
	return 0, fmt.Errorf("%w: unexpected %q at offset %d", ErrSyntax, b[i], i)
}

func literal(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, fmt.Errorf("%w: bad literal at offset %d", ErrSyntax, i)
	}
	return i + len(lit), nil
}

// Splice returns b with b[start:end] replaced by repl, in a new slice.
func Splice(b []byte, start, end int, repl []byte) []byte {
	out := make([]byte, 0, len(b)-(end-start)+len(repl))
	out = append(out, b[:start]...)
	out = append(out, repl...)
	return append(out, b[end:]...)
}

// RemoveMember returns b without the top-level member whose key starts at
// memberStart and whose value ends at valueEnd, fixing up the comma.
func RemoveMember(b []byte, memberStart, valueEnd int) []byte {
	// Prefer eating the comma after the member; else the one before it.
	j := skipWS(b, valueEnd)
	if j < len(b) && b[j] == ',' {
		return Splice(b, memberStart, skipWS(b, j+1), nil)
	}
	k := memberStart - 1
	for k >= 0 && (b[k] == ' ' || b[k] == '\t' || b[k] == '\n' || b[k] == '\r') {
		k--
	}
	if k >= 0 && b[k] == ',' {
		return Splice(b, k, valueEnd, nil)
	}
	return Splice(b, memberStart, valueEnd, nil)
}
