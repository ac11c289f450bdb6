package jsonscan

import "fmt"

// Elements calls fn with the byte span of every element of the JSON array
// in b, in order, without decoding them. b must be exactly one array
// (surrounding whitespace allowed).
func Elements(b []byte, fn func(start, end int) error) error {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '[' {
		return fmt.Errorf("%w: not an array", ErrSyntax)
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		return trailing(b, i+1)
	}
	for {
		end, err := skipValue(b, i, 1)
		if err != nil {
			return err
		}
		if err := fn(i, end); err != nil {
			return err
		}
		i = skipWS(b, end)
		if i >= len(b) {
			return fmt.Errorf("%w: unterminated array", ErrSyntax)
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case ']':
			return trailing(b, i+1)
		default:
			return fmt.Errorf("%w: unexpected %q at offset %d", ErrSyntax, b[i], i)
		}
	}
}

// ValueEnd returns the offset just after the JSON value starting at b[i].
func ValueEnd(b []byte, i int) (int, error) { return skipValue(b, i, 1) }
