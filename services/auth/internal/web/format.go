package web

import (
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/onekey-oss/onekey/api/money"
)

func funcs() template.FuncMap {
	return template.FuncMap{
		"usd":      USD,
		"usdInput": usdInput,
		"num":      Num,
		"date":     func(t time.Time) string { return t.UTC().Format("2 Jan 2006") },
		"datetime": func(t time.Time) string { return t.UTC().Format("2 Jan 2006 15:04 UTC") },
		"dateISO":  func(t time.Time) string { return t.UTC().Format(time.DateOnly) },
		"int64":    func(n int) int64 { return int64(n) },
		"limitsOf": limitsOf,
		"kindLabel": func(k string) string {
			if l, ok := kindLabels[k]; ok {
				return l
			}
			return k
		},
		"methodLabel": func(m string) string {
			if l, ok := methodLabels[m]; ok {
				return l
			}
			return m
		},
		"groups": func(title, name string, mono bool, rows []Group) groupTable {
			return groupTable{Title: title, Name: name, Mono: mono, Rows: rows}
		},
	}
}

// USD formats micro-USD exactly, from the integer: at least two decimals,
// more only when the amount has them ("$5.00", "$0.003412",
// "-$1,234.50"). No floating point is involved.
func USD(m money.Micros) string {
	v := int64(m)
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	frac := strconv.FormatInt(v%1_000_000+1_000_000, 10)[1:] // six digits
	frac = strings.TrimRight(frac, "0")
	for len(frac) < 2 {
		frac += "0"
	}
	return sign + "$" + Num(v/1_000_000) + "." + frac
}

// usdInput is an amount for an <input>: dollars without separators.
func usdInput(m money.Micros) string {
	s := USD(m)
	s = strings.ReplaceAll(strings.TrimPrefix(s, "$"), ",", "")
	return strings.TrimSuffix(s, ".00")
}

// Num formats an integer with thousands separators.
func Num(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// limitsForm fills the key-limits fields of a form.
type limitsForm struct {
	ID, Cap, Exp, Min string
	RPM               int
}

func limitsOf(id string, rpm int, capMicros money.Micros, exp *time.Time, today string) limitsForm {
	f := limitsForm{ID: id, RPM: rpm, Min: today}
	if capMicros > 0 {
		f.Cap = usdInput(capMicros)
	}
	if exp != nil {
		f.Exp = exp.UTC().Format(time.DateOnly)
	}
	return f
}

// groupTable is one breakdown table of the usage page.
type groupTable struct {
	Title, Name string
	Mono        bool
	Rows        []Group
}

var kindLabels = map[string]string{
	"purchase": "Credit purchase", "refund": "Refund", "dispute": "Dispute (chargeback)",
	"dispute_won": "Dispute won", "adjustment": "Adjustment",
}

var methodLabels = map[string]string{"card": "Card", "crypto": "On-chain transfer", "adjustment": "Operator"}
