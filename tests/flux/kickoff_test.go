//go:build flux

package flux_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fluxmanifests "github.com/business-operations/bo.microvm/files/flux"
	"github.com/business-operations/bo.microvm/internal/kube"
)

const (
	testClusterSecret = "cluster-secret-value-7f3a9c"
	testAdminPassword = "admin-password-test-only-5b2e"
)

// siteWriter returns a func that writes one file (its directories made) into the site
// repository dir with the given mode.
func siteWriter(t *testing.T, dir string) func(name, content string, mode os.FileMode) {
	return func(name, content string, mode os.FileMode) {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), mode))
	}
}

// site writes and commits a site repository (a git work tree) with a cluster path, another
// path that is not pushed, and a stale flux-system directory that the generated one replaces.
func site(t *testing.T) string {
	dir := t.TempDir()
	files := map[string]string{
		"clusters/lab/apps.yaml":                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: apps, namespace: default}\n",
		"clusters/lab/infra/kustomization.yaml": "resources: []\n",
		"clusters/lab/flux-system/old.yaml":     "stale: true\n",
		"clusters/other/x.yaml":                 "not: pushed\n",
		"README.md":                             "site\n",
		".gitignore":                            "*.dec.yaml\n",
	}
	write := siteWriter(t, dir)
	for name, content := range files {
		write(name, content, 0o644)
	}
	siteGit(t, dir, "init", "-q", "-b", "main")
	commitAll(t, dir, "site")
	return dir
}

// siteGit runs the real git in a test's site repository (not through the recorder: these are
// the user's own git calls).
func siteGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "GIT_AUTHOR_NAME=site", "GIT_AUTHOR_EMAIL=site@example.org",
		"GIT_COMMITTER_NAME=site", "GIT_COMMITTER_EMAIL=site@example.org")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "git %v: %s", args, out)
	return strings.TrimSpace(string(out))
}

func commitAll(t *testing.T, dir, msg string) {
	t.Helper()
	siteGit(t, dir, "add", "-A")
	siteGit(t, dir, "commit", "-q", "--allow-empty", "-m", msg)
}

// commitFiles commits only the named paths (the story keeps an untracked file around).
func commitFiles(t *testing.T, dir, msg string, paths ...string) {
	t.Helper()
	siteGit(t, dir, append([]string{"add", "-A", "--"}, paths...)...)
	siteGit(t, dir, "commit", "-q", "-m", msg)
}

func baseArgs(c *cluster, siteDir string) map[string]any {
	return map[string]any{
		"kubeconfig":           c.moduleKubeconfig, // the default path: Gitea through the API server's port-forward
		"gitea_admin_password": testAdminPassword,
		"repo":                 "lab",
		"site_dir":             siteDir,
		"cluster_path":         "clusters/lab",
		"cluster_settings":     map[string]any{"cluster_name": "lab", "replicas": 3, "debug": true},
		"cluster_secrets":      map[string]any{"api_key": testClusterSecret},
		"age_key":              testAgeKey,
		"timeout":              180, // real controllers on a loaded 2-core machine
		"poll_interval":        0.2,
		"_ansible_diff":        true,
	}
}

