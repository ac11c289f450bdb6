package browser

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
)

// axeSource is axe-core, vendored (see testdata/axe-core/README.md) and
// injected through DevTools: the pages never load it from the network.
//
//go:embed testdata/axe-core/axe.min.js
var axeSource string

// AxeViolation is one rule axe-core found broken on a page.
type AxeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target         []any  `json:"target"`
		HTML           string `json:"html"`
		FailureSummary string `json:"failureSummary"`
	} `json:"nodes"`
}

// Axe runs axe-core's default rules (WCAG 2.x A and AA and best practices)
// on the document shown and returns the violations.
func (p *Page) Axe() []AxeViolation {
	p.t.Helper()
	if !Eval[bool](p, `typeof window.axe === "object"`) {
		Eval[bool](p, axeSource+"\n;true")
	}
	raw := Eval[string](p, `axe.run(document, {resultTypes: ["violations"]}).then(r => JSON.stringify(r.violations))`)
	var vs []AxeViolation
	if err := json.Unmarshal([]byte(raw), &vs); err != nil {
		p.t.Fatalf("browser: axe result: %v", err)
	}
	return vs
}

// axe fails the test on serious and critical violations and logs the
// others.
func (p *Page) axe(name string) {
	p.t.Helper()
	for _, v := range p.Axe() {
		var b strings.Builder
		fmt.Fprintf(&b, "axe on page %q (%s): %s [%s] %s", name, p.URL(), v.Impact, v.ID, v.Help)
		for i, n := range v.Nodes {
			if i == 5 {
				fmt.Fprintf(&b, "\n    ... and %d more", len(v.Nodes)-5)
				break
			}
			fmt.Fprintf(&b, "\n    %v %s\n      %s", n.Target, n.HTML, strings.ReplaceAll(n.FailureSummary, "\n", "\n      "))
		}
		if v.Impact == "serious" || v.Impact == "critical" {
			p.t.Error(b.String())
		} else {
			p.t.Log(b.String())
		}
	}
}
