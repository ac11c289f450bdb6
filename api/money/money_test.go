package money_test

import (
	"testing"

	"github.com/onekey-oss/onekey/api/money"
)

func TestMoney_CostRoundsUpOnceAfterSumming(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		parts []money.TokenPrice
		want  money.Micros
	}{
		{"zero", nil, 0},
		{"one token at $1.25/M is 1.25 micros, rounded up to 2", []money.TokenPrice{{1, 1_250_000}}, 2},
		{"exact", []money.TokenPrice{{1_000_000, 2_000_000}}, 2_000_000},
		{"sum before rounding", []money.TokenPrice{{1, 400_000}, {1, 400_000}, {1, 200_000}}, 1},
		{"input plus output", []money.TokenPrice{{1000, 1_250_000}, {500, 10_000_000}}, 6250},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := money.CostOf(c.parts...); got != c.want {
				t.Errorf("CostOf = %d, want %d", got, c.want)
			}
		})
	}
}

func TestMoney_ParseAndFormatAreExact(t *testing.T) {
	t.Parallel()
	ok := map[string]money.Micros{"5": 5_000_000, "$5.00": 5_000_000, "0.000001": 1, "-1.5": -1_500_000, ".25": 250_000}
	for in, want := range ok {
		got, err := money.Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "abc", "1.0000001", "1e3", "--1", "$"} {
		if _, err := money.Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
	if s := money.Micros(-1_234_567).String(); s != "-$1.234567" {
		t.Errorf("String = %s", s)
	}
	if s := money.USD(5).Display(); s != "$5.00" {
		t.Errorf("Display = %s", s)
	}
	if got := money.ApplyMarkup(100, 550); got != 106 {
		t.Errorf("ApplyMarkup(100, 5.5%%) = %d, want 106 (105.5 rounded up)", got)
	}
}

func TestMoney_TokenUnitsHonourDecimals(t *testing.T) {
	t.Parallel()
	cases := []struct {
		units    string
		decimals int
		want     money.Micros
		wantErr  bool
	}{
		{"1000000", 6, money.Dollar, false},              // 1 USDC
		{"1000000000000000000", 18, money.Dollar, false}, // 1 token with 18 decimals
		{"1000000", 18, 0, true},                         // not a whole micro
		{"25", 2, 250_000, false},
		{"12x", 6, 0, true},
	}
	for _, c := range cases {
		got, err := money.FromTokenUnits(c.units, c.decimals)
		if (err != nil) != c.wantErr || got != c.want {
			t.Errorf("FromTokenUnits(%s, %d) = %d, %v", c.units, c.decimals, got, err)
		}
	}
}

func TestMoney_FloorTokenUnitsDropsDustBelowAMicro(t *testing.T) {
	cases := []struct {
		units    string
		decimals int
		want     money.Micros
	}{
		{"1000000500000000000", 18, 1_000_000}, // 1.0000005 of an 18-decimal token
		{"1000000999999999999", 18, 1_000_000},
		{"999999999999", 18, 0}, // below one micro
		{"2500000", 6, 2_500_000},
		{"25", 1, 2_500_000},
		{"0", 18, 0},
	}
	for _, c := range cases {
		got, err := money.FloorTokenUnits(c.units, c.decimals)
		if err != nil || got != c.want {
			t.Errorf("FloorTokenUnits(%s, %d) = %d, %v; want %d", c.units, c.decimals, got, err, c.want)
		}
	}
	if _, err := money.FloorTokenUnits("99999999999999999999999999999999", 6); err == nil {
		t.Error("an amount beyond int64 micros was accepted")
	}
}