func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func with(args map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range args {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

// stepStatus maps step titles to their status.
func stepStatus(t *testing.T, res map[string]any) map[string]string {
	t.Helper()
	steps, ok := res["steps"].([]any)
	require.True(t, ok, "result has steps: %v", res)
	out := map[string]string{}
	for _, s := range steps {
		m := s.(map[string]any)
		out[m["title"].(string)] = m["status"].(string)
	}
	return out
}

func changedSteps(t *testing.T, res map[string]any) []string {
	var out []string
	for title, st := range stepStatus(t, res) {
		if st == "changed" {
			out = append(out, title)
		}
	}
	sort.Strings(out)
	return out
}

var allSteps = []string{"Gitea admin secret", "Gitea TLS certificate", "Gitea chart", "Wait for Gitea", "Gitea API token", "Gitea organization",
	"Gitea repository", "Repository content", "Flux namespace", "Flux Git credentials", "Cluster settings",
	"Cluster secrets", "SOPS age key", "Flux components", "Flux sync objects", "Flux reconciliation"}

func secretValue(t *testing.T, c *cluster, ns, name, key string) string {
	t.Helper()
	s, err := c.kube.Get(context.Background(), kube.Ref{APIVersion: "v1", Kind: "Secret", Namespace: ns, Name: name})
	require.NoError(t, err)
	b, err := base64.StdEncoding.DecodeString(s.Str("data", key))
	require.NoError(t, err)
	return string(b)
}

// assertReconciledTo checks that source-controller fetched and kustomize-controller applied
// commit on main.
func assertReconciledTo(t *testing.T, c *cluster, commit string) {
	t.Helper()
	repoRev, ksRev := fluxStatus(t, c)
	assert.Equal(t, "main@sha1:"+commit, repoRev)
	assert.Equal(t, "main@sha1:"+commit, ksRev)
}

func fluxStatus(t *testing.T, c *cluster) (repoRev, ksRev string) {
	t.Helper()
	ctx := context.Background()
	repo, err := c.kube.Get(ctx, kube.Ref{APIVersion: "source.toolkit.fluxcd.io/v1", Kind: "GitRepository", Namespace: "flux-system", Name: "flux-system"})
	require.NoError(t, err)
	ks, err := c.kube.Get(ctx, kube.Ref{APIVersion: "kustomize.toolkit.fluxcd.io/v1", Kind: "Kustomization", Namespace: "flux-system", Name: "flux-system"})
	require.NoError(t, err)
	return repo.Str("status", "artifact", "revision"), ks.Str("status", "lastAppliedRevision")
}

// cloneBack clones the pushed repository with real git and returns its files and contents.
func cloneBack(t *testing.T, c *cluster, token string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("git", "clone", "-q", c.giteaURL+"/flux/lab.git", dir)
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=http.extraHeader",
		"GIT_CONFIG_VALUE_0=Authorization: token "+token)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "git clone: %s", out)
	files := map[string]string{}
	require.NoError(t, filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if info.IsDir() && info.Name() == ".git" {
			return filepath.SkipDir
		}
		if !info.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			b, _ := os.ReadFile(p)
			files[filepath.ToSlash(rel)] = string(b)
		}
		return nil
	}))
	return files
}

