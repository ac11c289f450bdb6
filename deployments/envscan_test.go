package deployments

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// modulePrefix is the import path every module of the workspace starts with;
// the folder of a package is its import path without it.
const modulePrefix = "github.com/onekey-oss/onekey/"

// envNames is what a program's source reads from its environment: exact
// names, patterns for names built at run time ("CHAIN_*_RPC_URL", where *
// stands for one or more of A-Z, 0-9 and _), and the names it requires
// (config.Reader.Required).
type envNames struct {
	exact    map[string]bool
	patterns []*regexp.Regexp
	pattern  []string // the patterns as written, for messages
	required map[string]bool
	literals map[string]bool // every string literal of the source, for routes
	calls    map[string]bool // the names of the functions and methods it calls
}

// reads reports whether name is read by the program.
func (e envNames) reads(name string) bool {
	if e.exact[name] {
		return true
	}
	for _, p := range e.patterns {
		if p.MatchString(name) {
			return true
		}
	}
	return false
}

// envShape is a name made of capitals, digits, '_' and the wildcard '*',
// with at least two letters written out.
var envShape = regexp.MustCompile(`^[A-Z0-9_*]+$`)

// scanEnv reads the Go source of the program in dir (relative to root) and of
// every package of the workspace it imports, directly or not, tests left out,
// and collects the variables it reads. A read is a call, with a name as its
// first argument, of os.Getenv or os.LookupEnv, of a parameter or variable of
// type func(string) string (a "getenv"), of a local function that passes its
// argument to one of those, or of a method of config.Reader that takes a name
// (found in pkg/config). The name is evaluated from string literals,
// constants, local variables, concatenations and the fields of a ranged-over
// composite literal; what cannot be known stands as '*'.
func scanEnv(t *testing.T, root, dir string) envNames {
	t.Helper()
	readerMethods := configReaderMethods(t, root)
	e := envNames{exact: map[string]bool{}, required: map[string]bool{}, literals: map[string]bool{}, calls: map[string]bool{}}
	seen := map[string]bool{}
	queue := []string{dir}
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		if seen[d] {
			continue
		}
		seen[d] = true
		files := parseDir(t, filepath.Join(root, d))
		if len(files) == 0 {
			t.Fatalf("no Go source in %s", d)
		}
		consts := packageConsts(files)
		for _, f := range files {
			for _, imp := range f.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				if rest, ok := strings.CutPrefix(p, modulePrefix); ok {
					queue = append(queue, rest)
				}
			}
			s := &scanner{consts: consts, readerMethods: readerMethods, out: &e}
			ast.Inspect(f, func(n ast.Node) bool {
				if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					if v, err := strconv.Unquote(lit.Value); err == nil {
						e.literals[v] = true
					}
				}
				if c, ok := n.(*ast.CallExpr); ok {
					switch f := c.Fun.(type) {
					case *ast.Ident:
						e.calls[f.Name] = true
					case *ast.SelectorExpr:
						e.calls[f.Sel.Name] = true
					}
				}
				if fd, ok := n.(*ast.FuncDecl); ok && fd.Body != nil {
					s.function(fd.Type, fd.Body)
				}
				return true
			})
		}
	}
	sort.Strings(e.pattern)
	return e
}

func parseDir(t *testing.T, dir string) []*ast.File {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read %s: %v", dir, err)
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, de := range entries {
		n := de.Name()
		if de.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, n), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		files = append(files, f)
	}
	return files
}

// configReaderMethods lists the methods of pkg/config's Reader whose first
// parameter is the variable's name.
func configReaderMethods(t *testing.T, root string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, f := range parseDir(t, filepath.Join(root, "pkg", "config")) {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Recv == nil || len(fd.Type.Params.List) == 0 {
				continue
			}
			star, ok := fd.Recv.List[0].Type.(*ast.StarExpr)
			if !ok || !isIdent(star.X, "Reader") {
				continue
			}
			first := fd.Type.Params.List[0]
			if isIdent(first.Type, "string") && len(first.Names) > 0 && first.Names[0].Name == "name" {
				out[fd.Name.Name] = true
			}
		}
	}
	if !out["Required"] || !out["String"] {
		t.Fatalf("pkg/config: Reader.Required and Reader.String not found (found %v)", out)
	}
	return out
}

func packageConsts(files []*ast.File) map[string]string {
	out := map[string]string{}
	for _, f := range files {
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, sp := range gd.Specs {
				vs := sp.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if i < len(vs.Values) {
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							out[n.Name], _ = strconv.Unquote(lit.Value)
						}
					}
				}
			}
		}
	}
	return out
}

