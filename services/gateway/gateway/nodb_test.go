package gateway_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The gateway holds no database connection (DESIGN §1): no non-test file
// of the module imports the store or a MongoDB driver.
func TestModule_ImportsNoDatabase(t *testing.T) {
	t.Parallel()
	fset := token.NewFileSet()
	files := 0
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		files++
		for _, imp := range f.Imports {
			p := strings.Trim(imp.Path.Value, `"`)
			if strings.Contains(p, "/pkg/store") || strings.Contains(p, "mongo") || strings.Contains(p, "FerretDB") || strings.Contains(p, "database/sql") {
				t.Errorf("%s imports %s", path, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 10 {
		t.Fatalf("checked only %d files", files)
	}
}

// TestModule_LinksNoDatabaseDriver checks the gateway command's whole
// dependency graph, not only its own imports: no package of ours or of a
// library may pull a database driver into the binary. (database/sql itself
// is linked by Prometheus's collectors package and opens nothing.)
func TestModule_LinksNoDatabaseDriver(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "github.com/onekey-oss/onekey/services/gateway").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 {
		t.Fatalf("go list gave only %d packages", len(deps))
	}
	for _, p := range deps {
		if strings.Contains(p, "/pkg/store") || strings.Contains(p, "mongo-driver") || strings.Contains(p, "FerretDB") {
			t.Errorf("the gateway binary links %s", p)
		}
	}
}
