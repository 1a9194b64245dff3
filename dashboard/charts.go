package dashboard

import (
	"fmt"
	"html/template"
	"strings"
)

// sparkline draws values as a small SVG line (no axes), for a table cell.
func sparkline(values []float64, class string) template.HTML {
	const w, h = 96.0, 24.0
	return template.HTML(fmt.Sprintf(`<svg class="spark %s" width="96" height="24" viewBox="0 0 96 24" aria-hidden="true" focusable="false"><path d="%s"/></svg>`,
		template.HTMLEscapeString(class), linePath(values, w, h, 1)))
}

// series is one line of a chart.
type series struct {
	Name   string
	Class  string
	Values []float64
}

// chart draws series over the same minutes as an SVG line chart with its maximum on the
// axis; label says what the chart shows, for screen readers (the page also has a table).
func chart(label, unit string, all ...series) template.HTML {
	const w, h, pad = 600.0, 160.0, 26.0
	peak := 0.0
	for _, s := range all {
		for _, v := range s.Values {
			peak = max(peak, v)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %g %g" role="img" aria-label="%s">`, w, h+pad, template.HTMLEscapeString(label))
	fmt.Fprintf(&b, `<line class="axis" x1="0" y1="%g" x2="%g" y2="%g"/>`, h, w, h)
	fmt.Fprintf(&b, `<text x="4" y="22">%s</text>`, template.HTMLEscapeString(formatValue(peak, unit)))
	fmt.Fprintf(&b, `<text x="4" y="%g">0</text>`, h+20)
	for _, s := range all {
		fmt.Fprintf(&b, `<path class="%s" d="%s"/>`, template.HTMLEscapeString(s.Class), scaledPath(s.Values, w, h, 4, peak))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func linePath(values []float64, w, h, inset float64) string {
	peak := 0.0
	for _, v := range values {
		peak = max(peak, v)
	}
	return scaledPath(values, w, h, inset, peak)
}

// scaledPath is the SVG path of values spread over w, scaled so peak reaches the top.
func scaledPath(values []float64, w, h, inset, peak float64) string {
	if len(values) == 0 {
		return ""
	}
	if peak <= 0 {
		peak = 1
	}
	step := w
	if len(values) > 1 {
		step = w / float64(len(values)-1)
	}
	var b strings.Builder
	for i, v := range values {
		x := float64(i) * step
		y := h - inset - (v/peak)*(h-2*inset)
		if i == 0 {
			fmt.Fprintf(&b, "M%.1f %.1f", x, y)
		} else {
			fmt.Fprintf(&b, "L%.1f %.1f", x, y)
		}
	}
	return b.String()
}

func formatValue(v float64, unit string) string {
	switch unit {
	case "ms":
		return fmt.Sprintf("%.1f ms", v)
	case "bytes":
		return humanBytes(uint64(v))
	case "%":
		return fmt.Sprintf("%.0f%%", v)
	}
	return fmt.Sprintf("%.0f %s", v, unit)
}
