//go:build collection

// Package collection tests the galaxy tarball: it installs with ansible-galaxy, holds the
// binaries and docs and no Go sources, and its modules run and document from the install.
package collection

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func repo() string { r, _ := filepath.Abs("../.."); return r }

func run(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Run(), "%s %s:\n%s", name, strings.Join(args, " "), out.String())
	return out.String()
}

func tarball(t *testing.T) string {
	m, err := filepath.Glob(filepath.Join(repo(), "build", "bo-microvm-*.tar.gz"))
	require.NoError(t, err)
	require.Len(t, m, 1, "make collection builds one tarball")
	return m[0]
}

// maxTarball is the size goal of issue 14 (Galaxy refuses collections over 20 MB).
const maxTarball = 10 << 20

func TestTheTarballHoldsBinariesAndDocsButNoSources(t *testing.T) {
	st, err := os.Stat(tarball(t))
	require.NoError(t, err)
	assert.LessOrEqual(t, st.Size(), int64(maxTarball), "the tarball with both architectures is at most 10 MB")
	t.Logf("tarball: %d bytes", st.Size())
	f, err := os.Open(tarball(t))
	require.NoError(t, err)
	defer f.Close()
	gz, err := gzip.NewReader(f)
	require.NoError(t, err)
	tr := tar.NewReader(gz)
	entries := map[string]*tar.Header{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		entries[h.Name] = h
	}
	for _, want := range []string{"plugins/modules/microvm_info.yml", "plugins/action/microvm_info.py", "plugins/plugin_utils/gomodule.py",
		"playbooks/deploy-microvms.yaml", "roles/microvm_deploy/tasks/main.yml", "meta/runtime.yml", "MANIFEST.json"} {
		assert.Contains(t, entries, want)
	}
	for _, arch := range []string{"amd64", "arm64"} {
		bin := "plugins/modules/.bin/bo_microvm_linux_" + arch
		if assert.Contains(t, entries, bin) {
			assert.Equal(t, int64(0o755), entries[bin].Mode&0o777, "the binary stays executable")
		}
		assert.Contains(t, entries, bin+".sha256", "its build-time sha256 ships beside it")
		for _, m := range modules(t) {
			link := "plugins/modules/" + m + "_linux_" + arch
			if assert.Contains(t, entries, link) {
				assert.Equal(t, byte(tar.TypeSymlink), entries[link].Typeflag, "%s links to the one binary", link)
				assert.Equal(t, ".bin/bo_microvm_linux_"+arch, entries[link].Linkname)
			}
		}
	}
	for n := range entries {
		assert.False(t, strings.HasSuffix(n, ".go") || strings.HasPrefix(n, "internal/") || strings.HasPrefix(n, "tests/"), "no sources or tests: %s", n)
	}
}

// modules are the module names: one directory each under modules/.
func modules(t *testing.T) []string {
	m, err := filepath.Glob(filepath.Join(repo(), "modules", "*", "main.go"))
	require.NoError(t, err)
	require.NotEmpty(t, m)
	var out []string
	for _, p := range m {
		out = append(out, filepath.Base(filepath.Dir(p)))
	}
	return out
}

func TestTheInstalledCollectionRunsAndDocumentsItsModules(t *testing.T) {
	dir := t.TempDir()
	run(t, nil, "ansible-galaxy", "collection", "install", "-p", dir, tarball(t))
	env := []string{"ANSIBLE_COLLECTIONS_PATH=" + dir, "ANSIBLE_NOCOLOR=1", "XDG_CACHE_HOME=" + t.TempDir()}
	pb := filepath.Join(t.TempDir(), "pb.yml")
	require.NoError(t, os.WriteFile(pb, []byte("- hosts: localhost\n  gather_facts: false\n  tasks:\n"+
		"    - bo.microvm.ping:\n      register: r\n    - ansible.builtin.assert:\n        that: r.ping == 'pong'\n"), 0o644))
	out := run(t, env, "ansible-playbook", "-i", "localhost,", "-c", "local", pb)
	assert.Contains(t, out, "ok=2")
	assert.Contains(t, out, "failed=0")
	// The plain path runs the installed link, NAME_linux_ARCH -> .bin/bo_microvm_linux_ARCH.
	out = run(t, env, "ansible-playbook", "-i", "localhost,", "-c", "local", "-e", "bo_microvm_fast_path=false", "-vvv", pb)
	assert.Contains(t, out, "ok=2")
	assert.Contains(t, out, filepath.Join(dir, "ansible_collections/bo/microvm/plugins/modules/ping_linux_"))
	doc := run(t, env, "ansible-doc", "bo.microvm.microvm_info")
	assert.Contains(t, doc, "Reads every VM directory under")
	assert.Contains(t, doc, filepath.Join(dir, "ansible_collections/bo/microvm/plugins/modules/microvm_info.yml"))
	for _, m := range modules(t) {
		doc := run(t, env, "ansible-doc", "bo.microvm."+m)
		assert.Contains(t, doc, filepath.Join(dir, "ansible_collections/bo/microvm/plugins/modules/"+m+".yml"), "ansible-doc bo.microvm.%s", m)
		assert.Contains(t, doc, "EXAMPLES", "ansible-doc bo.microvm.%s", m)
	}
	// ansible-doc -l lists every module and nothing else, without a warning (it lists each file
	// of plugins/modules but links, dot files and doc files: the binary is in .bin/).
	list := run(t, env, "ansible-doc", "-l", "bo.microvm")
	assert.NotContains(t, list, "WARNING", "ansible-doc -l bo.microvm")
	var listed []string
	for _, l := range strings.Split(strings.TrimSpace(list), "\n") {
		listed = append(listed, strings.TrimPrefix(strings.Fields(l)[0], "bo.microvm."))
	}
	assert.ElementsMatch(t, append(modules(t), "microvm_known_hosts"), listed, "ansible-doc -l bo.microvm:\n%s", list)
	// The action without a module (it runs on the controller) is documented by a module file
	// of its name, as ansible.builtin.debug is.
	doc = run(t, env, "ansible-doc", "bo.microvm.microvm_known_hosts")
	assert.Contains(t, doc, filepath.Join(dir, "ansible_collections/bo/microvm/plugins/modules/microvm_known_hosts.py"))
	assert.Contains(t, doc, "StrictHostKeyChecking=yes")
	assert.Contains(t, doc, "EXAMPLES")
}
