package ids_test

import (
	"testing"
	"time"

	"github.com/onekey-oss/onekey/pkg/ids"
)

func TestIDs_TimeReadsBackTheMillisecondAnIDWasMadeAt(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 1, 17, 30, 0, 123_456_789, time.UTC)
	id := ids.NewAt("req", at)
	got, ok := ids.Time("req", id)
	if !ok || !got.Equal(at.Truncate(time.Millisecond)) {
		t.Fatalf("Time(%q) = %v, %v; want %v", id, got, ok, at.Truncate(time.Millisecond))
	}
	for _, bad := range []string{"", "req_", "acc" + id[3:], id + "0", id[:len(id)-1], "req_" + "!!!!!!!!!!!!!!!!!!!!!!!!!!", "chatcmpl-123"} {
		if _, ok := ids.Time("req", bad); ok {
			t.Errorf("Time(%q) accepted", bad)
		}
	}
}
