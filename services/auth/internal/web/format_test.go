package web_test

import (
	"testing"

	"github.com/onekey-oss/onekey/api/money"
	"github.com/onekey-oss/onekey/services/auth/internal/web"
)

func TestUSD_ShowsMicrosExactlyWithTheirCurrency(t *testing.T) {
	for _, tc := range []struct {
		in   money.Micros
		want string
	}{
		{0, "$0.00"},
		{5 * money.Dollar, "$5.00"},
		{1, "$0.000001"},
		{3_412, "$0.003412"},
		{1_000_001, "$1.000001"},
		{1_234_567_890_000, "$1,234,567.89"},
		{-5 * money.Dollar, "-$5.00"},
		{-1_500, "-$0.0015"},
		{9_007_199_254_740_993, "$9,007,199,254.740993"}, // beyond float64's exact integers
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := web.USD(tc.in); got != tc.want {
				t.Errorf("USD(%d) = %q, want %q", int64(tc.in), got, tc.want)
			}
		})
	}
}
