//go:build k0s

// Package k0s_test runs the k0s_bootstrap module binary, exactly as Ansible runs it, against
// the k0s contract fake (tests/k0sfake) and, when available, a real kube-apiserver
// (tests/k8s). Each fake node gets its own state, data dir and /etc/systemd/system (a bind
// mount in a private mount namespace), so the module's code path is the production one.
package k0s_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/business-operations/bo.microvm/tests/need"
)

// bins are the module and the fake, built once per test binary.
var bins struct {
	module, fake string
}

// apiStandIn answers /version with 401 as a kube-apiserver does for an anonymous client:
// the join tokens of the no-API tests name it, so the module's reachability check passes.
var apiStandIn *httptest.Server

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "k0s-test-bins-")
	if err != nil {
		panic(err)
	}
	bins.module, bins.fake = filepath.Join(dir, "k0s_bootstrap"), filepath.Join(dir, "k0s")
	for out, pkg := range map[string]string{bins.module: "./modules" /* multi-call: _ansible_module_name picks k0s_bootstrap */, bins.fake: "./tests/k0sfake"} {
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Dir, cmd.Env = repoRoot(), append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", pkg, err, b)
			os.Exit(1)
		}
	}
	apiStandIn = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"kind":"Status","code":401}`, http.StatusUnauthorized)
	}))
	code := m.Run()
	apiStandIn.Close()
	os.RemoveAll(dir)
	os.Exit(code)
}

// needRoot fails without root and unshare(1): the fake nodes need a private mount namespace.
func needRoot(t *testing.T) {
	t.Helper()
	need.Root(t, "a private /etc/systemd/system per fake node (a mount namespace)")
	need.Command(t, "unshare", "Debian: util-linux")
}

// fakeNode is one machine running the k0s contract fake.
type fakeNode struct {
	name, dir  string
	kubeconfig string // the real API's admin kubeconfig ("" = no API)
	version    string // the k0s version the fake speaks (K0S_FAKE_VERSION; "" = its default)
}

// fakeVersions are the k0s versions the contract fake speaks (tests/k0sfake/testdata), the
// versions the module supports.
var fakeVersions = []string{"v1.35.3", "v1.34.10"}

func newFakeNode(t *testing.T, name, kubeconfig string) *fakeNode {
	t.Helper()
	n := &fakeNode{name: name, dir: t.TempDir(), kubeconfig: kubeconfig}
	for _, d := range []string{"units", "state", "etc"} {
		require.NoError(t, os.MkdirAll(filepath.Join(n.dir, d), 0o755))
	}
	return n
}

func (n *fakeNode) path(p string) string { return filepath.Join(n.dir, p) }

// args are the node-specific module options; extra wins.
func (n *fakeNode) args(extra map[string]any) map[string]any {
	a := map[string]any{
		"k0s_binary":  bins.fake,
		"config_path": n.path("etc/k0s.yaml"),
		"token_file":  n.path("etc/k0stoken"),
		"data_dir":    n.path("data"),
		"node_name":   n.name,
	}
	for k, v := range extra {
		a[k] = v
	}
	return a
}

// run runs the module binary on this node as Ansible would (args file, -vvv verbosity) and
// returns its JSON result and raw stdout.
func (n *fakeNode) run(t *testing.T, check bool, extra map[string]any) (map[string]any, string) {
	t.Helper()
	args := n.args(extra)
	args["_ansible_check_mode"] = check
	args["_ansible_diff"] = true
	args["_ansible_verbosity"] = 3
	args["_ansible_module_name"] = "k0s_bootstrap"
	args["_ansible_version"] = "2.14.18"
	args["_ansible_no_log"] = false
	data, err := json.Marshal(args)
	require.NoError(t, err)
	argsFile := filepath.Join(t.TempDir(), "args")
	require.NoError(t, os.WriteFile(argsFile, data, 0o600))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "--mount", "--propagation", "private", "sh", "-c",
		`mount --bind "$0" /etc/systemd/system && exec "$@"`, n.path("units"), bins.module, argsFile)
	cmd.Env = append(os.Environ(), "K0S_FAKE_STATE="+n.path("state"), "K0S_FAKE_NODE_NAME="+n.name,
		"K0S_FAKE_KUBECONFIG="+orNone(n.kubeconfig), "K0S_FAKE_VERSION="+n.version)
	if n.kubeconfig == "" {
		cmd.Env = append(cmd.Env, "K0S_FAKE_API_URL="+apiStandIn.URL)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	_ = cmd.Run()
	var res map[string]any
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &res), "module output %q, stderr %q", stdout.String(), stderr.String())
	return res, stdout.String()
}

func orNone(s string) string {
	if s == "" {
		return "/nonexistent/k0s-fake-no-api"
	}
	return s
}

// argv is every argv the fake recorded on this node.
func (n *fakeNode) argv(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(n.path("state/argv.log"))
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var a []string
		require.NoError(t, json.Unmarshal([]byte(line), &a))
		out = append(out, strings.Join(a[1:], " "))
	}
	return out
}

// tokenSecret is the secret half of the bootstrap token inside a k0s join token.
func tokenSecret(t *testing.T, token string) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(token)
	require.NoError(t, err)
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	require.NoError(t, err)
	kc, err := io.ReadAll(zr)
	require.NoError(t, err)
	for _, line := range strings.Split(string(kc), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "token: "); ok {
			_, secret, _ := strings.Cut(v, ".")
			require.NotEmpty(t, secret)
			return secret
		}
	}
	t.Fatal("no bootstrap token in the join token")
	return ""
}

func steps(res map[string]any) map[string]string {
	out := map[string]string{}
	l, _ := res["steps"].([]any)
	for _, s := range l {
		m := s.(map[string]any)
		out[m["title"].(string)] = m["status"].(string)
	}
	return out
}

func changedSteps(res map[string]any) []string {
	var out []string
	l, _ := res["steps"].([]any)
	for _, s := range l {
		m := s.(map[string]any)
		if st := m["status"].(string); st == "changed" || st == "would change" {
			out = append(out, m["title"].(string))
		}
	}
	return out
}
