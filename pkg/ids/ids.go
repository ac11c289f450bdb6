// Package ids makes opaque, unique, roughly time-ordered identifiers such
// as "acc_06f1m2k3...": a prefix naming the kind, then 26 lowercase base32
// characters (48 bits of milliseconds, 80 random bits). They are valid NATS
// subject tokens and MongoDB _ids, and reveal nothing about who they name.
package ids

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"strings"
	"time"
)

var enc = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// New returns prefix + "_" + a fresh id.
func New(prefix string) string {
	return NewAt(prefix, time.Now())
}

// NewAt is New with the time part taken from t.
func NewAt(prefix string, t time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixMilli())<<16)
	// crypto/rand.Read never fails (Go ≥ 1.24).
	_, _ = rand.Read(b[6:])
	var sb strings.Builder
	sb.Grow(len(prefix) + 27)
	sb.WriteString(prefix)
	sb.WriteByte('_')
	sb.WriteString(enc.EncodeToString(b[:]))
	return sb.String()
}
