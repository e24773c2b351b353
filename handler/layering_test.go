package main

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/addinsso/addinsso/"

// layeringRules are the import rules the architecture rests on; each returns
// a violation for a package and one of its dependencies (direct or not), or "".
var layeringRules = []func(pkg, dep string) string{
	func(pkg, dep string) string {
		if pkg != module+"handler" && strings.HasPrefix(pkg, module+"handler/") && strings.HasPrefix(dep, module+"functions/") {
			return "a handler library depends on a Function"
		}
		return ""
	},
	func(pkg, dep string) string {
		if strings.HasPrefix(pkg, module+"functions/") && strings.HasPrefix(dep, module+"functions/") {
			return "a Function depends on another Function"
		}
		return ""
	},
	func(pkg, dep string) string {
		if pkg == module+"handler/web" && dep == module+"handler/token" {
			return "the request plumbing depends on the verifier"
		}
		return ""
	},
	func(pkg, dep string) string {
		shipped := pkg == module+"handler" || strings.HasPrefix(pkg, module+"handler/") || strings.HasPrefix(pkg, module+"functions/")
		if shipped && strings.HasPrefix(dep, module+"dev/") {
			return "shipped code depends on dev/"
		}
		return ""
	},
	func(pkg, dep string) string {
		if pkg == module+"handler/entra" && strings.HasPrefix(dep, module) {
			return "the leaf package handler/entra depends on the module"
		}
		return ""
	},
}

func violations(deps map[string][]string) []string {
	var out []string
	for pkg, ds := range deps {
		for _, dep := range ds {
			for _, rule := range layeringRules {
				if v := rule(pkg, dep); v != "" {
					out = append(out, v+": "+pkg+" -> "+dep)
				}
			}
		}
	}
	return out
}

// TestLayering checks the import rules on what the shipped and development
// packages really depend on (go list's Deps: direct and indirect, tests not
// included), and that the rules catch a violation.
func TestLayering(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, "../...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		deps[f[0]] = f[1:]
	}
	if len(deps[module+"handler"]) == 0 || len(deps[module+"functions/graph-proxy"]) == 0 {
		t.Fatalf("go list did not describe the module: %.300s", out)
	}
	for _, v := range violations(deps) {
		t.Error(v)
	}

	broken := map[string][]string{
		module + "handler/token":         {module + "functions/validate"},
		module + "functions/exchange":    {module + "functions/validate"},
		module + "handler/web":           {module + "handler/token"},
		module + "handler/obo":           {module + "dev/entra"},
		module + "handler/entra":         {module + "handler/problem"},
		module + "dev/sandbox":           {module + "functions/validate", module + "dev/entra"},
		module + "handler":               {module + "functions/validate"},
		module + "functions/graph-proxy": {module + "handler/web"},
	}
	if got := len(violations(broken)); got != 5 {
		t.Errorf("the rules found %d violations in a graph with 5", got)
	}
}
