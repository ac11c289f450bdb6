package ids

import (
	"encoding/binary"
	"strings"
	"time"
)

// Time returns the time part of an id made by New or NewAt with the given
// prefix (to the millisecond), and false when s is not such an id.
func Time(prefix, s string) (time.Time, bool) {
	rest, ok := strings.CutPrefix(s, prefix+"_")
	if !ok || len(rest) != 26 {
		return time.Time{}, false
	}
	b, err := enc.DecodeString(rest)
	if err != nil || len(b) != 16 {
		return time.Time{}, false
	}
	return time.UnixMilli(int64(binary.BigEndian.Uint64(b[:8]) >> 16)), true
}
