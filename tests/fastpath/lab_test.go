//go:build fastpath

package fastpath

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// labTasks is one task per module, each safe on a lab hypervisor (check mode, or arguments
// that fail before acting), so fast and plain path can be compared on real results over SSH.
var labTasks = []struct{ name, task string }{
	{"ping", "bo.microvm.ping:\n        data: parity"},
	{"microvm_info", "bo.microvm.microvm_info:"},
	{"microvm_service", "bo.microvm.microvm_service:\n        name: [k0s-cp1]\n        state: stopped\n      check_mode: true"},
	{"microvm_volume", "bo.microvm.microvm_volume:\n        name: [k0s-cp1]\n        volumes: [{path: parity.img, size: 64, fs_type: none}]\n      check_mode: true"},
	{"microvm_install", "bo.microvm.microvm_install:\n        name: [noparity]\n        state: absent\n      check_mode: true"},
	{"k0s_bootstrap", "bo.microvm.k0s_bootstrap:\n        role: worker\n        k0s_binary: /nonexistent/k0s\n      check_mode: true"},
	{"flux_kickoff", "bo.microvm.flux_kickoff:\n        kubeconfig: /nonexistent/kubeconfig\n        gitea_url: http://127.0.0.1:9\n        repo: parity\n        site_dir: /nonexistent/site\n        cluster_path: clusters/parity\n      check_mode: true"},
}

// labInventory is the inventory of the lab the BO_LAB_* variables name (tests/lab/README.md).
func labInventory(t *testing.T) string {
	t.Helper()
	run := os.Getenv("BO_LAB_RUN")
	if run == "" {
		run = "/run/bo-lab"
	}
	inv := filepath.Join(run, "inventory.yaml")
	if _, err := os.Stat(inv); err != nil {
		t.Fatalf("no lab inventory at %s: start the lab (tests/lab/lab up, with the BO_LAB_* of a private lab)", inv)
	}
	return inv
}

// TestEveryModuleGivesTheSameResultOnTheFastAndThePlainPath runs every module on a lab
// hypervisor over SSH, once per path and controller, and compares the registered results.
// It also checks the ssh connection's -vvv line never shows a module's raw output.
func TestEveryModuleGivesTheSameResultOnTheFastAndThePlainPath(t *testing.T) {
	inv := labInventory(t)
	for _, ctrl := range controllers(t) {
		t.Run("ansible-core "+ctrl, func(t *testing.T) {
			hv(t, inv, "rm -rf /root/.cache/bo-microvm")
			fast := labPlay(t, ctrl, inv, true)
			plain := labPlay(t, ctrl, inv, false)
			for _, m := range labTasks {
				f, p := fast.results[m.name], plain.results[m.name]
				require.NotNil(t, f, "%s ran on the fast path", m.name)
				delete(p, "ansible_facts") // the plain path remembers the probed architecture
				assert.Equal(t, p, f, "%s: fast and plain path give the same result", m.name)
				t.Logf("%s: changed=%v failed=%v msg=%.100v", m.name, f["changed"], f["failed"], f["msg"])
			}
			assert.Equal(t, "parity", fast.results["ping"]["ping"])
			assert.Contains(t, plain.out, "PUT ", "the plain path transfers the binary")
			for name, r := range map[string]run{"fast": fast, "plain": plain} {
				for _, m := range labTasks {
					s := taskSection(r.out, m.name)
					assert.NotContains(t, s, "> (0, b'", "%s path, %s: the connection printed a module's raw output", name, m.name)
					assert.NotContains(t, s, "> (1, b'", "%s path, %s: the connection printed a module's raw output", name, m.name)
					assert.Contains(t, s, "stdout and stderr censored due to no log", "%s path, %s", name, m.name)
				}
			}
		})
	}
}

func hv(t *testing.T, inv, cmd string) {
	t.Helper()
	out, err := exec.Command(filepath.Join(repoDir(), "tests/lab/lab"), "hv", "hv1", cmd).CombinedOutput()
	require.NoError(t, err, "lab hv hv1 %s: %s", cmd, out)
}

func labPlay(t *testing.T, ctrl, inv string, fast bool) run {
	t.Helper()
	dir := t.TempDir()
	var pb strings.Builder
	fmt.Fprintf(&pb, "- hosts: hv1\n  gather_facts: false\n  vars: {bo_microvm_fast_path: %v}\n  tasks:\n", fast)
	var dump []string
	for _, m := range labTasks {
		fmt.Fprintf(&pb, "    - name: %s\n      %s\n      register: r_%s\n      ignore_errors: true\n", m.name, m.task, m.name)
		dump = append(dump, fmt.Sprintf("'%s': r_%s", m.name, m.name))
	}
	fmt.Fprintf(&pb, "    - name: dump\n      delegate_to: localhost\n      ansible.builtin.copy:\n        dest: %s/results.json\n        content: \"{{ {%s} | to_json }}\"\n",
		dir, strings.Join(dump, ", "))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "pb.yml"), []byte(pb.String()), 0o644))
	cmd := exec.Command(filepath.Join(repoDir(), "tests/lab/controller"), ctrl, "ansible-playbook", "-i", inv, "-vvv", filepath.Join(dir, "pb.yml"))
	cmd.Env = append(os.Environ(), "ANSIBLE_COLLECTIONS_PATH="+filepath.Join(repoDir(), "build/collections"),
		"ANSIBLE_HOST_KEY_CHECKING=False", "ANSIBLE_NOCOLOR=1", "ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3",
		"ANSIBLE_LOCAL_TEMP="+filepath.Join(dir, "local"))
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	require.NoError(t, cmd.Run(), buf.String())
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	require.NoError(t, err)
	var res map[string]map[string]any
	require.NoError(t, json.Unmarshal(b, &res))
	return run{out: buf.String(), results: res}
}

// taskSection is the output of one task, from its TASK line to the next.
func taskSection(out, name string) string {
	i := strings.Index(out, "TASK ["+name+"]")
	if i < 0 {
		return ""
	}
	rest := out[i+1:]
	if j := strings.Index(rest, "\nTASK ["); j >= 0 {
		return rest[:j]
	}
	return rest
}
