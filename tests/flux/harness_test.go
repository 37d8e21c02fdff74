//go:build flux

package flux_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/business-operations/bo.microvm/internal/kube"
	"github.com/business-operations/bo.microvm/tests/k8s/kubetest"
	"github.com/business-operations/bo.microvm/tests/need"
)

// The suite needs a real kube-apiserver (tests/k8s), a real Gitea (tests/gitea), etcd and git;
// it is compiled only with -tags flux (make flux-test), and then anything missing is a failure.
func requireSuite(t *testing.T) {
	t.Helper()
	for _, bin := range []string{"etcd", "git", "openssl", "curl", "runuser", "age-keygen"} {
		need.Command(t, bin, "installed by .ci/deps")
	}
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// parseEnv reads `export K=V` lines.
func parseEnv(out string) map[string]string {
	env := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimPrefix(strings.TrimSpace(sc.Text()), "export ")
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	return env
}

// cluster is one real kube-apiserver + etcd and one real Gitea for a test.
type cluster struct {
	kubeconfig string
	giteaURL   string
	giteaDir   string
	giteaBin   string
	bootstrap  string // the bootstrap Gitea admin's password (test setup only)
	kube       *kube.Client
	k8sDir     string // the API server's state dir (its CA signs the controllers' certificates)
	k8sURL     string
	// moduleKubeconfig is the kubeconfig the module gets: kubeconfig with the server behind the
	// recorder node.apiHop (node_test.go); kubeconfig itself when no Gitea runs.
	moduleKubeconfig string
	node             *node
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	return startClusterWithChartCRD(t, "k0s-chart-crd-v1.35.yaml", true)
}

// startClusterWithChartCRD starts the cluster with k0s's Chart CRD as one k0s version defines
// it (internal/flux/testdata/k0s-chart-crd-*.yaml: what k0s provides and this bare API
// server lacks). Without withGitea no Gitea runs and giteaURL answers nothing.
func startClusterWithChartCRD(t *testing.T, crdFile string, withGitea bool) *cluster {
	t.Helper()
	requireSuite(t)
	ensureAgeKey(t)
	root := repoRoot()
	dir, err := os.MkdirTemp("", "bo-flux-")
	require.NoError(t, err)
	require.NoError(t, os.Chmod(dir, 0o755)) // Gitea runs as bo-gitea and must reach its dir below
	gport := kubetest.FreePorts(t, 1)
	genv := append(os.Environ(), "GITEA_DIR="+filepath.Join(dir, "gitea"), fmt.Sprintf("GITEA_PORT=%d", gport))
	t.Cleanup(func() {
		down := exec.Command(filepath.Join(root, "tests/gitea/server"), "down")
		down.Env = genv
		_ = down.Run()
		os.RemoveAll(dir)
	})
	k := kubetest.StartAPIServer(t, root) // stopped before the cleanup above runs
	c := &cluster{kubeconfig: k.Kubeconfig, giteaURL: "http://127.0.0.1:9", k8sDir: k.Dir, k8sURL: k.URL}
	c.moduleKubeconfig = c.kubeconfig
	if withGitea {
		up := exec.Command(filepath.Join(root, "tests/gitea/server"), "up")
		up.Env = genv
		out, err := up.CombinedOutput()
		require.NoError(t, err, "tests/gitea/server up: %s", out)
		ge := parseEnv(string(out))
		pw, err := os.ReadFile(filepath.Join(ge["GITEA_DIR"], "bootstrap-password"))
		require.NoError(t, err)
		c.giteaURL, c.giteaDir, c.giteaBin, c.bootstrap = ge["GITEA_URL"], ge["GITEA_DIR"], ge["GITEA_BIN"], string(pw)
	}
	c.kube, err = kube.Load(c.kubeconfig, "")
	require.NoError(t, err)
	crd, err := os.ReadFile(filepath.Join(root, "internal/flux/testdata", crdFile))
	require.NoError(t, err)
	objs, err := kube.DecodeManifests(crd)
	require.NoError(t, err)
	for _, o := range objs {
		_, err := c.kube.Apply(context.Background(), o, "bo-test")
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool {
		crd, err := c.kube.Get(context.Background(), kube.Ref{APIVersion: "apiextensions.k8s.io/v1", Kind: "CustomResourceDefinition", Name: "charts.helm.k0sproject.io"})
		st, _, _, _ := crd.Condition("Established")
		return err == nil && st == "True"
	}, 30*time.Second, 200*time.Millisecond)
	c.kube.ResetDiscovery()
	if withGitea {
		c.node = startNode(t, c)
	}
	return c
}

// moduleBinary builds modules/flux_kickoff once per test binary.
var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func moduleBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "bo-flux-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "flux_kickoff")
		cmd := exec.Command("go", "build", "-o", binPath, "./modules") // the multi-call binary; its name picks flux_kickoff
		cmd.Dir = repoRoot()
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return binPath
}

// gitRecorder puts a `git` wrapper first in PATH that appends its argv (one JSON line per call)
// to a log and runs the real git: the test can then assert no secret reached a command line.
func gitRecorder(t *testing.T) (pathDir, logFile string) {
	t.Helper()
	realGit, err := exec.LookPath("git")
	require.NoError(t, err)
	pathDir = t.TempDir()
	logFile = filepath.Join(pathDir, "argv.log")
	script := fmt.Sprintf(`#!/bin/sh
# argv recorder (tests/flux): log this call's arguments, then run the real git.
printf '%%s\0' "$0" "$@" >> %q
printf '\n' >> %q
exec %q "$@"
`, logFile, logFile, realGit)
	require.NoError(t, os.WriteFile(filepath.Join(pathDir, "git"), []byte(script), 0o755))
	return pathDir, logFile
}

// runModule runs the module binary with an args file as ansible-core would and returns its
// result, its raw stdout and stderr.
func runModule(t *testing.T, pathDir string, args map[string]any) (map[string]any, string) {
	t.Helper()
	bin := moduleBinary(t)
	dir := t.TempDir()
	argsFile := filepath.Join(dir, "args")
	b, err := json.Marshal(args)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(argsFile, b, 0o600))
	cmd := exec.Command(bin, argsFile)
	cmd.Env = append(os.Environ(), "PATH="+pathDir+":"+os.Getenv("PATH"))
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	_ = cmd.Run() // a failed module exits 1; its JSON says why
	var res map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout.String()), &res), "module output: %s\nstderr: %s", stdout.String(), stderr.String())
	return res, stdout.String() + stderr.String()
}
