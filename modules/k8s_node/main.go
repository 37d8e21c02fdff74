// Command k8s_node is the bo.microvm.k8s_node module: it drains a Kubernetes node (cordon,
// then evictions that honour PodDisruptionBudgets), waits until it is Ready after a new boot,
// and uncordons it, so that a rolling restart of VMs moves workloads off each node first.
package main

import (
	"context"

	"github.com/business-operations/bo.microvm/internal/ansible"
	"github.com/business-operations/bo.microvm/internal/node"
	"github.com/business-operations/bo.microvm/internal/step"
)

func main() {
	ansible.Main(ansible.Module{
		Name:             "k8s_node",
		ShortDescription: "Drain, await and uncordon a Kubernetes node around a restart of its machine",
		Description: []string{
			"Runs where the cluster's admin kubeconfig is (usually the Ansible controller, C(delegate_to: localhost)) and talks to the API server only.",
			"C(state: drained) cordons the node (C(spec.unschedulable)) and evicts its pods through the C(policy/v1) Eviction API, as C(kubectl drain --ignore-daemonsets) does: DaemonSet pods and mirror pods stay; pods with C(emptyDir) volumes and pods that declare no controller refuse the drain (naming them) unless I(delete_emptydir_data) and I(force) allow them; nothing is evicted while one pod refuses.",
			"An eviction that a PodDisruptionBudget forbids (the API server answers 429) is retried every I(poll_interval) until I(timeout); then the module fails naming the pod and the budget with its status, and uncordons the node again if this run cordoned it. Evicted pods are awaited until they are gone.",
			"C(state: ready) waits until the node is registered and its C(Ready) condition is C(True); with I(after_boot_id) only once it reports another boot ID (C(status.nodeInfo.bootID)), i.e. its kubelet posted status from a new boot, so a stale C(Ready) from before a restart does not count. A node that does not come back within I(timeout) fails the task.",
			"C(state: uncordoned) makes the node schedulable again.",
		},
		Notes: []string{
			"Check mode reads everything and reports what would change; for C(drained) it also asks the API server with dry-run evictions which pods a budget forbids now, and warns about them.",
			"The node name of a k0s worker is its lowercase host name (k0sproject/k0s pkg/node/nodename.go), which bo.microvm's guest module sets to the VM name.",
		},
		Spec: ansible.Spec{Options: []ansible.Option{
			{Name: "name", Required: true, Description: []string{"The node's name."}},
			{Name: "state", Required: true, Choices: []any{node.Drained, node.Ready, node.Uncordoned}, Description: []string{"C(drained): cordoned and without evictable pods. C(ready): registered and Ready (waits). C(uncordoned): schedulable."}},
			{Name: "kubeconfig", Type: ansible.Path, Required: true, Description: []string{"Admin kubeconfig of the cluster (what C(bootstrap-existing-machines.yaml) writes to C(k0s_admin_kubeconfig))."}},
			{Name: "context", Description: []string{"Kubeconfig context; the current one when omitted."}},
			{Name: "timeout", Type: ansible.Int, Default: 300, Description: []string{"Seconds the evictions (retries included) and the termination of evicted pods may take (C(drained)), or the wait for the node (C(ready))."}},
			{Name: "poll_interval", Type: ansible.Float, Default: 5.0, Description: []string{"Seconds between two eviction attempts a budget refused (kubectl drain waits 5) and between reads while waiting."}},
			{Name: "grace_period", Type: ansible.Int, Default: -1, Description: []string{"Seconds each evicted pod gets to terminate; C(-1) keeps each pod's own C(terminationGracePeriodSeconds)."}},
			{Name: "force", Type: ansible.Bool, Default: false, Description: []string{"Also evict pods that declare no controller and pods whose DaemonSet is gone (nothing recreates them), as C(kubectl drain --force)."}},
			{Name: "delete_emptydir_data", Type: ansible.Bool, Default: false, Description: []string{"Also evict running pods with C(emptyDir) volumes (their data is lost), as C(kubectl drain --delete-emptydir-data)."}},
			{Name: "after_boot_id", Description: []string{"With C(state: ready): the boot ID the node reported before its machine restarted (the C(boot_id) that C(state: drained) returned); the node counts as back only with another one."}},
		}},
		CheckMode: ansible.Full,
		DiffMode:  ansible.Full,
		Examples: `
- name: Drain the node before its VM restarts
  bo.microvm.k8s_node:
    name: k0s-w1
    state: drained
    kubeconfig: "{{ inventory_dir }}/k0s-admin.kubeconfig"
    grace_period: 120
    delete_emptydir_data: true
    force: true
  delegate_to: localhost
  register: drained

- name: Wait until the node is back from its new boot
  bo.microvm.k8s_node:
    name: k0s-w1
    state: ready
    after_boot_id: "{{ drained.boot_id }}"
    kubeconfig: "{{ inventory_dir }}/k0s-admin.kubeconfig"
    timeout: 600
  delegate_to: localhost

- name: Make it schedulable again
  bo.microvm.k8s_node:
    name: k0s-w1
    state: uncordoned
    kubeconfig: "{{ inventory_dir }}/k0s-admin.kubeconfig"
  delegate_to: localhost
`,
		Returns: []ansible.Return{
			{Name: "steps", Type: "list", Elements: "dict", Returned: "always", Description: step.ReturnDoc,
				Sample: []any{map[string]any{"title": "cordon node k0s-w1", "status": "changed", "reason": "node k0s-w1 is schedulable"}}},
			{Name: "name", Type: "str", Returned: "always", Description: "The node.", Sample: "k0s-w1"},
			{Name: "unschedulable", Type: "bool", Returned: "always", Description: "Whether the node is cordoned now (false when it could not be read).", Sample: true},
			{Name: "ready", Type: "bool", Returned: "always", Description: "Whether its Ready condition is True now.", Sample: true},
			{Name: "boot_id", Type: "str", Returned: "always", Description: "The boot ID the node reports (C(status.nodeInfo.bootID)); give it to a later C(state: ready) as I(after_boot_id).", Sample: "0f6b3c0e-8f0e-4b7e-9d43-2f1f5d7f3a11"},
			{Name: "evicted", Type: "list", Elements: "str", Returned: "always", Description: "The pods this run evicted (C(namespace/name)).", Sample: []any{"default/web-5d8f7c9b4-x2lqp"}},
			{Name: "skipped", Type: "list", Elements: "str", Returned: "always", Description: "The pods left on the node and why (DaemonSet and mirror pods).", Sample: []any{"kube-system/cilium-8xk2p: managed by DaemonSet cilium"}},
		},
		Run: func(ctx context.Context, inv *ansible.Invocation) (*ansible.Result, error) {
			return node.Module(ctx, inv)
		},
	})
}
