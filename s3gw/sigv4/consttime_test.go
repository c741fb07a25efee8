package sigv4_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// TestSignatureComparisonsConstantTime pins that signatures are compared
// with hmac.Equal only: a byte-by-byte comparison that stops at the first
// difference tells a client, through its timing, how much of a forged
// signature is right. It reads the package's source: no == or != and no
// bytes.Equal, strings.Compare, strings.EqualFold or bytes.Compare may
// take an operand named as the package names signatures, and the
// two places that compare (matchSignature, macMatches) call hmac.Equal.
func TestSignatureComparisonsConstantTime(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	// Names that hold a signature (claimed or computed) in this package;
	// body digests (got, want, sum) are public and may be compared plainly.
	sigNames := map[string]bool{"claimed": true, "signature": true, "sig": true, "seed": true, "prevsig": true, "gothex": true}
	secretish := func(e ast.Expr) bool {
		found := false
		ast.Inspect(e, func(n ast.Node) bool {
			if id, ok := n.(*ast.Ident); ok && sigNames[strings.ToLower(id.Name)] {
				found = true
			}
			return true
		})
		return found
	}
	calls := map[string]int{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.FuncDecl:
				ast.Inspect(x, func(m ast.Node) bool {
					if sel, ok := m.(*ast.SelectorExpr); ok {
						if id, ok := sel.X.(*ast.Ident); ok && id.Name == "hmac" && sel.Sel.Name == "Equal" {
							calls[x.Name.Name]++
						}
					}
					return true
				})
			case *ast.BinaryExpr:
				if (x.Op == token.EQL || x.Op == token.NEQ) && (secretish(x.X) || secretish(x.Y)) && !isLenOrNil(x) {
					t.Errorf("%s: %s compared with %s", fset.Position(x.Pos()), exprString(x.X), x.Op)
				}
			case *ast.CallExpr:
				sel, ok := x.Fun.(*ast.SelectorExpr)
				if !ok {
					break
				}
				pkg, _ := sel.X.(*ast.Ident)
				if pkg == nil || !(pkg.Name == "bytes" || pkg.Name == "strings") {
					break
				}
				switch sel.Sel.Name {
				case "Equal", "Compare", "EqualFold":
					for _, a := range x.Args {
						if secretish(a) {
							t.Errorf("%s: %s.%s on %s", fset.Position(x.Pos()), pkg.Name, sel.Sel.Name, exprString(a))
						}
					}
				}
			}
			return true
		})
	}
	for _, fn := range []string{"matchSignature", "macMatches"} {
		if calls[fn] == 0 {
			t.Errorf("%s does not call hmac.Equal", fn)
		}
	}
}

// isLenOrNil excuses comparisons of lengths and with nil or "".
func isLenOrNil(b *ast.BinaryExpr) bool {
	for _, e := range []ast.Expr{b.X, b.Y} {
		switch v := e.(type) {
		case *ast.CallExpr:
			if id, ok := v.Fun.(*ast.Ident); ok && id.Name == "len" {
				return true
			}
		case *ast.Ident:
			if v.Name == "nil" {
				return true
			}
		case *ast.BasicLit:
			return true
		}
	}
	return false
}

func exprString(e ast.Expr) string {
	switch v := e.(type) {
	case *ast.Ident:
		return v.Name
	case *ast.SelectorExpr:
		return exprString(v.X) + "." + v.Sel.Name
	}
	return "expression"
}
