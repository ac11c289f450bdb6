package main

import (
	"strings"
	"testing"
)

func TestScaled_ConvertsDecimalTextExactlyWithoutFloatingPoint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		text  string
		shift int
		want  int64
	}{
		{"3e-06", 12, 3_000_000},      // $3 per million tokens
		{"3E-6", 12, 3_000_000},       // upper-case exponent
		{"3.0e-06", 12, 3_000_000},    // fraction and exponent
		{"1.25e-06", 12, 1_250_000},   // $1.25
		{"1.75e-06", 12, 1_750_000},   // $1.75
		{"5e-09", 12, 5_000},          // $0.005: gpt-5-nano cached input
		{"2.5e-09", 12, 2_500},        // $0.0025
		{"3.125e-06", 12, 3_125_000},  // $3.125
		{"3.75e-08", 12, 37_500},      // $0.0375
		{"0.00001", 12, 10_000_000},   // plain decimal, $10
		{"0.000168", 12, 168_000_000}, // $168
		{"0.00015", 12, 150_000_000},  // $150
		{"1.2e-05", 12, 12_000_000},   // $12
		{"2e+00", 6, 2_000_000},       // explicit positive exponent
		{"0.0", 12, 0},                // a zero price
		{"0", 12, 0},                  //
		{"0.01", 6, 10_000},           // $0.01 per search, in micro-USD
		{"0.025", 6, 25_000},          // $0.025 per source
		{"2000000.0", 0, 2_000_000},   // an integer written as a float
		{"200", 3, 200_000},           // 200k tokens
		{"1e-12", 12, 1},              // the smallest exact value
		{"9.223372036854775807e6", 12, 9_223_372_036_854_775_807},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			t.Parallel()
			got, err := scaled(tt.text, tt.shift)
			if err != nil || got != tt.want {
				t.Errorf("scaled(%q, %d) = %d, %v; want %d", tt.text, tt.shift, got, err, tt.want)
			}
		})
	}
}

func TestScaled_RefusesWhatIsNotAWholeNumberOfMicroUSDRatherThanRounding(t *testing.T) {
	t.Parallel()
	tests := []struct {
		text  string
		shift int
		why   string
	}{
		{"1e-13", 12, "not a whole number"},
		{"1.2345678e-06", 12, "not a whole number"}, // $1.2345678 per million
		{"0.1234567", 6, "not a whole number"},
		{"2000000.5", 0, "not a whole number"},
		{"-3e-06", 12, "negative"},
		{"1e7", 12, "does not fit"},
		{"", 12, "not a decimal"},
		{"1.", 12, "not a decimal"},
		{".5", 12, "not a decimal"},
		{"1e", 12, "bad exponent"},
		{"1e99999", 12, "bad exponent"},
		{"0x10", 12, "not a decimal"},
		{"NaN", 12, "not a decimal"},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			t.Parallel()
			got, err := scaled(tt.text, tt.shift)
			if err == nil || !strings.Contains(err.Error(), tt.why) {
				t.Errorf("scaled(%q, %d) = %d, %v; want an error saying %q", tt.text, tt.shift, got, err, tt.why)
			}
		})
	}
}
