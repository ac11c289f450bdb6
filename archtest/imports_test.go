// Package archtest checks the repository's shape (DESIGN §2, issue 14):
// api is the contract and imports nothing of ours; pkg is infrastructure and
// imports only api; a service imports only api, pkg and itself, so a test
// that wires several services lives in e2e/; and the gateway, the routing
// engine, links no database driver. The rules hold transitively and for
// tests too: they are checked on the package graph `go list -deps -test`
// gives for the whole workspace, and a failure names the import chain.
package archtest_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// ours is the prefix of every module of the repository.
const ours = "github.com/onekey-oss/onekey"

// databaseDrivers are the import path prefixes of database drivers and
// embedded databases the gateway must never link, directly or through a
// package of ours or of a library.
var databaseDrivers = []string{
	"go.mongodb.org/mongo-driver",
	"github.com/FerretDB/FerretDB",
	"modernc.org/sqlite",
	"github.com/mattn/go-sqlite3",
	"github.com/jackc/pgx",
	"github.com/lib/pq",
	"github.com/go-sql-driver/mysql",
}

// services are the folders under services/ that hold a go.mod.
func services(t *testing.T) []string {
	t.Helper()
	mods, err := filepath.Glob("../services/*/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range mods {
		names = append(names, filepath.Base(filepath.Dir(m)))
	}
	if len(names) < 6 {
		t.Fatalf("found only the services %v under ../services", names)
	}
	return names
}

// pkgInfo is what the rules read of one entry of `go list -json`. A test
// variant of a package ("p [p.test]") and a test binary ("p.test") are
// entries of their own; Imports names the variants a package really uses.
type pkgInfo struct {
	ImportPath string
	Imports    []string
	Error      *struct{ Err string }
}

// graph is the workspace's package graph: every package the listed ones
// depend on, tests included, by import path.
type graph map[string]*pkgInfo

// loadGraph lists api, pkg and every service with their dependencies and
// their tests' dependencies.
func loadGraph(t *testing.T, svcs []string) graph {
	t.Helper()
	patterns := []string{ours + "/api/...", ours + "/pkg/..."}
	for _, s := range svcs {
		patterns = append(patterns, ours+"/services/"+s+"/...")
	}
	cmd := exec.Command("go", append([]string{"list", "-e", "-deps", "-test", "-json=ImportPath,Imports,Error"}, patterns...)...)
	cmd.Dir = ".." // the workspace root, where go.work is
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	g := graph{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkgInfo
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		g[p.ImportPath] = &p
	}
	for _, p := range g {
		if p.Error != nil {
			t.Errorf("go list %s: %s", p.ImportPath, p.Error.Err)
		}
	}
	return g
}

// plain is a package's import path without its test variant's suffix
// ("p [p.test]" → "p"), so that a test's own packages are judged as their
// package is.
func plain(importPath string) string {
	p, _, _ := strings.Cut(importPath, " ")
	return p
}

// under reports whether path is the package or module dir or below it.
func under(path, dir string) bool { return path == dir || strings.HasPrefix(path, dir+"/") }

// area is the part of the repository a package of ours belongs to: "api",
// "pkg", "services/<name>", "e2e", "tools" or "" (the root module).
func area(path string) string {
	rest, ok := strings.CutPrefix(path, ours+"/")
	if !ok {
		return ""
	}
	parts := strings.SplitN(rest, "/", 3)
	if parts[0] == "services" && len(parts) > 1 {
		return "services/" + parts[1]
	}
	return parts[0]
}

func isOurs(path string) bool { return path == ours || strings.HasPrefix(path, ours+"/") }

// violations walks the graph from every package of the root area (tests
// included) breadth first and returns, for each package bad reports, the
// shortest import chain that reaches it. The walk does not go past a bad
// package: the chain names where the rule is first broken. bad returns what
// the package is reported as (a driver's module for all its packages), so
// that one import of a library is one violation, not one per package.
func (g graph) violations(rootArea string, bad func(path string) (string, bool)) []string {
	var roots []string
	for ip := range g {
		if isOurs(plain(ip)) && area(plain(ip)) == rootArea {
			roots = append(roots, ip)
		}
	}
	slices.Sort(roots)
	parent := map[string]string{}
	seen := map[string]bool{}
	queue := append([]string(nil), roots...)
	for _, r := range roots {
		seen[r] = true
	}
	var found []string
	for len(queue) > 0 {
		ip := queue[0]
		queue = queue[1:]
		if what, ok := bad(plain(ip)); ok {
			chain := []string{what}
			for p, ok := parent[ip]; ok; p, ok = parent[p] {
				chain = append(chain, plain(p))
			}
			slices.Reverse(chain)
			if c := strings.Join(chain, "\n\t  → "); !slices.Contains(found, c) {
				found = append(found, c)
			}
			continue
		}
		p := g[ip]
		if p == nil {
			continue
		}
		for _, imp := range p.Imports {
			if !seen[imp] {
				seen[imp] = true
				parent[imp] = ip
				queue = append(queue, imp)
			}
		}
	}
	slices.Sort(found)
	return found
}

