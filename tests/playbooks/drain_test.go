//go:build playbooks

package playbooks

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A rolling restart with the roles' defaults drains through the admin kubeconfig where
// k0s_bootstrap's defaults write it (~/.kube/<k0s_cluster_name>.conf on the controller), not
// through a path of its own: before, restart-microvms.yaml looked for
// INVENTORY_DIR/k0s-admin.kubeconfig and `is exists` (os.path.exists, no ~ expansion), so after a
// default bootstrap every restart said "the cluster is not bootstrapped yet" and drained nothing.
//
// The kubeconfig names a closed port on this machine (127.0.0.1:9), so the drain task runs and
// fails naming it; that failure stops the batch before any VM is touched (run_once), so no
// hypervisor is contacted.
const drainInventory = `all:
  children:
    microvm_hypervisors:
      hosts:
        hv1: {ansible_host: 127.0.0.1, ansible_port: 9}
    microvms:
      hosts:
        w1: {microvm_host: hv1, k0s_role: worker, ansible_host: 127.0.0.31}
`

const drainPlaybook = `- hosts: localhost
  gather_facts: false
  tasks:
    - name: The rolling restart of the deploy, restart and rollback playbooks
      ansible.builtin.include_role:
        name: bo.microvm.microvm_common
        tasks_from: rolling_restart
      vars:
        bo_microvm_plan: {vms: [w1]}
        bo_microvm_restart_vms: [w1]
`

const closedPortKubeconfig = `apiVersion: v1
kind: Config
clusters: [{name: k0s, cluster: {server: "https://127.0.0.1:9", insecure-skip-tls-verify: true}}]
users: [{name: admin, user: {token: not-a-secret}}]
contexts: [{name: k0s, context: {cluster: k0s, user: admin}}]
current-context: k0s
`

func TestRollingRestartDrainsThroughTheKubeconfigBootstrapWrote(t *testing.T) {
	dir := t.TempDir()
	inv, pb := filepath.Join(dir, "inventory.yaml"), filepath.Join(dir, "restart.yaml")
	require.NoError(t, os.WriteFile(inv, []byte(drainInventory), 0o644))
	require.NoError(t, os.WriteFile(pb, []byte(drainPlaybook), 0o644))
	run := func(home string, extra ...string) string {
		out, err := ansiblePlaybookEnv(t, []string{"HOME=" + home, "ANSIBLE_LOCAL_TEMP=" + filepath.Join(home, "tmp")},
			append([]string{"-i", inv, pb}, extra...)...)
		require.Error(t, err, "the drain (or, without it, the restart on the unreachable hv1) must fail:\n%s", out)
		return out
	}

	for name, c := range map[string]struct {
		file  string // where the kubeconfig is, under HOME
		extra []string
	}{
		"default cluster name":             {".kube/k0s.conf", nil},
		"k0s_cluster_name":                 {".kube/lab.conf", []string{"-e", "k0s_cluster_name=lab"}},
		"a ~ path in k0s_admin_kubeconfig": {"admin/cluster.conf", []string{"-e", "k0s_admin_kubeconfig=~/admin/cluster.conf"}},
	} {
		t.Run(name, func(t *testing.T) {
			home := t.TempDir()
			require.NoError(t, os.MkdirAll(filepath.Join(home, filepath.Dir(c.file)), 0o700))
			require.NoError(t, os.WriteFile(filepath.Join(home, c.file), []byte(closedPortKubeconfig), 0o600))
			out := run(home, c.extra...)
			assert.NotContains(t, out, "No admin kubeconfig", "the kubeconfig was not found")
			assert.Contains(t, out, "TASK [bo.microvm.microvm_common : Drain the k0s nodes of the batch before their VMs stop]")
			assert.Regexp(t, `127\.0\.0\.1:9.*(connection refused|connect)`, out, "the drain used that kubeconfig")
			assert.NotContains(t, out, "TASK [bo.microvm.microvm_common : Restart a batch of VMs", "a failed drain stops the batch")
		})
	}

	t.Run("no kubeconfig: restart without draining, and say where it looked", func(t *testing.T) {
		home := t.TempDir()
		out := run(home)
		assert.Contains(t, out, "No admin kubeconfig at "+home+"/.kube/k0s.conf")
		assert.Regexp(t, `Drain the k0s nodes of the batch before their VMs stop\] \*+\nskipping: \[localhost\] => \(item=w1: node w1\)`, out)
	})
}
