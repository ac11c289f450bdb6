package web

import (
	"testing"

	"github.com/onekey-oss/onekey/api/money"
)

// app.js (showBanner) decides the same way; e2e/dashboard checks it live.
func TestBannerKind_WarnsOnlyAnOpenedAccountBelowItsThresholdOrWithNothingLeft(t *testing.T) {
	for _, tc := range []struct {
		name      string
		opened    bool
		balance   money.Micros
		free      int64
		threshold money.Micros
		want      string
	}{
		{"not opened yet", false, 0, 0, money.Dollar, ""},
		{"nothing left", true, 0, 0, money.Dollar, "empty"},
		{"nothing left, alert off", true, 0, 0, 0, "empty"},
		{"on free requests", true, 0, 20, money.Dollar, "free"},
		{"free requests, alert off", true, 0, 20, 0, ""},
		{"below the threshold", true, money.Dollar / 2, 0, money.Dollar, "low"},
		{"at the threshold", true, money.Dollar, 0, money.Dollar, ""},
		{"above it", true, 10 * money.Dollar, 20, money.Dollar, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := bannerKind(tc.opened, tc.balance, tc.free, tc.threshold); got != tc.want {
				t.Errorf("bannerKind = %q, want %q", got, tc.want)
			}
		})
	}
}
