package problem

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// TestDetailWording: every detail the shipped code writes is one style, a
// sentence for the developer reading it: a capital first, a full stop last.
// It reads the format of every problem.New call, and of every call to a
// helper that passes its own format on to problem.New, in handler/ and
// functions/.
func TestDetailWording(t *testing.T) {
	checked := 0
	for _, root := range []string{"..", "../../functions"} {
		pkgs := map[string][]*ast.File{}
		fset := token.NewFileSet()
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			pkgs[filepath.Dir(path)] = append(pkgs[filepath.Dir(path)], f)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for dir, files := range pkgs {
			for _, d := range details(files) {
				checked++
				if bad := wording(d.text); bad != "" {
					t.Errorf("%s: %s: %q", fset.Position(d.pos), bad, d.text)
				}
			}
			_ = dir
		}
	}
	if checked < 40 {
		t.Errorf("only %d details found; the scan is missing calls", checked)
	}
	for _, s := range []string{"lower case start.", "No full stop", "%s starts with a verb."} {
		if wording(s) == "" {
			t.Errorf("%q passed the wording check", s)
		}
	}
}

func wording(s string) string {
	r := []rune(s)
	switch {
	case len(r) == 0 || !unicode.IsUpper(r[0]):
		return "a detail starts with a capital letter"
	case !strings.HasSuffix(s, "."):
		return "a detail ends with a full stop"
	}
	return ""
}

type detail struct {
	pos  token.Pos
	text string
}

// details finds the detail formats of a package's files.
func details(files []*ast.File) []detail {
	consts := map[string]string{}
	wrappers := map[string]int{} // helper name -> index of its format argument
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.ValueSpec:
				for i, name := range n.Names {
					if i < len(n.Values) {
						if s, ok := stringLit(n.Values[i], nil); ok {
							consts[name.Name] = s
						}
					}
				}
			case *ast.FuncDecl:
				if i := formatParam(n); i >= 0 && callsNewWith(n.Body, "format") {
					wrappers[n.Name.Name] = i
				}
			}
			return true
		})
	}
	var out []detail
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			arg := -1
			if isProblemNew(call) {
				arg = 1
			} else if id, ok := call.Fun.(*ast.Ident); ok {
				if i, ok := wrappers[id.Name]; ok {
					arg = i
				}
			}
			if arg >= 0 && arg < len(call.Args) {
				if s, ok := stringLit(call.Args[arg], consts); ok {
					out = append(out, detail{call.Args[arg].Pos(), s})
				}
			}
			return true
		})
	}
	return out
}

func isProblemNew(call *ast.CallExpr) bool {
	switch fn := call.Fun.(type) {
	case *ast.SelectorExpr:
		x, ok := fn.X.(*ast.Ident)
		return ok && x.Name == "problem" && fn.Sel.Name == "New"
	case *ast.Ident:
		return fn.Name == "New" && len(call.Args) >= 2 // New(code, format) inside package problem
	}
	return false
}

func formatParam(fn *ast.FuncDecl) int {
	i := 0
	for _, field := range fn.Type.Params.List {
		for _, name := range field.Names {
			if name.Name == "format" {
				return i
			}
			i++
		}
	}
	return -1
}

func callsNewWith(body *ast.BlockStmt, param string) bool {
	found := false
	if body == nil {
		return false
	}
	ast.Inspect(body, func(n ast.Node) bool {
		if call, ok := n.(*ast.CallExpr); ok && isProblemNew(call) && len(call.Args) > 1 {
			if id, ok := call.Args[1].(*ast.Ident); ok && id.Name == param {
				found = true
			}
		}
		return !found
	})
	return found
}

// stringLit is e's value when e is a string literal, a concatenation of them,
// or a constant of the package.
func stringLit(e ast.Expr, consts map[string]string) (string, bool) {
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind != token.STRING {
			return "", false
		}
		s, err := strconv.Unquote(e.Value)
		return s, err == nil
	case *ast.BinaryExpr:
		a, ok1 := stringLit(e.X, consts)
		b, ok2 := stringLit(e.Y, consts)
		return a + b, ok1 && ok2 && e.Op == token.ADD
	case *ast.Ident:
		s, ok := consts[e.Name]
		return s, ok
	}
	return "", false
}
