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

func TestTheTarballHoldsBinariesAndDocsButNoSources(t *testing.T) {
	f, err := os.Open(tarball(t))
	require.NoError(t, err)
	defer f.Close()
	gz, err := gzip.NewReader(f)
	require.NoError(t, err)
	tr := tar.NewReader(gz)
	names := map[string]int64{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		names[h.Name] = h.Mode
	}
	for _, want := range []string{"plugins/modules/microvm_info_linux_amd64", "plugins/modules/microvm_info_linux_arm64",
		"plugins/modules/microvm_info.yml", "plugins/action/microvm_info.py", "plugins/plugin_utils/gomodule.py",
		"playbooks/deploy-microvms.yaml", "roles/microvm_deploy/tasks/main.yml", "meta/runtime.yml", "MANIFEST.json"} {
		assert.Contains(t, names, want)
	}
	assert.Equal(t, int64(0o755), names["plugins/modules/microvm_info_linux_amd64"]&0o777, "binaries stay executable")
	for n := range names {
		assert.False(t, strings.HasSuffix(n, ".go") || strings.HasPrefix(n, "internal/") || strings.HasPrefix(n, "tests/"), "no sources or tests: %s", n)
	}
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
	doc := run(t, env, "ansible-doc", "bo.microvm.microvm_info")
	assert.Contains(t, doc, "Reads every VM directory under")
	assert.Contains(t, doc, filepath.Join(dir, "ansible_collections/bo/microvm/plugins/modules/microvm_info.yml"))
}
