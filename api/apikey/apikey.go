// Package apikey is the format of onekey API keys, shared by auth (which
// makes them) and the gateway (which checks them).
//
// A key is "sk-onekey-" followed by 32 base62 characters of randomness
// (190 bits) and a 6-character base62 checksum of those characters. The
// prefix makes a leaked key recognizable to secret scanners; the checksum
// lets the gateway refuse a mistyped or made-up key before any lookup.
// Only the SHA-256 of a key is ever stored.
package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
)

// Prefix starts every key.
const Prefix = "sk-onekey-"

const (
	bodyLen     = 32
	checksumLen = 6
	alphabet    = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	// Len is the length of a whole key.
	Len = len(Prefix) + bodyLen + checksumLen
	// DisplayLen is how much of a key a listing shows ("sk-onekey-AbCd").
	DisplayLen = len(Prefix) + 4
)

// ErrMalformed is returned for text that is not a well-formed key.
var ErrMalformed = errors.New("malformed API key")

// New makes a key from rand (crypto/rand.Reader when nil).
func New(r io.Reader) (string, error) {
	if r == nil {
		r = rand.Reader
	}
	var b strings.Builder
	b.Grow(Len)
	b.WriteString(Prefix)
	// Rejection sampling keeps every character uniform.
	buf := make([]byte, 64)
	n := 0
	for n < bodyLen {
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", fmt.Errorf("new api key: %w", err)
		}
		for _, c := range buf {
			if c >= 248 { // 248 = 4*62: keep the mapping uniform
				continue
			}
			b.WriteByte(alphabet[int(c)%62])
			n++
			if n == bodyLen {
				break
			}
		}
	}
	b.WriteString(checksum(b.String()[len(Prefix):]))
	return b.String(), nil
}

// Check reports whether key is well formed (prefix, length, alphabet and
// checksum). It says nothing of whether the key exists.
func Check(key string) error {
	if len(key) != Len || !strings.HasPrefix(key, Prefix) {
		return ErrMalformed
	}
	body := key[len(Prefix) : len(Prefix)+bodyLen]
	for i := 0; i < len(body); i++ {
		if strings.IndexByte(alphabet, body[i]) < 0 {
			return ErrMalformed
		}
	}
	if key[len(Prefix)+bodyLen:] != checksum(body) {
		return ErrMalformed
	}
	return nil
}

// Hash is the hex SHA-256 of the key: the only form in which a key is
// stored (KV apikeys is keyed by it).
func Hash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// Display is the part of a key that may be shown in a listing.
func Display(key string) string {
	if len(key) < DisplayLen {
		return key
	}
	return key[:DisplayLen]
}

func checksum(body string) string {
	v := crc32.ChecksumIEEE([]byte(body))
	out := make([]byte, checksumLen)
	for i := checksumLen - 1; i >= 0; i-- {
		out[i] = alphabet[v%62]
		v /= 62
	}
	return string(out)
}