// rootCount is how many packages (test variants included) the area has in
// the graph; a rule checked over none would pass for nothing.
func (g graph) rootCount(a string) int {
	n := 0
	for ip := range g {
		if isOurs(plain(ip)) && area(plain(ip)) == a {
			n++
		}
	}
	return n
}

// TestRepository_ImportRules checks, over every package of api, pkg and the
// services and their tests, transitively:
//   - api imports nothing of ours outside api;
//   - pkg imports nothing of ours outside api and pkg (so no service);
//   - a service imports nothing of ours outside api, pkg and itself (no
//     service imports another: tests that wire several live in e2e/);
//   - the gateway reaches no database driver.
func TestRepository_ImportRules(t *testing.T) {
	t.Parallel()
	svcs := services(t)
	g := loadGraph(t, svcs)

	type rule struct {
		name, area, want string
		bad              func(path string) (string, bool)
	}
	outside := func(allowed ...string) func(string) (string, bool) {
		return func(path string) (string, bool) { return path, isOurs(path) && !slices.Contains(allowed, area(path)) }
	}
	rules := []rule{
		{"api imports nothing of ours", "api", "api may import only api", outside("api")},
		{"pkg imports no service", "pkg", "pkg may import only api and pkg", outside("api", "pkg")},
	}
	for _, s := range svcs {
		a := "services/" + s
		rules = append(rules, rule{s + " imports no other service", a, s + " may import only api, pkg and " + a, outside("api", "pkg", a)})
	}
	rules = append(rules, rule{"gateway reaches no database", "services/gateway", "the gateway holds no database connection (DESIGN §1)",
		func(path string) (string, bool) {
			for _, d := range databaseDrivers {
				if under(path, d) {
					return d + "/...", true
				}
			}
			return "", false
		}})

	for _, r := range rules {
		t.Run(r.name, func(t *testing.T) {
			if n := g.rootCount(r.area); n < 2 {
				t.Fatalf("go list gave %d packages of %s", n, r.area)
			}
			for _, chain := range g.violations(r.area, r.bad) {
				t.Errorf("%s, but:\n\t  %s", r.want, chain)
			}
		})
	}
}

// TestRepository_ModulesRequireOnlyAPIAndPkgOfOurs checks the go.mod files
// say what the import rules enforce: api requires no module of ours, pkg
// only api, and each service only api and pkg (requires and replaces both).
func TestRepository_ModulesRequireOnlyAPIAndPkgOfOurs(t *testing.T) {
	t.Parallel()
	allowed := map[string][]string{"api": nil, "pkg": {ours + "/api"}}
	for _, s := range services(t) {
		allowed["services/"+s] = []string{ours + "/api", ours + "/pkg"}
	}
	for dir, ok := range allowed {
		t.Run(dir, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command("go", "mod", "edit", "-json")
			cmd.Dir = filepath.Join("..", dir)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("go mod edit -json: %v", err)
			}
			var mod struct {
				Module  struct{ Path string }
				Require []struct{ Path string }
				Replace []struct{ Old struct{ Path string } }
			}
			if err := json.Unmarshal(out, &mod); err != nil {
				t.Fatal(err)
			}
			if mod.Module.Path != ours+"/"+dir {
				t.Fatalf("%s/go.mod is module %s, want %s", dir, mod.Module.Path, ours+"/"+dir)
			}
			for _, r := range mod.Require {
				if isOurs(r.Path) && !slices.Contains(ok, r.Path) {
					t.Errorf("%s/go.mod requires %s; of ours it may name only %v", dir, r.Path, ok)
				}
			}
			for _, r := range mod.Replace {
				if isOurs(r.Old.Path) && !slices.Contains(ok, r.Old.Path) {
					t.Errorf("%s/go.mod replaces %s; of ours it may name only %v", dir, r.Old.Path, ok)
				}
			}
		})
	}
}
