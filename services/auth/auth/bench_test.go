package auth_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/onekey-oss/onekey/services/auth/auth"
)

// BenchmarkMagicLinkRequest compares a sign-in request for an address with
// an account and one without: the handler does the same work for both, so
// the two should cost the same (compare ns/op of the sub-benchmarks).
func BenchmarkMagicLinkRequest(b *testing.B) {
	h := newHarness(b, func(c *auth.Config, _ *auth.Deps) { c.MagicLinksPerAddress, c.MagicLinksPerIP = 0, 0 })
	h.signIn("known@example.com")
	for _, who := range []string{"known", "unknown"} {
		b.Run(who, func(b *testing.B) {
			c := h.client()
			body := map[string]string{"email": fmt.Sprintf("%s@example.com", who)}
			for b.Loop() {
				if r := c.Do(http.MethodPost, "/api/auth/magic-link", body); r.Status != http.StatusAccepted {
					b.Fatalf("status %d", r.Status)
				}
			}
		})
	}
}
