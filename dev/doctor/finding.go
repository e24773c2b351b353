package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Severity says what a finding costs: an error breaks sign-in or the
// exchange for someone, a warning may, an info explains an Office behaviour.
type Severity string

const (
	Error   Severity = "error"
	Warning Severity = "warning"
	Info    Severity = "info"
)

// Finding is one misconfiguration: what is wrong, what the developer will see
// (the 13xxx or AADSTS code and when: getAccessToken, the exchange, Graph, the
// API's own answer) and how to fix it.
type Finding struct {
	ID       string   `json:"id"`
	Severity Severity `json:"severity"`
	What     string   `json:"what"`
	Symptom  string   `json:"symptom"`
	Fix      string   `json:"fix"`
}

// report collects findings in the order the checks ran.
type report struct {
	Checked  []string  `json:"checked"` // what was read, one line each
	Findings []Finding `json:"findings"`
}

func (r *report) add(f Finding) { r.Findings = append(r.Findings, f) }

func (r *report) count(s Severity) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == s {
			n++
		}
	}
	return n
}

func (r *report) writeJSON(w io.Writer) error {
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
	return writeIndented(w, r)
}

func writeIndented(w io.Writer, v any) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(v)
}

func (r *report) writeText(w io.Writer) {
	for _, c := range r.Checked {
		fmt.Fprintln(w, "checked", c)
	}
	for _, f := range r.Findings {
		fmt.Fprintf(w, "\n%-7s %s\n", strings.ToUpper(string(f.Severity)), f.ID)
		fmt.Fprintf(w, "  what:    %s\n  symptom: %s\n  fix:     %s\n", f.What, f.Symptom, f.Fix)
	}
	if len(r.Findings) == 0 {
		fmt.Fprintln(w, "\nno findings")
		return
	}
	fmt.Fprintf(w, "\n%d error(s), %d warning(s), %d info\n", r.count(Error), r.count(Warning), r.count(Info))
}
