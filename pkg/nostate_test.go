package pkg_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// allowed lists the package-level variables pkg/ may have, each with why it
// is not mutable state that belongs in a struct.
var allowed = map[string]string{
	"bus.ErrPermanent":  "sentinel error, never reassigned",
	"ids.enc":           "an encoding table, read-only after initialization",
	"store.ferretNewMu": "serializes FerretDB's constructor, which writes FerretDB's own globals",
	"storetest.shared":  "test-only helper: the one FerretDB a test binary shares, set once by storetest.Main",
}

// TestPkg_HasNoPackageLevelMutableState parses every non-test file of pkg/
// and fails on any package-level variable or init function not listed in
// allowed: config, loggers and clients are passed in, never kept globally.
func TestPkg_HasNoPackageLevelMutableState(t *testing.T) {
	fset := token.NewFileSet()
	seen := map[string]bool{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil && d.Name.Name == "init" {
					t.Errorf("%s: func init() in pkg/", fset.Position(d.Pos()))
				}
			case *ast.GenDecl:
				if d.Tok != token.VAR {
					continue
				}
				for _, spec := range d.Specs {
					for _, name := range spec.(*ast.ValueSpec).Names {
						if name.Name == "_" {
							continue
						}
						key := f.Name.Name + "." + name.Name
						seen[key] = true
						if _, ok := allowed[key]; !ok {
							t.Errorf("%s: package-level variable %s: pass it in instead, or justify it in allowed", fset.Position(name.Pos()), key)
						}
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for key := range allowed {
		if !seen[key] {
			t.Errorf("allowed lists %s, which no longer exists: remove it", key)
		}
	}
}
