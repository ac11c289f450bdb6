package web

import (
	"fmt"
	"html"
	"html/template"
	"strings"
)

// barChart draws one value per day as an inline SVG bar chart: server-side,
// no script, styled by the stylesheet (classes, no inline style). Each bar
// carries a <title> (the browser's tooltip); the page's table is the
// accessible form of the same numbers.
func barChart(label string, days []Group, value func(Group) int64, format func(Group) string, class string) template.HTML {
	const w, h, top, bottom, left = 720, 170, 10, 22, 4
	n := len(days)
	if n == 0 {
		return ""
	}
	var peak int64
	for _, d := range days {
		peak = max(peak, value(d))
	}
	slot := float64(w-left) / float64(n)
	bw := slot * 0.72
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="%s" preserveAspectRatio="none">`, w, h, html.EscapeString(label))
	fmt.Fprintf(&b, `<line class="ax" x1="0" y1="%d" x2="%d" y2="%d"/>`, h-bottom, w, h-bottom)
	for i, d := range days {
		v := value(d)
		bh := 0.0
		if peak > 0 {
			bh = float64(v) / float64(peak) * float64(h-top-bottom)
		}
		if v > 0 && bh < 1.5 {
			bh = 1.5
		}
		x := float64(left) + float64(i)*slot + (slot-bw)/2
		fmt.Fprintf(&b, `<rect class="%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f" rx="1.5"><title>%s: %s</title></rect>`,
			class, x, float64(h-bottom)-bh, bw, bh, html.EscapeString(d.Label), html.EscapeString(format(d)))
		if n <= 31 && (i == 0 || i == n-1 || (n > 7 && i%7 == 0)) || n > 31 && (i == 0 || i == n-1 || i%14 == 0) {
			anchor := "middle"
			if i == 0 {
				anchor = "start"
			} else if i == n-1 {
				anchor = "end"
			}
			lx := x + bw/2
			if i == 0 {
				lx = x
			} else if i == n-1 {
				lx = x + bw
			}
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="%s">%s</text>`, lx, h-6, anchor, html.EscapeString(d.Key[5:]))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // built from numbers and escaped labels only
}
