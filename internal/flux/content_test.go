package flux

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/business-operations/bo.microvm/internal/ansible"
	"github.com/business-operations/bo.microvm/internal/command"
	"github.com/business-operations/bo.microvm/internal/kube"
)

// gitRun runs the real git in dir (a test's site repository).
func gitRun(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "git %v: %s", args, out)
	return string(out)
}

func writeFile(t *testing.T, dir, name, content string, mode os.FileMode) {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(content), mode))
}

func treeNames(tree map[string]file) []string {
	var names []string
	for n := range tree {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// TestDesiredTreeIsTheCommittedContentUnderThePushedPaths builds a site repository whose
// site_dir is a subdirectory of the work tree, with committed files, an executable, a
// symlink, a stale flux-system directory, and, not committed: a modified file, an untracked
// file, an ignored file (decrypted scratch) and a file outside the pushed paths.
func TestDesiredTreeIsTheCommittedContentUnderThePushedPaths(t *testing.T) {
	top := t.TempDir()
	gitRun(t, top, "init", "-q", "-b", "main")
	site := filepath.Join(top, "site")
	writeFile(t, site, "clusters/lab/a.yaml", "a: committed\n", 0o644)
	writeFile(t, site, "clusters/lab/scripts/run.sh", "#!/bin/sh\n", 0o755)
	writeFile(t, site, "clusters/lab/flux-system/old.yaml", "stale\n", 0o644)
	writeFile(t, site, "infrastructure/b.yaml", "b\n", 0o644)
	writeFile(t, site, "clusters/other/c.yaml", "c\n", 0o644)
	writeFile(t, site, ".gitignore", "*.dec.yaml\n", 0o644)
	require.NoError(t, os.Symlink("../infrastructure/b.yaml", filepath.Join(site, "clusters/lab/b-link.yaml")))
	gitRun(t, top, "add", "-A")
	gitRun(t, top, "commit", "-q", "-m", "site")
	writeFile(t, site, "clusters/lab/a.yaml", "a: edited, not committed\n", 0o644)
	writeFile(t, site, "clusters/lab/new.yaml", "untracked\n", 0o644)
	writeFile(t, site, "clusters/lab/secret.dec.yaml", "password: decrypted-scratch\n", 0o644)

	o := validOptions()
	o.SiteDir = site
	o.Paths = []string{"clusters/lab", "infrastructure"}
	k := testKickoff(t, o)
	k.components = []byte("components")
	tree, err := k.desiredTree(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []string{"clusters/lab/a.yaml", "clusters/lab/b-link.yaml",
		"clusters/lab/flux-system/gotk-components.yaml", "clusters/lab/flux-system/gotk-sync.yaml", "clusters/lab/flux-system/kustomization.yaml",
		"clusters/lab/scripts/run.sh", "infrastructure/b.yaml"}, treeNames(tree), "untracked, ignored, stale generated and unpushed paths are left out")
	assert.Equal(t, "a: committed\n", string(tree["clusters/lab/a.yaml"].data), "HEAD's content, not the work tree's")
	assert.True(t, tree["clusters/lab/scripts/run.sh"].exec)
	assert.False(t, tree["clusters/lab/a.yaml"].exec)
	assert.True(t, tree["clusters/lab/b-link.yaml"].symlink)
	assert.Equal(t, "../infrastructure/b.yaml", string(tree["clusters/lab/b-link.yaml"].data), "a symlink is its target, as git stores it")
	require.Len(t, k.result.Warnings, 1)
	w := k.result.Warnings[0]
	assert.Contains(t, w, "clusters/lab/a.yaml (modified)")
	assert.Contains(t, w, "clusters/lab/new.yaml (untracked)")
	assert.NotContains(t, w, "secret.dec.yaml", "ignored files are never pushed and not named")

	// The work tree written from it holds the symlink as a symlink, so git pushes mode 120000.
	wt := t.TempDir()
	require.NoError(t, writeTree(wt, tree))
	target, err := os.Readlink(filepath.Join(wt, "clusters/lab/b-link.yaml"))
	require.NoError(t, err)
	assert.Equal(t, "../infrastructure/b.yaml", target)

	o.Paths = []string{"clusters/missing"}
	_, err = testKickoff(t, o).desiredTree(context.Background())
	assert.ErrorContains(t, err, "paths: clusters/missing has no committed file at HEAD")
}

func TestDesiredTreeNeedsAGitWorkTree(t *testing.T) {
	o := validOptions()
	o.SiteDir = t.TempDir()
	_, err := testKickoff(t, o).desiredTree(context.Background())
	assert.ErrorContains(t, err, "is not in a git work tree")

	gitRun(t, o.SiteDir, "init", "-q")
	_, err = testKickoff(t, o).desiredTree(context.Background())
	assert.ErrorContains(t, err, "has no commit yet")
}

func TestKubeconfigInsideAGitWorkTreeMustBeIgnored(t *testing.T) {
	ctx := context.Background()
	outside := filepath.Join(t.TempDir(), "lab.conf")
	writeFile(t, filepath.Dir(outside), "lab.conf", "kubeconfig", 0o600)
	assert.NoError(t, guardKubeconfig(ctx, command.Exec{}, outside), "outside any work tree")

	top := t.TempDir()
	gitRun(t, top, "init", "-q")
	writeFile(t, top, "inventory/k0s-admin.kubeconfig", "kubeconfig", 0o600)
	err := guardKubeconfig(ctx, command.Exec{}, filepath.Join(top, "inventory/k0s-admin.kubeconfig"))
	assert.ErrorContains(t, err, "not ignored by git: one `git add -A` would commit cluster-admin credentials")

	writeFile(t, top, ".gitignore", "*.kubeconfig\n", 0o644)
	assert.NoError(t, guardKubeconfig(ctx, command.Exec{}, filepath.Join(top, "inventory/k0s-admin.kubeconfig")), "ignored")

	gitRun(t, top, "add", "-f", "inventory/k0s-admin.kubeconfig")
	err = guardKubeconfig(ctx, command.Exec{}, filepath.Join(top, "inventory/k0s-admin.kubeconfig"))
	assert.ErrorContains(t, err, "is tracked by the git work tree", "ignored but added anyway")
}

func TestSettingsAreRenderedAsScalars(t *testing.T) {
	got, err := ScalarValues("cluster_settings", ansible.Params{"on": true, "off": false, "n": int64(1), "f": 1.5, "whole": 3.0, "s": "True", "empty": ""})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"on": "true", "off": "false", "n": "1", "f": "1.5", "whole": "3.0", "s": "True", "empty": ""}, got)

	_, err = ScalarValues("cluster_settings", ansible.Params{"ok": "x", "nested": map[string]any{"a": int64(1)}})
	assert.EqualError(t, err, `cluster_settings: key "nested" is a dict: values must be strings, numbers or booleans (a ConfigMap or Secret holds one string per key; render structured data yourself, e.g. with to_json)`)
	_, err = ScalarValues("cluster_secrets", ansible.Params{"list": []any{"s3cret"}})
	assert.ErrorContains(t, err, `cluster_secrets: key "list" is a list`)
	assert.NotContains(t, err.Error(), "s3cret", "a secret value is never shown")
	_, err = ScalarValues("cluster_settings", ansible.Params{"none": nil})
	assert.ErrorContains(t, err, `key "none" is null`)
}

func loadCRD(t *testing.T, name string) kube.Object {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	objs, err := kube.DecodeManifests(b)
	require.NoError(t, err)
	require.Len(t, objs, 1)
	return objs[0]
}

func TestChartFormFollowsTheClustersChartCRD(t *testing.T) {
	assert.False(t, crdDeclaresRepository(loadCRD(t, "k0s-chart-crd-v1.33.yaml")))
	assert.True(t, crdDeclaresRepository(loadCRD(t, "k0s-chart-crd-v1.35.yaml")))

	k := testKickoff(t, validOptions())
	assert.Equal(t, "https://dl.gitea.com/charts/gitea-12.4.0.tgz", k.chartURL())
	k.o.GiteaChart.Name = "oci://registry.example/charts/gitea"
	assert.Equal(t, "oci://registry.example/charts/gitea", k.chartURL(), "a URL is kept as is")
	assert.True(t, strings.HasPrefix(k.chartURL(), "oci://"))
}
