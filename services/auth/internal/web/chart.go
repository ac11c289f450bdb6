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
	const w, h, top, bottom, left = 720, 150, 6, 2, 0
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
	}
	b.WriteString(`</svg>`)
	// Axis labels are HTML, not SVG text: the chart scales with its width
	// and SVG text would shrink to nothing on a phone.
	mid := days[n/2]
	fmt.Fprintf(&b, `<div class="axis" aria-hidden="true"><span>%s</span><span>%s</span><span>%s</span></div>`,
		html.EscapeString(days[0].Label), html.EscapeString(mid.Label), html.EscapeString(days[n-1].Label))
	return template.HTML(b.String()) //nolint:gosec // built from numbers and escaped labels only
}