// scanner scans one function at a time.
type scanner struct {
	consts        map[string]string
	readerMethods map[string]bool
	out           *envNames

	getenvs map[string]bool              // names callable as getenv in this function
	locals  map[string]ast.Expr          // local variable → its last assigned value
	ranged  map[string]*ast.CompositeLit // range value variable → the literal ranged over
}

func (s *scanner) function(ft *ast.FuncType, body *ast.BlockStmt) {
	s.getenvs = map[string]bool{}
	s.locals = map[string]ast.Expr{}
	s.ranged = map[string]*ast.CompositeLit{}
	s.params(ft)
	// Two passes: the first learns locals, local getenvs and ranges, the
	// second evaluates calls with everything known.
	ast.Inspect(body, s.learn)
	ast.Inspect(body, s.learn)
	ast.Inspect(body, s.call)
}

func (s *scanner) params(ft *ast.FuncType) {
	if ft.Params == nil {
		return
	}
	for _, p := range ft.Params.List {
		if isGetenvType(p.Type) {
			for _, n := range p.Names {
				s.getenvs[n.Name] = true
			}
		}
	}
}

// isGetenvType is func(string) string, config.Getenv or Getenv.
func isGetenvType(e ast.Expr) bool {
	switch x := e.(type) {
	case *ast.FuncType:
		return x.Params != nil && len(x.Params.List) == 1 && isIdent(x.Params.List[0].Type, "string") &&
			x.Results != nil && len(x.Results.List) == 1 && isIdent(x.Results.List[0].Type, "string")
	case *ast.SelectorExpr:
		return x.Sel.Name == "Getenv"
	case *ast.Ident:
		return x.Name == "Getenv"
	}
	return false
}

func (s *scanner) learn(n ast.Node) bool {
	switch x := n.(type) {
	case *ast.FuncLit:
		s.params(x.Type)
	case *ast.AssignStmt:
		if len(x.Lhs) != len(x.Rhs) {
			return true
		}
		for i, l := range x.Lhs {
			id, ok := l.(*ast.Ident)
			if !ok {
				continue
			}
			if fl, ok := x.Rhs[i].(*ast.FuncLit); ok && s.passesArgToGetenv(fl) {
				s.getenvs[id.Name] = true
				continue
			}
			s.locals[id.Name] = x.Rhs[i]
		}
	case *ast.RangeStmt:
		if v, ok := x.Value.(*ast.Ident); ok {
			if cl, ok := x.X.(*ast.CompositeLit); ok {
				s.ranged[v.Name] = cl
			}
		}
	}
	return true
}

// passesArgToGetenv: func(k string) string { ... getenv(k) ... }.
func (s *scanner) passesArgToGetenv(fl *ast.FuncLit) bool {
	ps := fl.Type.Params.List
	if len(ps) != 1 || len(ps[0].Names) != 1 || !isIdent(ps[0].Type, "string") {
		return false
	}
	arg := ps[0].Names[0].Name
	found := false
	ast.Inspect(fl.Body, func(n ast.Node) bool {
		if c, ok := n.(*ast.CallExpr); ok && len(c.Args) > 0 && isIdent(c.Args[0], arg) && s.isGetenvCall(c) {
			found = true
		}
		return !found
	})
	return found
}

func (s *scanner) isGetenvCall(c *ast.CallExpr) bool {
	switch f := c.Fun.(type) {
	case *ast.Ident:
		return s.getenvs[f.Name]
	case *ast.SelectorExpr:
		if isIdent(f.X, "os") {
			return f.Sel.Name == "Getenv" || f.Sel.Name == "LookupEnv"
		}
		return s.readerMethods[f.Sel.Name]
	}
	return false
}

func (s *scanner) call(n ast.Node) bool {
	c, ok := n.(*ast.CallExpr)
	if !ok || len(c.Args) == 0 || !s.isGetenvCall(c) {
		return true
	}
	for _, name := range s.eval(c.Args[0], 0) {
		if !envShape.MatchString(name) || strings.Count(name, "*") == len(name) || !hasTwoLetters(name) {
			continue
		}
		if !strings.Contains(name, "*") {
			s.out.exact[name] = true
			if sel, ok := c.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Required" {
				s.out.required[name] = true
			}
			continue
		}
		re := "^" + strings.ReplaceAll(regexp.QuoteMeta(name), `\*`, `[A-Z0-9_]+`) + "$"
		if !contains(s.out.pattern, name) {
			s.out.pattern = append(s.out.pattern, name)
			s.out.patterns = append(s.out.patterns, regexp.MustCompile(re))
		}
	}
	return true
}

