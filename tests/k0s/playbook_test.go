//go:build k0s

package k0s_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/business-operations/bo.microvm/tests/need"
)

// TestPlaybookOnLocalFakeNodes runs playbooks/bootstrap-existing-machines.yaml with
// ansible-playbook against two fake nodes on this machine (a controller+worker that
// bootstraps and a worker; connection local, each command in the node's own mount
// namespace) and a real kube-apiserver: check mode predicts the first run's changes, the
// first run bootstraps and joins, the second changes nothing, the kubeconfig is 0600, and no
// token reaches the -vvv output or any argv.
func TestPlaybookOnLocalFakeNodes(t *testing.T) {
	needRoot(t)
	need.Command(t, "ansible-playbook", "Debian: ansible-core, installed by .ci/deps")
	collection := filepath.Join(repoRoot(), "build", "collections")
	need.File(t, filepath.Join(repoRoot(), "plugins", "modules", "k0s_bootstrap_linux_amd64"), "make build, as make k0s-test does")
	kc := apiServer(t)
	stop := controllerStandIn(t, kc)
	defer stop()

	dir := t.TempDir()
	nodes := map[string]*fakeNode{"k0s-cp1": newFakeNode(t, "k0s-cp1", kc), "k0s-w1": newFakeNode(t, "k0s-w1", kc)}
	var inv strings.Builder
	inv.WriteString("all:\n  children:\n    microvms:\n      vars:\n        ansible_connection: local\n        ansible_remote_tmp: /tmp/.ansible-k0s-test\n")
	inv.WriteString("        k0s_addons_timeout: 120\n        k0s_timeout: 120\n")
	inv.WriteString("        k0s_api_address: 127.0.0.1\n        k0s_admin_kubeconfig: " + filepath.Join(dir, "admin.kubeconfig") + "\n")
	inv.WriteString("      hosts:\n")
	for name, n := range nodes {
		// The node's shell: its own /etc/systemd/system and fake state, then sh.
		shell := n.path("sh")
		script := fmt.Sprintf("#!/bin/sh\nexport K0S_FAKE_STATE=%s K0S_FAKE_NODE_NAME=%s K0S_FAKE_KUBECONFIG=%s\n"+
			"exec unshare --mount --propagation private /bin/sh -c 'mount --bind \"$1\" /etc/systemd/system && shift && exec /bin/sh \"$@\"' node %s \"$@\"\n",
			n.path("state"), name, kc, n.path("units"))
		require.NoError(t, os.WriteFile(shell, []byte(script), 0o755))
		role, boot := "worker", "false"
		if name == "k0s-cp1" {
			role, boot = "controller+worker", "true"
		}
		fmt.Fprintf(&inv, "        %s:\n          ansible_host: %s\n          ansible_shell_executable: %s\n          k0s_role: %s\n          k0s_bootstrap: %s\n"+
			"          k0s_binary: %s\n          k0s_data_dir: %s\n          k0s_config_path: %s\n          k0s_token_file: %s\n",
			name, map[string]string{"k0s-cp1": "127.0.0.1", "k0s-w1": "127.0.0.2"}[name], shell, role, boot,
			bins.fake, n.path("data"), n.path("etc/k0s.yaml"), n.path("etc/k0stoken"))
		if name == "k0s-cp1" {
			// k0s_extra_args reach k0s install and, compared with the running Args, keep the
			// second run at changed=0.
			inv.WriteString("          k0s_extra_args: [--disable-components=metrics-server]\n")
		}
	}
	invPath := filepath.Join(dir, "inventory.yaml")
	require.NoError(t, os.WriteFile(invPath, []byte(inv.String()), 0o644))

	play := func(check bool) (map[string]int, string) {
		args := []string{"-i", invPath, filepath.Join(repoRoot(), "playbooks", "bootstrap-existing-machines.yaml"), "-vvv"}
		if check {
			args = append(args, "--check")
		}
		cmd := exec.Command("ansible-playbook", args...)
		cmd.Env = append(os.Environ(), "ANSIBLE_COLLECTIONS_PATH="+collection, "ANSIBLE_HOST_KEY_CHECKING=False", "ANSIBLE_NOCOLOR=1")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "ansible-playbook (check=%v):\n%s", check, tail(string(out), 80))
		return recap(t, string(out)), string(out)
	}

	predicted, checkOut := play(true)
	_, err := os.Stat(nodes["k0s-cp1"].path("etc/k0s.yaml"))
	assert.True(t, os.IsNotExist(err), "check mode wrote k0s.yaml:\n%s", tail(checkOut, 40))

	first, firstOut := play(false)
	t.Logf("changed per host: check mode %v, first run %v", predicted, first)
	assert.Equal(t, predicted, first, "check mode predicts the first run's changes per host")
	assert.Greater(t, first["k0s-cp1"], 0)
	assert.Greater(t, first["k0s-w1"], 0)
	fi, err := os.Stat(filepath.Join(dir, "admin.kubeconfig"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	kcText, err := os.ReadFile(filepath.Join(dir, "admin.kubeconfig"))
	require.NoError(t, err)
	assert.Contains(t, string(kcText), "server: https://127.0.0.1:6443")

	assert.Contains(t, strings.Join(nodes["k0s-cp1"].argv(t), "\n"), "--enable-worker=true --disable-components=metrics-server", "k0s_extra_args reach k0s install")

	second, secondOut := play(false)
	assert.Equal(t, map[string]int{"k0s-cp1": 0, "k0s-w1": 0}, second, "a second run changes nothing:\n%s", tail(secondOut, 60))

	// Every token the fake made must stay out of the -vvv output and every argv.
	st, err := os.ReadFile(nodes["k0s-w1"].path("etc/k0stoken"))
	require.NoError(t, err)
	token := strings.TrimSpace(string(st))
	for _, s := range []string{token, tokenSecret(t, token)} {
		for _, out := range []string{checkOut, firstOut, secondOut} {
			assert.NotContains(t, out, s, "a token reached the -vvv output")
		}
		for _, n := range nodes {
			assert.NotContains(t, strings.Join(n.argv(t), "\n"), s, "a token reached argv on %s", n.name)
		}
	}
}

var recapLine = regexp.MustCompile(`(?m)^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)`)

// recap reads changed= per host from the PLAY RECAP.
func recap(t *testing.T, out string) map[string]int {
	t.Helper()
	i := strings.LastIndex(out, "PLAY RECAP")
	require.GreaterOrEqual(t, i, 0, "no PLAY RECAP in:\n%s", tail(out, 40))
	got := map[string]int{}
	for _, m := range recapLine.FindAllStringSubmatch(out[i:], -1) {
		if m[1] == "localhost" {
			continue
		}
		n, _ := strconv.Atoi(m[2])
		got[m[1]] = n
		require.Equal(t, "0", m[4], "failed tasks on %s:\n%s", m[1], tail(out, 60))
	}
	return got
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
