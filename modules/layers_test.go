package main

// The layers of docs/architecture.md, checked on the import graph of the product code (the
// non-test files of internal/, modules/ and files/): modules/<name> → internal/<domain> →
// internal building blocks, and nothing upwards; files/<x> are data (embedded manifests) that
// modules and domain packages may read and that import nothing of the project. Go itself
// refuses import cycles; this refuses the arrows that compile but break the layering. A new
// package under internal/ must be given its layer in the tables below.

import (
	"go/build"
	"io/fs"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

const modulePath = "github.com/business-operations/bo.microvm/"

// domain packages hold one module's procedures; they never import each other.
var domain = []string{"flux", "info", "install", "k0s", "node", "service", "volume"}

// buildingBlocks are what domain packages are built of. Each lists the building blocks it may
// import, so that the order among them is checked too.
var buildingBlocks = map[string][]string{
	"ansible/pyvalue": nil,
	"ansible/argspec": {"ansible/pyvalue"},
	"ansible/moddoc":  {"ansible/argspec", "ansible/pyvalue"},
	"ansible":         {"ansible/argspec", "ansible/moddoc", "ansible/pyvalue"},
	"multicall":       {"ansible", "ansible/argspec", "ansible/moddoc", "ansible/pyvalue"},
	"command":         nil,
	"statedir":        nil,
	"sshkey":          nil,
	"systemd":         nil,
	"step":            nil,
	"kube":            nil,
	"gitea":           nil,
	"nix":             {"command"},
}

// projectImports is the import graph of the product code: package (path below the module,
// e.g. internal/k0s) → the project packages it imports, from its non-test files.
func projectImports(t *testing.T, root string) map[string][]string {
	t.Helper()
	graph := map[string][]string{}
	for _, top := range []string{"internal", "modules", "files"} {
		err := filepath.WalkDir(filepath.Join(root, top), func(dir string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return err
			}
			if d.Name() == "testdata" {
				return filepath.SkipDir
			}
			pkg, err := build.Default.ImportDir(dir, 0)
			if err != nil {
				if _, none := err.(*build.NoGoError); none {
					return nil
				}
				return err
			}
			rel, _ := filepath.Rel(root, dir)
			var imports []string
			for _, imp := range pkg.Imports {
				if p, ok := strings.CutPrefix(imp, modulePath); ok {
					imports = append(imports, p)
				}
			}
			graph[filepath.ToSlash(rel)] = imports
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return graph
}

// layerErrors names every arrow of graph that breaks the layers, and every internal package
// without a layer.
func layerErrors(graph map[string][]string) []string {
	var errs []string
	for pkg, imports := range graph {
		name, internal := strings.CutPrefix(pkg, "internal/")
		allowed, isBlock := buildingBlocks[name]
		isDomain := internal && slices.Contains(domain, name)
		if internal && !isBlock && !isDomain {
			errs = append(errs, pkg+" has no layer: add it to domain or buildingBlocks in modules/layers_test.go")
			continue
		}
		for _, imp := range imports {
			impName, impInternal := strings.CutPrefix(imp, "internal/")
			_, impBlock := buildingBlocks[impName]
			impBlock = impBlock && impInternal
			impData := strings.HasPrefix(imp, "files/")
			var bad bool
			switch {
			case isBlock:
				bad = !(impInternal && slices.Contains(allowed, impName))
			case isDomain:
				bad = !impBlock && !impData
			case strings.HasPrefix(pkg, "files/"):
				bad = true
			case pkg == "modules":
				bad = imp != "internal/multicall" && !strings.HasPrefix(imp, "modules/")
			default: // modules/<name>
				bad = !impInternal && !impData
			}
			if bad {
				errs = append(errs, pkg+" imports "+imp)
			}
		}
	}
	sort.Strings(errs)
	return errs
}

func TestTheImportGraphKeepsTheLayers(t *testing.T) {
	graph := projectImports(t, "..")
	if _, ok := graph["internal/ansible"]; !ok {
		t.Fatalf("the graph lacks internal/ansible: read from the wrong place (%d packages)", len(graph))
	}
	for _, e := range layerErrors(graph) {
		t.Error(e)
	}
}

func TestLayerErrorsNamesUpwardAndSidewaysArrows(t *testing.T) {
	got := layerErrors(map[string][]string{
		"internal/statedir": {"internal/install"},                  // a building block on a domain package
		"internal/nix":      {"internal/statedir"},                 // a building block it is not allowed
		"internal/k0s":      {"internal/flux"},                     // a domain package on another
		"internal/flux":     {"modules/flux_kickoff"},              // a domain package on a module
		"internal/newpkg":   nil,                                   // no layer
		"modules/ping":      {"modules/k8s_node"},                  // a module on a module
		"modules":           {"internal/k0s"},                      // the binary past the registry
		"internal/install":  {"internal/statedir"},                 // fine
		"modules/k8s_node":  {"internal/node", "internal/ansible"}, // fine
		"internal/service":  {"files/flux"},                        // fine: a domain package reads data
		"files/flux":        {"internal/kube"},                     // data imports nothing
		"internal/gitea":    {"files/flux"},                        // a building block reads no data
	})
	want := []string{
		"files/flux imports internal/kube",
		"internal/flux imports modules/flux_kickoff",
		"internal/gitea imports files/flux",
		"internal/k0s imports internal/flux",
		"internal/newpkg has no layer: add it to domain or buildingBlocks in modules/layers_test.go",
		"internal/nix imports internal/statedir",
		"internal/statedir imports internal/install",
		"modules imports internal/k0s",
		"modules/ping imports modules/k8s_node",
	}
	if !slices.Equal(got, want) {
		t.Errorf("layerErrors:\n got %q\nwant %q", got, want)
	}
}
