package ids_test

import (
	"strings"
	"testing"
	"time"

	"github.com/onekey-oss/onekey/api/events"
	"github.com/onekey-oss/onekey/pkg/ids"
)

func TestIDs_AreUniqueOrderedAndValidSubjectTokens(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	prev := ""
	base := time.Now()
	for i := range 10_000 {
		id := ids.NewAt("acc", base.Add(time.Duration(i)*time.Millisecond))
		if seen[id] {
			t.Fatal("duplicate id")
		}
		seen[id] = true
		if err := events.ValidToken(id); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(id, "acc_") || len(id) != 4+26 {
			t.Fatalf("id %q has the wrong shape", id)
		}
		if id <= prev {
			t.Fatalf("%q sorts before %q made earlier", id, prev)
		}
		prev = id
	}
}
