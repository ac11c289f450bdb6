package money

import (
	"strconv"
	"strings"
)

// Decimal formats the amount as a plain decimal number of dollars, exactly
// and without trailing zeros: "0.000123", "1.5", "0", "-2". It is valid
// JSON number text (json.Number), for wire formats that give a cost in
// dollars, as OpenRouter's "cost" does.
func (m Micros) Decimal() string {
	v := int64(m)
	sign := ""
	u := uint64(v)
	if v < 0 {
		sign, u = "-", uint64(-(v+1))+1 // -MinInt64 overflows int64, not uint64
	}
	whole := strconv.FormatUint(u/1_000_000, 10)
	frac := strings.TrimRight(strconv.FormatUint(1_000_000+u%1_000_000, 10)[1:], "0")
	if frac == "" {
		return sign + whole
	}
	return sign + whole + "." + frac
}
