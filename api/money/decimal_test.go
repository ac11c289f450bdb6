package money_test

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/onekey-oss/onekey/api/money"
)

func TestMicros_DecimalIsExactDollarsWithoutTrailingZeros(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		m    money.Micros
		want string
	}{
		{0, "0"},
		{1, "0.000001"},
		{123, "0.000123"},
		{50_000, "0.05"},
		{1_500_000, "1.5"},
		{2_000_000, "2"},
		{-2_000_000, "-2"},
		{-1, "-0.000001"},
		{math.MaxInt64, "9223372036854.775807"},
		{math.MinInt64, "-9223372036854.775808"},
	} {
		t.Run(c.want, func(t *testing.T) {
			t.Parallel()
			got := c.m.Decimal()
			if got != c.want {
				t.Fatalf("Decimal(%d) = %q, want %q", int64(c.m), got, c.want)
			}
			if !json.Valid([]byte(got)) {
				t.Fatalf("%q is not a JSON number", got)
			}
			if c.m > math.MinInt64/2 && c.m < math.MaxInt64/2 {
				back, err := money.Parse(got)
				if err != nil || back != c.m {
					t.Fatalf("Parse(%q) = %d, %v; want %d", got, back, err, c.m)
				}
			}
		})
	}
}
