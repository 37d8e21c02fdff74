package install

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// view is what a VM looks like on the host, as diff lines: the entries of its directory and
// its GC roots, keyed so that the rendering is sorted ("d/<entry>", "g/<root>").
type view map[string]string

func dirKey(entry string) string     { return "d/" + entry }
func rootKey(hostPath string) string { return "g/" + hostPath }

// readView reads the VM directory's entries and the VM's GC roots. A missing directory
// gives no entries.
func (in *Installer) readView(name string) (view, error) {
	v := view{}
	dir := in.Host.VMDir(name)
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", in.hostPath(dir), err)
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		switch t := e.Type(); {
		case t&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return nil, fmt.Errorf("read link %s: %w", in.hostPath(p), err)
			}
			v[dirKey(e.Name())] = linkLine(e.Name(), target)
		case e.Name() == "flake" && t.IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", in.hostPath(p), err)
			}
			v[dirKey(e.Name())] = flakeLine(string(b))
		case t.IsDir():
			v[dirKey(e.Name())] = e.Name() + "/"
		case t&fs.ModeSocket != 0:
			v[dirKey(e.Name())] = e.Name() + " (socket)"
		default:
			v[dirKey(e.Name())] = e.Name()
		}
	}
	for _, kind := range []string{"", "booted", "old"} {
		p := in.Host.GCRoot(name, kind)
		target, err := os.Readlink(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read GC root %s: %w", in.hostPath(p), err)
		}
		v[rootKey(in.hostPath(p))] = "gcroot " + linkLine(in.hostPath(p), target)
	}
	return v, nil
}

func linkLine(name, target string) string { return name + " -> " + target }
func flakeLine(content string) string     { return fmt.Sprintf("flake = %q", content) }

func (v view) clone() view {
	c := make(view, len(v))
	for k, l := range v {
		c[k] = l
	}
	return c
}

// String renders the lines sorted; an empty view renders as "".
func (v view) String() string {
	if len(v) == 0 {
		return ""
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(v)) {
		b.WriteString(v[k])
		b.WriteByte('\n')
	}
	return b.String()
}
