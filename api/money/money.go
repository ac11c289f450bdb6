// Package money is the one place where amounts of money are represented,
// computed and formatted. An amount is an integer number of micro-USD
// (1 USD = 1,000,000 micros); there is no floating point anywhere.
package money

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Micros is an amount in micro-USD. It is signed: debits and reversals are
// negative amounts in the journal, and a balance may dip below zero by a
// bounded amount under concurrency (see DESIGN.md §4).
type Micros int64

// Common amounts.
const (
	Micro  Micros = 1
	Cent   Micros = 10_000
	Dollar Micros = 1_000_000
)

// USD returns whole dollars as Micros.
func USD(dollars int64) Micros { return Micros(dollars) * Dollar }

// Int64 returns the raw number of micros.
func (m Micros) Int64() int64 { return int64(m) }

// String formats the amount as dollars with six decimals, e.g. "$5.000000"
// or "-$0.000123".
func (m Micros) String() string {
	sign := ""
	v := int64(m)
	if v < 0 {
		sign = "-"
		v = -v
	}
	return fmt.Sprintf("%s$%d.%06d", sign, v/1_000_000, v%1_000_000)
}

// Display formats the amount for people, rounded towards zero to cents:
// "$5.00".
func (m Micros) Display() string {
	sign := ""
	v := int64(m)
	if v < 0 {
		sign = "-"
		v = -v
	}
	return fmt.Sprintf("%s$%d.%02d", sign, v/1_000_000, (v%1_000_000)/10_000)
}

// ErrParse is returned by Parse for text that is not an amount.
var ErrParse = errors.New("not a dollar amount")

// Parse reads a decimal dollar amount such as "5", "5.00", "$0.000125" or
// "-1.5" into Micros. More than six decimals is an error, never a rounding.
func Parse(s string) (Micros, error) {
	orig := s
	s = strings.TrimSpace(s)
	neg := false
	if strings.HasPrefix(s, "-") {
		neg = true
		s = s[1:]
	}
	s = strings.TrimPrefix(s, "$")
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" && frac == "" {
		return 0, fmt.Errorf("%q: %w", orig, ErrParse)
	}
	if len(frac) > 6 {
		return 0, fmt.Errorf("%q: more than 6 decimals: %w", orig, ErrParse)
	}
	var w int64
	if whole != "" {
		var err error
		w, err = strconv.ParseInt(whole, 10, 64)
		if err != nil || w < 0 {
			return 0, fmt.Errorf("%q: %w", orig, ErrParse)
		}
	}
	var f int64
	if frac != "" {
		var err error
		f, err = strconv.ParseInt(frac+strings.Repeat("0", 6-len(frac)), 10, 64)
		if err != nil || f < 0 {
			return 0, fmt.Errorf("%q: %w", orig, ErrParse)
		}
	}
	if w > (1<<63-1)/1_000_000-1 {
		return 0, fmt.Errorf("%q: too large: %w", orig, ErrParse)
	}
	v := w*1_000_000 + f
	if neg {
		v = -v
	}
	return Micros(v), nil
}

// FromTokenUnits converts an integer token-amount (for example an ERC-20
// value with the given number of decimals) into Micros, refusing amounts
// that are not a whole number of micros rather than rounding them.
func FromTokenUnits(units string, decimals int) (Micros, error) {
	return tokenUnits(units, decimals, false)
}

// FloorTokenUnits converts an integer token-amount with the given number
// of decimals into Micros, rounding down to a whole micro-USD: the dust
// beyond the sixth decimal of an 18-decimal stablecoin is dropped, never a
// reason to refuse the amount. An amount below one micro is 0. It fails
// only on a malformed or too large amount. Integer arithmetic only.
func FloorTokenUnits(units string, decimals int) (Micros, error) {
	return tokenUnits(units, decimals, true)
}

func tokenUnits(units string, decimals int, floor bool) (Micros, error) {
	if decimals < 0 || decimals > 36 {
		return 0, fmt.Errorf("token decimals %d out of range", decimals)
	}
	if units == "" || strings.TrimLeft(units, "0123456789") != "" {
		return 0, fmt.Errorf("token amount %q: %w", units, ErrParse)
	}
	units = strings.TrimLeft(units, "0")
	if units == "" {
		return 0, nil
	}
	if decimals >= 6 {
		drop := decimals - 6
		if len(units) <= drop {
			if floor {
				return 0, nil
			}
			return 0, fmt.Errorf("token amount %s with %d decimals is below one micro-USD", units, decimals)
		}
		if !floor && strings.TrimLeft(units[len(units)-drop:], "0") != "" {
			return 0, fmt.Errorf("token amount %s with %d decimals is not a whole number of micro-USD", units, decimals)
		}
		units = units[:len(units)-drop]
	} else {
		units += strings.Repeat("0", 6-decimals)
	}
	v, err := strconv.ParseInt(units, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("token amount %s: too large: %w", units, ErrParse)
	}
	return Micros(v), nil
}

// PerMillion is a price in micro-USD per one million units (tokens).
type PerMillion int64

// CostOf returns the exact cost of n units at each price, summed and then
// rounded up once to a whole micro-USD: ceil(sum(n_i * p_i) / 1e6). Summing
// before rounding means splitting a request's tokens into parts never
// changes its price.
func CostOf(parts ...TokenPrice) Micros {
	var sum int64
	for _, p := range parts {
		sum += p.Tokens * int64(p.Price)
	}
	if sum <= 0 {
		return 0
	}
	return Micros((sum + 999_999) / 1_000_000)
}

// TokenPrice is a count of tokens at one price.
type TokenPrice struct {
	Tokens int64
	Price  PerMillion
}

// ApplyMarkup adds a markup given in basis points (1/100 of a percent),
// rounding up. A zero markup returns m unchanged.
func ApplyMarkup(m Micros, basisPoints int64) Micros {
	if basisPoints == 0 || m <= 0 {
		return m
	}
	return Micros((int64(m)*(10_000+basisPoints) + 9_999) / 10_000)
}
