package main

import (
	"fmt"
	"math/big"
	"strings"
)

// scaled returns the decimal number text (JSON number syntax: an optional
// minus, digits, an optional fraction, an optional exponent) times 10^shift,
// exactly, as an int64. It fails rather than round: a value that is not a
// whole number after the shift, is negative or does not fit in int64 is an
// error. No floating point is involved at any step.
func scaled(text string, shift int) (int64, error) {
	mant, exp, err := parseDecimal(text)
	if err != nil {
		return 0, err
	}
	if mant.Sign() < 0 {
		return 0, fmt.Errorf("%s is negative", text)
	}
	exp += shift
	ten := big.NewInt(10)
	if exp >= 0 {
		mant.Mul(mant, new(big.Int).Exp(ten, big.NewInt(int64(exp)), nil))
	} else {
		div := new(big.Int).Exp(ten, big.NewInt(int64(-exp)), nil)
		q, r := new(big.Int).QuoRem(mant, div, new(big.Int))
		if r.Sign() != 0 {
			return 0, fmt.Errorf("%s × 10^%d is not a whole number", text, shift)
		}
		mant = q
	}
	if !mant.IsInt64() {
		return 0, fmt.Errorf("%s × 10^%d does not fit in int64", text, shift)
	}
	return mant.Int64(), nil
}

// parseDecimal splits a JSON number into an integer mantissa and a power of
// ten: text = mant × 10^exp.
func parseDecimal(text string) (*big.Int, int, error) {
	s := text
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	exp := 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := parseExponent(s[i+1:])
		if err != nil {
			return nil, 0, fmt.Errorf("number %q: %w", text, err)
		}
		exp, s = e, s[:i]
	}
	intPart, frac, _ := strings.Cut(s, ".")
	if intPart == "" || !allDigits(intPart) || !allDigits(frac) || (strings.Contains(s, ".") && frac == "") {
		return nil, 0, fmt.Errorf("%q is not a decimal number", text)
	}
	mant, ok := new(big.Int).SetString(intPart+frac, 10)
	if !ok {
		return nil, 0, fmt.Errorf("%q is not a decimal number", text)
	}
	if neg {
		mant.Neg(mant)
	}
	return mant, exp - len(frac), nil
}

func parseExponent(s string) (int, error) {
	sign := 1
	switch {
	case strings.HasPrefix(s, "-"):
		sign, s = -1, s[1:]
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	}
	if s == "" || !allDigits(s) || len(s) > 4 {
		return 0, fmt.Errorf("bad exponent %q", s)
	}
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return sign * n, nil
}

func allDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