// eval gives the values a string expression may have; '*' stands for what
// is known only at run time.
func (s *scanner) eval(e ast.Expr, depth int) []string {
	if depth > 8 {
		return []string{"*"}
	}
	switch x := e.(type) {
	case *ast.BasicLit:
		if v, err := strconv.Unquote(x.Value); err == nil && x.Kind == token.STRING {
			return []string{v}
		}
	case *ast.ParenExpr:
		return s.eval(x.X, depth+1)
	case *ast.BinaryExpr:
		if x.Op == token.ADD {
			var out []string
			for _, l := range s.eval(x.X, depth+1) {
				for _, r := range s.eval(x.Y, depth+1) {
					out = append(out, strings.ReplaceAll(l+r, "**", "*"))
				}
			}
			return out
		}
	case *ast.Ident:
		if v, ok := s.locals[x.Name]; ok {
			return s.eval(v, depth+1)
		}
		if v, ok := s.consts[x.Name]; ok {
			return []string{v}
		}
	case *ast.SelectorExpr:
		if id, ok := x.X.(*ast.Ident); ok {
			if cl, ok := s.ranged[id.Name]; ok {
				if vs := fieldValues(cl, x.Sel.Name); len(vs) > 0 {
					return vs
				}
			}
		}
	}
	return []string{"*"}
}

// fieldValues gives the string values of field name in each element of a
// composite literal of structs, keyed or positional.
func fieldValues(cl *ast.CompositeLit, name string) []string {
	pos := -1
	if at, ok := cl.Type.(*ast.ArrayType); ok {
		if st, ok := at.Elt.(*ast.StructType); ok {
			i := 0
			for _, f := range st.Fields.List {
				for _, n := range f.Names {
					if n.Name == name {
						pos = i
					}
					i++
				}
			}
		}
	}
	var out []string
	for _, el := range cl.Elts {
		ecl, ok := el.(*ast.CompositeLit)
		if !ok {
			return nil
		}
		var v ast.Expr
		for i, f := range ecl.Elts {
			if kv, ok := f.(*ast.KeyValueExpr); ok {
				if isIdent(kv.Key, name) {
					v = kv.Value
				}
			} else if i == pos {
				v = f
			}
		}
		lit, ok := v.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return nil
		}
		s, _ := strconv.Unquote(lit.Value)
		out = append(out, s)
	}
	return out
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

func hasTwoLetters(s string) bool {
	n := 0
	for _, r := range s {
		if r >= 'A' && r <= 'Z' {
			n++
		}
	}
	return n >= 2
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// TestEnvScan_FindsWhatTheServicesRead keeps the scanner honest: names read
// in each of the ways the services use are found, a name no service reads is
// not, and the required ones are told apart.
func TestEnvScan_FindsWhatTheServicesRead(t *testing.T) {
	root := repoRoot(t)
	cases := []struct {
		service        string
		reads, notRead []string
		required       []string
	}{
		// config.Reader in the service, in pkg/telemetry and pkg/bus; the
		// providers' names from a ranged-over literal; no database.
		{"gateway", []string{"GATEWAY_ADDR", "LOG_LEVEL", "NATS_STREAM_REPLICAS", "OPENAI_API_KEY", "XAI_BASE_URL"},
			[]string{"MONGODB_URI", "AUTH_ADDR", "RESEND_API_KEY"}, []string{"NATS_URL"}},
		// a local get := func(k string) string over getenv, and names
		// built from CRYPTO_CHAINS.
		{"chainwatcher", []string{"CRYPTO_CHAINS", "CHAIN_ETHEREUM_RPC_URL", "CHAIN_BASE_DEPOSIT_ADDRESS", "MONGODB_DB"},
			[]string{"CHAIN_ETHEREUM_RPC", "GATEWAY_ADDR"}, []string{"NATS_URL", "MONGODB_URI"}},
		{"auth", []string{"AUTH_FREE_GRANT_SECRET", "GOOGLE_CLIENT_ID", "OTEL_EXPORTER_OTLP_ENDPOINT"},
			[]string{"LEDGER_ADDR"}, []string{"NATS_URL", "MONGODB_URI"}},
	}
	for _, c := range cases {
		t.Run(c.service, func(t *testing.T) {
			e := scanEnv(t, root, "services/"+c.service)
			for _, n := range c.reads {
				if !e.reads(n) {
					t.Errorf("%s: %s not found among what it reads (%d names, patterns %v)", c.service, n, len(e.exact), e.pattern)
				}
			}
			for _, n := range c.notRead {
				if e.reads(n) {
					t.Errorf("%s: %s found, but the service does not read it", c.service, n)
				}
			}
			for _, n := range c.required {
				if !e.required[n] {
					t.Errorf("%s: %s not found required (required: %v)", c.service, n, keys(e.required))
				}
			}
		})
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
