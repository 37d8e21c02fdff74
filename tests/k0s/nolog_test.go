//go:build k0s

package k0s_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAJoinTokenNeverReachesTheOutputWithoutTaskNoLog runs `state: token` through real
// ansible-playbook -vvv with no `no_log` on the task, on the fast and on the plain path: the
// module asks for its result to be hidden (bo_microvm_no_log), the action plugin hides it, so
// no byte of the token reaches the output, no warning prints an internal key, and the
// registered variable still holds the token (which, as with no_log: true on the task, a later
// debug of the variable would print: no_log hides a task's result, not its later uses).
func TestAJoinTokenNeverReachesTheOutputWithoutTaskNoLog(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("ansible-playbook"); err != nil {
		t.Fatal("ansible-playbook (ansible-core) is needed")
	}
	collection := filepath.Join(repoRoot(), "build", "collections")
	_, err := os.Stat(filepath.Join(repoRoot(), "plugins", "modules", "k0s_bootstrap_linux_amd64"))
	require.NoError(t, err, "run make build first")

	cp1 := newFakeNode(t, "k0s-cp1", "")
	first, _ := cp1.run(t, false, merged(bootstrapArgs, noWaits))
	require.NotEqual(t, true, first["failed"], "bootstrap: %v", first["msg"])

	shell := cp1.path("sh")
	require.NoError(t, os.WriteFile(shell, []byte(fmt.Sprintf("#!/bin/sh\nexport K0S_FAKE_STATE=%s K0S_FAKE_NODE_NAME=k0s-cp1 K0S_FAKE_KUBECONFIG=%s K0S_FAKE_API_URL=%s\n"+
		"exec unshare --mount --propagation private /bin/sh -c 'mount --bind \"$1\" /etc/systemd/system && shift && exec /bin/sh \"$@\"' node %s \"$@\"\n",
		cp1.path("state"), orNone(""), apiStandIn.URL, cp1.path("units"))), 0o755))
	for _, fast := range []bool{true, false} {
		dir := t.TempDir()
		tokenOut := filepath.Join(dir, "token")
		pb := fmt.Sprintf(`- hosts: k0s-cp1
  gather_facts: false
  vars: {bo_microvm_fast_path: %v}
  tasks:
    - name: token
      bo.microvm.k0s_bootstrap:
        state: token
        token_role: worker
        k0s_binary: %s
        data_dir: %s
        config_path: %s
        token_file: %s
      register: tok
    - name: keep it for the test
      ansible.builtin.copy:
        dest: %s
        content: "{{ tok.token }}"
      no_log: true
`, fast, bins.fake, cp1.path("data"), cp1.path("etc/k0s.yaml"), cp1.path("etc/k0stoken"), tokenOut)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "pb.yml"), []byte(pb), 0o644))
		inv := fmt.Sprintf("k0s-cp1 ansible_connection=local ansible_shell_executable=%s ansible_remote_tmp=%s\n", shell, filepath.Join(dir, "remote"))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "inv"), []byte(inv), 0o644))
		cmd := exec.Command("ansible-playbook", "-vvv", "-i", filepath.Join(dir, "inv"), filepath.Join(dir, "pb.yml"))
		cmd.Env = append(os.Environ(), "ANSIBLE_COLLECTIONS_PATH="+collection, "ANSIBLE_NOCOLOR=1", "XDG_CACHE_HOME="+filepath.Join(dir, "cache"))
		b, err := cmd.CombinedOutput()
		out := string(b)
		require.NoError(t, err, "fast=%v:\n%s", fast, tail(out, 60))

		tb, err := os.ReadFile(tokenOut)
		require.NoError(t, err)
		token := strings.TrimSpace(string(tb))
		require.NotEmpty(t, token, "the registered result keeps the token")
		for _, s := range []string{token, tokenSecret(t, token)} {
			assert.NotContains(t, out, s, "fast=%v: a token reached the -vvv output", fast)
		}
		assert.Contains(t, out, "the output has been hidden due to the fact that 'no_log: true' was specified", "fast=%v", fast)
		assert.NotContains(t, out, "Removed unexpected internal key", "fast=%v", fast)
		assert.NotContains(t, out, "bo_microvm_no_log", "fast=%v: the request is consumed by the action plugin", fast)
	}
}
