package inmem_test

import (
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const modulePath = "github.com/inmemdb/inmem"

// docPackages returns the packages ARCHITECTURE.md draws, top to bottom, as
// directories relative to the module root ("." for the root package).
func docPackages(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("docs/ARCHITECTURE.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "## Packages")
	if !ok {
		t.Fatal("ARCHITECTURE.md has no Packages section")
	}
	_, rest, _ = strings.Cut(rest, "```\n")
	block, _, _ := strings.Cut(rest, "```")
	var out []string
	for _, line := range strings.Split(block, "\n") {
		if line == "" || line[0] == ' ' {
			continue // a continuation of the line above
		}
		name := strings.Fields(line)[0]
		if name == "inmem" {
			name = "."
		}
		out = append(out, name)
	}
	return out
}

// modulePackages returns the directories of the module that hold a
// non-test Go file (bench/ is a module of its own).
func modulePackages(t *testing.T) []string {
	t.Helper()
	var out []string
	seen := map[string]bool{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			base := d.Name()
			if path != "." && (strings.HasPrefix(base, ".") || base == "testdata" || base == "bench" || base == "clients") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			if dir := filepath.Dir(path); !seen[dir] {
				seen[dir] = true
				out = append(out, dir)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPackageLayering checks that the package list of ARCHITECTURE.md
// names every package of the module and that every package imports only
// packages drawn below it.
func TestPackageLayering(t *testing.T) {
	rank := map[string]int{}
	for i, p := range docPackages(t) {
		rank[p] = i
	}
	for _, dir := range modulePackages(t) {
		r, ok := rank[dir]
		if !ok {
			t.Errorf("package %s is missing from the package list of ARCHITECTURE.md", dir)
			continue
		}
		pkg, err := build.ImportDir(dir, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range pkg.Imports {
			rel, ok := strings.CutPrefix(imp, modulePath)
			if !ok {
				continue
			}
			rel = strings.TrimPrefix(rel, "/")
			if rel == "" {
				rel = "."
			}
			if ir, known := rank[rel]; known && ir <= r {
				t.Errorf("%s imports %s, which ARCHITECTURE.md draws above it", dir, rel)
			}
		}
	}
	for p := range rank {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("ARCHITECTURE.md lists %s, which does not exist", p)
		}
	}
}

// TestArchitectureReferences checks that every file:function ARCHITECTURE.md
// names exists (paths are relative to the root or to internal/).
func TestArchitectureReferences(t *testing.T) {
	b, err := os.ReadFile("docs/ARCHITECTURE.md")
	if err != nil {
		t.Fatal(err)
	}
	ref := regexp.MustCompile("([A-Za-z0-9_/]+\\.go):`?([A-Za-z_][A-Za-z0-9_]*(?:\\.[A-Za-z_][A-Za-z0-9_]*)?)")
	funcs := map[string]map[string]bool{}
	refs := ref.FindAllStringSubmatch(string(b), -1)
	if len(refs) < 40 {
		t.Fatalf("only %d file:function references found", len(refs))
	}
	for _, m := range refs {
		file, name := m[1], m[2]
		path := file
		if _, err := os.Stat(path); err != nil {
			path = filepath.Join("internal", file)
		}
		if funcs[path] == nil {
			funcs[path] = declaredFuncs(t, path)
		}
		if !funcs[path][name] {
			t.Errorf("ARCHITECTURE.md names %s:%s, which does not exist", file, name)
		}
	}
}

// declaredFuncs returns the functions and types of a Go file as Name and
// its methods as Recv.Name.
func declaredFuncs(t *testing.T, path string) map[string]bool {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Errorf("%v", err)
		return nil
	}
	out := map[string]bool{}
	for _, d := range f.Decls {
		if gd, ok := d.(*ast.GenDecl); ok && gd.Tok == token.TYPE {
			for _, sp := range gd.Specs {
				out[sp.(*ast.TypeSpec).Name.Name] = true
			}
		}
		fd, ok := d.(*ast.FuncDecl)
		if !ok {
			continue
		}
		if fd.Recv == nil {
			out[fd.Name.Name] = true
			continue
		}
		typ := fd.Recv.List[0].Type
		if st, ok := typ.(*ast.StarExpr); ok {
			typ = st.X
		}
		switch x := typ.(type) {
		case *ast.IndexExpr:
			typ = x.X
		case *ast.IndexListExpr:
			typ = x.X
		}
		if id, ok := typ.(*ast.Ident); ok {
			out[id.Name+"."+fd.Name.Name] = true
		}
	}
	return out
}