func TestKickoffAgainstRealAPIServerAndGitea(t *testing.T) {
	c := startCluster(t)
	stand := startStandIn(t, c)
	flux := useRealFlux(t, stand)
	siteDir := site(t)
	ciphertext := addEncryptedSecret(t, siteDir, flux.bins["sops"])
	commitAll(t, siteDir, "an encrypted Secret")
	pathDir, argvLog := gitRecorder(t)
	args := baseArgs(c, siteDir)
	var captured []string // every module output, for the secret check at the end
	run := func(a map[string]any) map[string]any {
		res, raw := runModule(t, pathDir, a)
		captured = append(captured, raw)
		return res
	}

	t.Run("check mode first reports every step as pending and changes nothing", func(t *testing.T) {
		res := run(with(args, "_ansible_check_mode", true))
		require.Equal(t, false, res["failed"], "%v", res["msg"])
		assert.Equal(t, true, res["changed"])
		st := stepStatus(t, res)
		assert.Len(t, st, len(allSteps))
		for _, s := range []string{"Gitea admin secret", "Gitea TLS certificate", "Gitea chart", "Gitea API token", "Repository content", "Flux components", "Flux sync objects", "Flux reconciliation"} {
			assert.Equal(t, "would change", st[s], s)
		}
		assert.Equal(t, "would wait", st["Wait for Gitea"])
		_, err := c.kube.Get(context.Background(), kube.Ref{APIVersion: "v1", Kind: "Namespace", Name: "gitea"})
		assert.True(t, kube.IsNotFound(err), "check mode created namespace gitea")
	})

	// Not committed, so never pushed: an untracked file and an ignored decrypted scratch file.
	require.NoError(t, os.WriteFile(filepath.Join(siteDir, "clusters/lab/untracked.yaml"), []byte("kind: Untracked\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(siteDir, "clusters/lab/secret.dec.yaml"), []byte("password: "+testClusterSecret+"\n"), 0o644))

	var firstCommit string
	ok := t.Run("first run does every step and Flux reports the pushed commit", func(t *testing.T) {
		res := run(args)
		require.Equal(t, false, res["failed"], "%v", res["msg"])
		assert.Equal(t, true, res["changed"])
		st := stepStatus(t, res)
		for _, s := range allSteps {
			want := "changed"
			if s == "Wait for Gitea" {
				want = "waited"
			}
			assert.Equal(t, want, st[s], s)
		}
		firstCommit, _ = res["commit"].(string)
		require.Len(t, firstCommit, 40)
		assert.Equal(t, "main@sha1:"+firstCommit, res["revision"])
		assertReconciledTo(t, c, firstCommit)
		assert.Equal(t, testAdminPassword, secretValue(t, c, "gitea", "gitea-admin", "password"))
		assert.Equal(t, testAgeKey+"\n", secretValue(t, c, "flux-system", "sops-age", "age.agekey"))
		ca := secretValue(t, c, "gitea", "gitea-tls-ca", "ca.crt")
		assert.Contains(t, ca, "BEGIN CERTIFICATE")
		assert.Equal(t, ca, secretValue(t, c, "flux-system", "flux-system", "ca.crt"), "Flux's Git Secret trusts the Gitea CA")
		assert.Equal(t, ca, secretValue(t, c, "gitea", "gitea-tls", "ca.crt"))
		flx, err := c.kube.Get(context.Background(), kube.Ref{APIVersion: "v1", Kind: "Secret", Namespace: "flux-system", Name: "flux-system"})
		require.NoError(t, err)
		assert.NotContains(t, flx.Map("data"), "tls.crt", "no client certificate keys in Flux's Secret")
		cm, err := c.kube.Get(context.Background(), kube.Ref{APIVersion: "v1", Kind: "ConfigMap", Namespace: "flux-system", Name: "cluster-settings"})
		require.NoError(t, err)
		assert.Equal(t, map[string]any{"cluster_name": "lab", "replicas": "3", "debug": "true"}, cm.Map("data"), "settings as JSON/YAML scalars")
		assert.Contains(t, fmt.Sprint(res["warnings"]), "clusters/lab/untracked.yaml (untracked)", "the uncommitted file is named")
		assert.NotContains(t, fmt.Sprint(res["warnings"]), "secret.dec.yaml", "ignored files are not named")
		// What the real kustomize-controller applied from the pushed commit: the site's
		// ConfigMap, and the SOPS-encrypted Secret decrypted with the age key of sops-age.
		_, err = c.kube.Get(context.Background(), kube.Ref{APIVersion: "v1", Kind: "ConfigMap", Namespace: "default", Name: "apps"})
		assert.NoError(t, err, "ConfigMap default/apps applied by kustomize-controller")
		assert.Equal(t, testSopsValue, secretValue(t, c, "default", "sops-test", "password"), "the encrypted Secret appears decrypted")
	})
	require.True(t, ok, "the first run must succeed for the rest to mean anything")

	t.Run("the pushed repository cloned back holds exactly the expected tree", func(t *testing.T) {
		files := cloneBack(t, c, secretValue(t, c, "gitea", "gitea-bootstrap-token", "token"))
		names := make([]string, 0, len(files))
		for n := range files {
			names = append(names, n)
		}
		sort.Strings(names)
		assert.Equal(t, []string{
			"clusters/lab/apps.yaml",
			"clusters/lab/flux-system/gotk-components.yaml",
			"clusters/lab/flux-system/gotk-sync.yaml",
			"clusters/lab/flux-system/kustomization.yaml",
			"clusters/lab/infra/kustomization.yaml",
			"clusters/lab/secret.enc.yaml",
		}, names, "the committed tree only: the untracked and the ignored file never reach Gitea")
		comp, err := fluxmanifests.Components(fluxmanifests.Default)
		require.NoError(t, err)
		assert.Equal(t, string(comp), files["clusters/lab/flux-system/gotk-components.yaml"])
		assert.Equal(t, "resources: []\n", files["clusters/lab/infra/kustomization.yaml"])
		sync := files["clusters/lab/flux-system/gotk-sync.yaml"]
		assert.Contains(t, sync, "url: https://gitea-http.gitea.svc.cluster.local:3000/flux/lab.git")
		assert.Contains(t, sync, "path: ./clusters/lab")
		assert.Contains(t, files["clusters/lab/flux-system/kustomization.yaml"], "name: sops-age")
		assert.Equal(t, ciphertext, files["clusters/lab/secret.enc.yaml"], "the encrypted file is pushed as committed")
		assert.NotContains(t, strings.Join(mapValues(files), "\n"), testSopsValue, "no clear text reaches Gitea")
	})

	t.Run("second run changes nothing", func(t *testing.T) {
		res := run(args)
		require.Equal(t, false, res["failed"], "%v", res["msg"])
		assert.Equal(t, false, res["changed"])
		assert.Empty(t, changedSteps(t, res))
		for title, s := range stepStatus(t, res) {
			assert.Equal(t, "ok", s, title)
		}
		assert.Equal(t, firstCommit, res["commit"])
	})

	t.Run("a lost serving certificate is re-issued by the same CA and Gitea restarts with it", func(t *testing.T) {
		ca := secretValue(t, c, "gitea", "gitea-tls-ca", "ca.crt")
		old := secretValue(t, c, "gitea", "gitea-tls", "tls.crt")
		require.NoError(t, c.kube.Delete(context.Background(), kube.Ref{APIVersion: "v1", Kind: "Secret", Namespace: "gitea", Name: "gitea-tls"}))
		res := run(args)
		require.Equal(t, false, res["failed"], "%v", res["msg"])
		assert.Equal(t, []string{"Gitea TLS certificate", "Gitea chart"}, changedSteps(t, res), "the chart's pod annotation carries the new fingerprint; Flux's ca.crt stays")
		assert.NotEqual(t, old, secretValue(t, c, "gitea", "gitea-tls", "tls.crt"))
		assert.Equal(t, ca, secretValue(t, c, "flux-system", "flux-system", "ca.crt"))
		res = run(args)
		require.Equal(t, false, res["failed"], "%v", res["msg"])
		assert.Equal(t, false, res["changed"], "%v", changedSteps(t, res))
	})

	t.Run("check mode after convergence reports nothing to change", func(t *testing.T) {
		res := run(with(args, "_ansible_check_mode", true))
		require.Equal(t, false, res["failed"], "%v", res["msg"])
		assert.Equal(t, false, res["changed"])
	})

	t.Run("a changed cluster setting re-applies only the ConfigMap", func(t *testing.T) {
		a := with(args, "cluster_settings", map[string]any{"cluster_name": "lab", "replicas": 5})
		res := run(a)
		require.Equal(t, false, res["failed"], "%v", res["msg"])
		assert.Equal(t, []string{"Cluster settings"}, changedSteps(t, res))
		cm, err := c.kube.Get(context.Background(), kube.Ref{APIVersion: "v1", Kind: "ConfigMap", Namespace: "flux-system", Name: "cluster-settings"})
		require.NoError(t, err)
		assert.Equal(t, "5", cm.Str("data", "replicas"))
		args = a
	})

	var secondCommit string
	t.Run("a change in the site repository is pushed and awaited", func(t *testing.T) {
		require.NoError(t, os.WriteFile(filepath.Join(siteDir, "clusters/lab/apps.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: apps2, namespace: default}\n"), 0o644))
		commitFiles(t, siteDir, "apps2", "clusters/lab/apps.yaml")
		res := run(args)
		require.Equal(t, false, res["failed"], "%v", res["msg"])
		assert.Equal(t, []string{"Flux reconciliation", "Repository content"}, changedSteps(t, res))
		secondCommit, _ = res["commit"].(string)
		assert.NotEqual(t, firstCommit, secondCommit)
		assertReconciledTo(t, c, secondCommit)
		_, err := c.kube.Get(context.Background(), kube.Ref{APIVersion: "v1", Kind: "ConfigMap", Namespace: "default", Name: "apps2"})
		assert.NoError(t, err, "the pushed change is applied")
		_, err = c.kube.Get(context.Background(), kube.Ref{APIVersion: "v1", Kind: "ConfigMap", Namespace: "default", Name: "apps"})
		assert.True(t, kube.IsNotFound(err), "and what it removed is pruned: %v", err)
	})

	t.Run("a broken kustomization fails the run with kustomize-controller's message", func(t *testing.T) {
		p := filepath.Join(siteDir, "clusters/lab/broken/kustomization.yaml")
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte("resources:\n- missing.yaml\n"), 0o644))
		commitFiles(t, siteDir, "broken", "clusters/lab/broken")
		res := run(args)
		assert.Equal(t, true, res["failed"])
		msg, _ := res["msg"].(string)
		assert.Contains(t, msg, "Flux reconciliation: Kustomization flux-system/flux-system cannot build main@sha1:")
		assert.Contains(t, msg, "BuildFailed: ")
		assert.Contains(t, msg, "missing.yaml", "kustomize's own words name the missing file")
		siteGit(t, siteDir, "rm", "-q", "-r", "clusters/lab/broken")
		siteGit(t, siteDir, "commit", "-q", "-m", "fixed")
		res = run(args)
		require.Equal(t, false, res["failed"], "%v", res["msg"])
		assert.Equal(t, []string{"Flux reconciliation", "Repository content"}, changedSteps(t, res))
	})

	t.Run("a token lost from the cluster Secret is replaced without a 400 loop", func(t *testing.T) {
		old := secretValue(t, c, "gitea", "gitea-bootstrap-token", "token")
		require.NoError(t, c.kube.Delete(context.Background(), kube.Ref{APIVersion: "v1", Kind: "Secret", Namespace: "gitea", Name: "gitea-bootstrap-token"}))
		res := run(args)
		require.Equal(t, false, res["failed"], "%v", res["msg"])
		assert.Equal(t, []string{"Gitea API token"}, changedSteps(t, res))
		now := secretValue(t, c, "gitea", "gitea-bootstrap-token", "token")
		assert.NotEqual(t, old, now)
		// The lost token was deleted in Gitea (same name, replaced), so it no longer works.
		cmd := exec.Command("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "@-", c.giteaURL+"/api/v1/user")
		cmd.Stdin = strings.NewReader("Authorization: token " + old + "\n")
		out, err := cmd.Output()
		require.NoError(t, err)
		assert.Equal(t, "401", string(out))
		res = run(args)
		assert.Equal(t, false, res["changed"], "the run after the replacement changes nothing")
	})

	t.Run("a token Gitea rejects is replaced", func(t *testing.T) {
		_, err := c.kube.MergePatch(context.Background(), kube.Ref{APIVersion: "v1", Kind: "Secret", Namespace: "gitea", Name: "gitea-bootstrap-token"}, "",
			map[string]any{"data": map[string]any{"token": base64.StdEncoding.EncodeToString([]byte("0000000000000000000000000000000000000000"))}})
		require.NoError(t, err)
		res := run(args)
		require.Equal(t, false, res["failed"], "%v", res["msg"])
		assert.Equal(t, []string{"Gitea API token"}, changedSteps(t, res))
	})

	t.Run("a timeout names the last condition Flux reported", func(t *testing.T) {
		flux.setGiteaReachable(false) // source-controller cannot reach the in-cluster Gitea
		defer flux.setGiteaReachable(true)
		require.NoError(t, os.WriteFile(filepath.Join(siteDir, "clusters/lab/apps.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: apps3, namespace: default}\n"), 0o644))
		commitFiles(t, siteDir, "apps3", "clusters/lab/apps.yaml")
		res := run(with(args, "timeout", 15))
		assert.Equal(t, true, res["failed"])
		msg, _ := res["msg"].(string)
		assert.Contains(t, msg, "Flux reconciliation: timed out after 15s waiting for Flux to apply main@sha1:")
		assert.Contains(t, msg, "GitRepository flux-system/flux-system: Ready=False (GitOperationFailed): failed to checkout and determine revision: unable to list remote for 'https://gitea-http.gitea.svc.cluster.local:3000/flux/lab.git'",
			"source-controller's own message")
		flux.setGiteaReachable(true)
		res = run(args)
		require.Equal(t, false, res["failed"], "%v", res["msg"])
		assert.Equal(t, []string{"Flux reconciliation"}, changedSteps(t, res), "the push happened in the failed run; only the wait is left")
	})

	t.Run("an existing flux-system Kustomization with another path is refused before anything changes", func(t *testing.T) {
		before, _ := fluxStatus(t, c)
		res := run(with(args, "cluster_path", "clusters/other", "cluster_settings", map[string]any{"changed": "yes"}))
		assert.Equal(t, true, res["failed"])
		assert.Equal(t, false, res["changed"])
		assert.Contains(t, res["msg"], `sync path configuration ("./clusters/other") would overwrite path ("./clusters/lab") of existing Kustomization flux-system/flux-system`)
		cm, err := c.kube.Get(context.Background(), kube.Ref{APIVersion: "v1", Kind: "ConfigMap", Namespace: "flux-system", Name: "cluster-settings"})
		require.NoError(t, err)
		assert.Equal(t, "lab", cm.Str("data", "cluster_name"))
		after, _ := fluxStatus(t, c)
		assert.Equal(t, before, after)
	})

	t.Run("no secret value appears in any output, result or git command line", func(t *testing.T) {
		argv, err := os.ReadFile(argvLog)
		require.NoError(t, err)
		require.NotEmpty(t, argv, "the git recorder saw the module's git calls")
		assert.Contains(t, string(argv), "push")
		secrets := map[string]string{
			"admin password": testAdminPassword,
			"age key":        testAgeKey,
			"cluster secret": testClusterSecret,
			"API token":      secretValue(t, c, "gitea", "gitea-bootstrap-token", "token"),
			"sync token":     secretValue(t, c, "flux-system", "flux-system", "password"),
			"SOPS value":     testSopsValue,
		}
		all := strings.Join(captured, "\n")
		require.NotEmpty(t, all)
		for what, v := range secrets {
			require.NotEmpty(t, v)
			assert.NotContains(t, all, v, "%s in module output", what)
			assert.NotContains(t, string(argv), v, "%s in git argv", what)
			assert.NotContains(t, all, base64.StdEncoding.EncodeToString([]byte("gitea_admin:"+v)), "%s as basic auth in module output", what)
		}
	})

	t.Run("no secret crosses a network hop in clear text on the default path", func(t *testing.T) {
		checkHops(t, c, hopSecrets(t, c))
	})
}

// hopSecrets are the values no network hop may carry in clear text.
func hopSecrets(t *testing.T, c *cluster) map[string]string {
	return map[string]string{
		"admin password": testAdminPassword,
		"API token":      secretValue(t, c, "gitea", "gitea-bootstrap-token", "token"),
		"sync token":     secretValue(t, c, "flux-system", "flux-system", "password"),
		"cluster secret": testClusterSecret,
		"age key":        testAgeKey,
	}
}

// checkHops asserts that every byte the recorders of the default path saw (node_test.go) is
// free of each secret in clear text (as is, as Gitea's "token T" header, as the basic-auth
// base64 of the admin user, which source-controller sends with the sync token) on every hop
// that crosses a network or a pod boundary: machine to API server, API server to kubelet, the
// runtime into the Gitea pod (the port-forward's last leg), and source-controller's clone over
// the pod network. Each must have carried traffic that starts with a TLS handshake record;
// the clone hop's ClientHello names the in-cluster host (SNI), so it is Flux's TLS to Gitea.
// insideHop, behind Gitea's HTTPS listener, is the positive control: there the module's token
// requests and push and source-controller's basic auth and fetch appear in clear, so the
// recorders do see the traffic the check looks at, and a needle that is not in the hops is
// not there because it is encrypted (TestKickoffThroughAnOptInGiteaURLIsClearText shows the
// same check failing on a plain-HTTP clone hop).
func checkHops(t *testing.T, c *cluster, secrets map[string]string) {
	t.Helper()
	needles := hopNeedles(t, secrets)
	for _, hop := range []*recorder{c.node.apiHop, c.node.kubeletHop, c.node.podHop, c.node.cloneHop} {
		sent, got, conns := hop.bytes()
		t.Logf("%s hop: %d connections, %d bytes sent, %d bytes back", hop.name, conns, len(sent), len(got))
		require.Greater(t, conns, 0, "%s hop carried connections", hop.name)
		require.Greater(t, len(sent)+len(got), 10000, "%s hop carried traffic", hop.name)
		assert.Equal(t, []byte{0x16, 0x03}, sent[:2], "%s hop starts with a TLS handshake record", hop.name)
		for what, n := range needles {
			assert.False(t, bytes.Contains(sent, n), "%s in clear text on the %s hop (sent)", what, hop.name)
			assert.False(t, bytes.Contains(got, n), "%s in clear text on the %s hop (answers)", what, hop.name)
		}
		for _, plain := range []string{"Authorization", "git-receive-pack", "git-upload-pack", "/api/v1/"} {
			assert.False(t, bytes.Contains(sent, []byte(plain)), "%q in clear text on the %s hop", plain, hop.name)
		}
	}
	clone, _, _ := c.node.cloneHop.bytes()
	assert.True(t, bytes.Contains(clone, []byte(inClusterGiteaHost)), "the clone hop's TLS ClientHello names %s (SNI)", inClusterGiteaHost)
	sent, _, conns := c.node.insideHop.bytes()
	t.Logf("inside Gitea (behind its HTTPS listener; positive control): %d connections, %d bytes sent", conns, len(sent))
	assert.True(t, bytes.Contains(sent, []byte("Authorization: token "+secrets["API token"])), "the module's token requests reached Gitea (positive control)")
	assert.True(t, bytes.Contains(sent, []byte("git-receive-pack")), "the module's push reached Gitea (positive control)")
	assert.True(t, bytes.Contains(sent, needles["sync token (basic auth)"]), "source-controller's basic auth with the sync token reached Gitea (positive control)")
	assert.True(t, bytes.Contains(sent, []byte("git-upload-pack")), "source-controller's fetch reached Gitea (positive control)")
}

// hopNeedles are the secrets as is and as the admin's basic-auth base64.
func hopNeedles(t *testing.T, secrets map[string]string) map[string][]byte {
	needles := map[string][]byte{}
	for what, v := range secrets {
		require.NotEmpty(t, v, what)
		needles[what] = []byte(v)
		needles[what+" (basic auth)"] = []byte(base64.StdEncoding.EncodeToString([]byte("gitea_admin:" + v)))
	}
	return needles
}

func TestKickoffNamesAFailedGiteaInstall(t *testing.T) {
	c := startCluster(t)
	stand := startStandIn(t, c)
	stand.mu.Lock()
	stand.chartError = "install failed: context deadline exceeded"
	stand.mu.Unlock()
	pathDir, _ := gitRecorder(t)
	res, _ := runModule(t, pathDir, with(baseArgs(c, site(t)), "timeout", 2))
	assert.Equal(t, true, res["failed"])
	assert.Contains(t, res["msg"], "Wait for Gitea: timed out after 2s waiting for Gitea to be available; last observed: Deployment gitea/gitea: not found; Chart kube-system/gitea: error: install failed: context deadline exceeded")
	st := stepStatus(t, res)
	assert.Equal(t, "changed", st["Gitea admin secret"])
	assert.Equal(t, "changed", st["Gitea chart"])
	assert.NotContains(t, st, "Gitea API token", "nothing runs after the failed step")
}

// The opt-in path: gitea_url given (here a recorder in front of Gitea standing for a NodePort on
// a node). It works as before, and it is what the docs say it is: plain HTTP, the API token and
// the push in clear on the wire; the default path's port-forward is not used.
func TestKickoffThroughAnOptInGiteaURLIsClearText(t *testing.T) {
	c := startCluster(t)
	useRealFlux(t, startStandIn(t, c))
	nodePort := startRecorder(t, "nodeport", strings.TrimPrefix(c.giteaURL, "http://"))
	pathDir, _ := gitRecorder(t)
	args := with(baseArgs(c, site(t)), "gitea_url", "http://"+nodePort.addr(), "gitea_tls", false,
		"gitea_chart", map[string]any{"values": map[string]any{"service": map[string]any{"http": map[string]any{"type": "NodePort"}}}})
	res, _ := runModule(t, pathDir, args)
	require.Equal(t, false, res["failed"], "%v", res["msg"])
	assert.Equal(t, "changed", stepStatus(t, res)["Flux reconciliation"])
	assert.NotContains(t, fmt.Sprint(res["warnings"]), "in clear", "a loopback gitea_url crosses no network: no warning")
	sent, _, _ := nodePort.bytes()
	token := secretValue(t, c, "gitea", "gitea-bootstrap-token", "token")
	assert.True(t, bytes.Contains(sent, []byte("Authorization: token "+token)), "the API token is in clear on an http:// gitea_url")
	assert.True(t, bytes.Contains(sent, []byte(base64.StdEncoding.EncodeToString([]byte("gitea_admin:"+testAdminPassword)))), "and so is the admin password, when a token is made")
	podSent, _, conns := c.node.podHop.bytes()
	assert.Zero(t, conns, "the port-forward is not used: %q", podSent)
	// With gitea_tls off, source-controller's clone crosses the pod network in clear: the clone
	// hop's check (checkHops) would fail here, which is what makes it a check.
	clone, _, conns := c.node.cloneHop.bytes()
	require.Greater(t, conns, 0)
	sync := secretValue(t, c, "flux-system", "flux-system", "password")
	assert.True(t, bytes.Contains(clone, hopNeedles(t, map[string]string{"sync token": sync})["sync token (basic auth)"]), "plain HTTP: the sync token's basic auth is in clear on the clone hop")
	_, err := c.kube.Get(context.Background(), kube.Ref{APIVersion: "v1", Kind: "Secret", Namespace: "gitea", Name: "gitea-tls"})
	assert.True(t, kube.IsNotFound(err), "no certificate is made with gitea_tls off")
	assert.NotContains(t, secretValue(t, c, "flux-system", "flux-system", "ca.crt"), "CERTIFICATE")
}
