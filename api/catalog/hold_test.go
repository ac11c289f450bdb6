package catalog_test

import (
	"testing"

	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/api/money"
)

func TestWorstCase_ChoicesMultiplyTheOutputAndTheLongContextTierIsHeld(t *testing.T) {
	m := catalog.Model{MaxOutputTokens: 1000, Pricing: catalog.Pricing{
		Input: 1_000_000, Output: 2_000_000,
		LongContext: catalog.LongContextPricing{AboveTokens: 100, Input: 3_000_000, Output: 5_000_000},
	}}
	for _, tc := range []struct {
		name string
		b    catalog.Bound
		want money.Micros
	}{
		{"one choice", catalog.Bound{InputTokens: 100, OutputTokens: 10}, 100 + 20},
		{"three choices", catalog.Bound{InputTokens: 100, OutputTokens: 10, Choices: 3}, 100 + 60},
		{"no limit is the model's maximum", catalog.Bound{InputTokens: 0}, 2000},
		{"a limit above the maximum is the maximum", catalog.Bound{OutputTokens: 5000}, 2000},
		{"above the threshold: the tier", catalog.Bound{InputTokens: 101, OutputTokens: 10}, 303 + 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := m.WorstCase(tc.b, 0); got != tc.want {
				t.Errorf("WorstCase(%+v) = %d, want %d", tc.b, got, tc.want)
			}
		})
	}
}

func TestOutputLimitWithin_IsTheLargestLimitWhoseWorstCaseFits(t *testing.T) {
	m := catalog.Model{MaxOutputTokens: 100_000, Pricing: catalog.Pricing{Input: 1_000_000, Output: 3_000_000}}
	for _, budget := range []money.Micros{0, 100, 102, 103, 5_000, 10_000_000} {
		b := catalog.Bound{InputTokens: 100, Choices: 2}
		n := m.OutputLimitWithin(budget, b, 150)
		b.OutputTokens = n
		if n > 0 && m.WorstCase(b, 150) > budget {
			t.Errorf("budget %d: limit %d costs %d", budget, n, m.WorstCase(b, 150))
		}
		b.OutputTokens = n + 1
		if n < 100_000 && m.WorstCase(b, 150) <= budget {
			t.Errorf("budget %d: limit %d is not the largest", budget, n)
		}
	}
}
