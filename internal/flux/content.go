package flux

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// file is one file of the repository tree.
type file struct {
	data []byte
	exec bool
}

// desiredTree is the repository content: every regular file under the site repository's
// pushed paths (without .git) plus the generated CLUSTER_PATH/flux-system/ directory, which
// replaces whatever the site repository has there (it is generated, as flux bootstrap owns it).
func (k *kickoff) desiredTree() (map[string]file, error) {
	tree := map[string]file{}
	gen := path.Join(k.o.ClusterPath, "flux-system")
	for _, p := range k.o.Paths {
		root := filepath.Join(k.o.SiteDir, filepath.FromSlash(p))
		st, err := os.Stat(root)
		if err != nil {
			return nil, fmt.Errorf("site repository path %s: %w", p, err)
		}
		if !st.IsDir() {
			if err := addFile(tree, root, p, st); err != nil {
				return nil, err
			}
			continue
		}
		err = filepath.WalkDir(root, func(fp string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(k.o.SiteDir, fp)
			rel = filepath.ToSlash(rel)
			if d.IsDir() {
				if d.Name() == ".git" || rel == gen {
					return filepath.SkipDir
				}
				return nil
			}
			if !d.Type().IsRegular() {
				return fmt.Errorf("site repository file %s is not a regular file (symlinks are not pushed)", rel)
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			return addFile(tree, fp, rel, info)
		})
		if err != nil {
			return nil, fmt.Errorf("read site repository: %w", err)
		}
	}
	tree[gen+"/gotk-components.yaml"] = file{data: k.components}
	tree[gen+"/gotk-sync.yaml"] = file{data: k.gotkSyncYAML()}
	tree[gen+"/kustomization.yaml"] = file{data: k.kustomizationYAML()}
	return tree, nil
}

func addFile(tree map[string]file, fp, rel string, info fs.FileInfo) error {
	b, err := os.ReadFile(fp)
	if err != nil {
		return err
	}
	tree[rel] = file{data: b, exec: info.Mode()&0o111 != 0}
	return nil
}

// writeTree makes dir (a git work tree) hold exactly tree.
func writeTree(dir string, tree map[string]file) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() == ".git" {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	names := make([]string, 0, len(tree))
	for n := range tree {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if strings.HasPrefix(n, ".git/") || n == ".git" {
			continue
		}
		fp := filepath.Join(dir, filepath.FromSlash(n))
		if err := os.MkdirAll(filepath.Dir(fp), 0o700); err != nil {
			return err
		}
		mode := os.FileMode(0o600)
		if tree[n].exec {
			mode = 0o700
		}
		if err := os.WriteFile(fp, tree[n].data, mode); err != nil {
			return err
		}
	}
	return nil
}
