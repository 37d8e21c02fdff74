//go:build e2e

package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/business-operations/bo.microvm/tests/k8s/kubetest"
)

// TestDrainAwareRestart restarts the worker VM k0s-w1 with restart-microvms.yaml while a
// cluster's admin kubeconfig exists. Its k0s node lives in a real kube-apiserver on this
// machine (where the role's delegate_to: localhost tasks run); a kubelet stand-in posts the
// node's status with the guest's real boot ID, read over SSH, while the guest answers, and
// nothing while it is down. With a PodDisruptionBudget that forbids evicting the node's web
// pod, the restart waits, then fails naming the pod and the budget, and the VM keeps running
// (same boot ID, node schedulable). With one that allows it, the node is cordoned and
// drained, the VM restarts, the node is Ready from the new boot and is uncordoned, in that
// order. Without a kubeconfig the VM restarts as before and the output says why nothing was
// drained. A node that does not come back from the restart stops the roll, cordoned.
func TestDrainAwareRestart(t *testing.T) {
	lab := Lab(t)
	const vm = "k0s-w1"
	lab.Claim(t, vm)
	hv := lab.VMs[vm].Host
	pb := func(name string) string { return filepath.Join(lab.Repo, "playbooks", name) }
	reset := func() {
		lab.ResetVM(t, hv, vm)
		lab.HV(t, hv, "systemctl stop microvm@"+vm+"; rm -rf /var/lib/microvms/"+vm+" /nix/var/nix/gcroots/microvm/*"+vm)
	}
	t.Cleanup(reset)
	reset()
	lab.Playbook(t, "2.14", pb("deploy-microvms.yaml"), Vars{"microvm_require_kvm": false}, "--limit", vm).RequireOK(t)
	lab.WaitSSH(t, vm, 3*time.Minute)
	// A guest that just answered on port 22 may still be slow to complete an SSH handshake
	// on a loaded machine: wait for a whole SSH session first.
	bootID := func(t *testing.T) string {
		lab.WaitSSH(t, vm, 3*time.Minute)
		return strings.TrimSpace(lab.SSH(t, vm, "cat /proc/sys/kernel/random/boot_id"))
	}

	cl := kubetest.NewCluster(t, lab.Repo)
	cl.AddNode(vm)
	cl.AddNode("other")
	var mu sync.Mutex
	frozen := "" // when set, the kubelet stand-in keeps reporting this boot ID: the node never comes back
	cl.StartStandInWith(func(node string) string {
		if node != vm {
			return "boot-of-other"
		}
		mu.Lock()
		f := frozen
		mu.Unlock()
		if f != "" {
			return f
		}
		out, err := lab.RunShared(vm, "cat /proc/sys/kernel/random/boot_id", 5*time.Second)
		if err != nil {
			return "" // the guest does not answer: its kubelet posts nothing
		}
		return strings.TrimSpace(out)
	}, vm, "other")
	require.Eventually(t, func() bool { return cl.Node(vm).Status.NodeInfo.BootID == bootID(t) }, time.Minute, time.Second)

	vars := Vars{"microvm_require_kvm": false, "microvm_drain_kubeconfig": cl.Kubeconfig,
		"microvm_drain_timeout": 20, "microvm_drain_grace_period": 0, "microvm_node_ready_timeout": 300}
	with := func(k string, v any) Vars {
		out := Vars{}
		for a, b := range vars {
			out[a] = b
		}
		out[k] = v
		return out
	}
	const (
		drainTask   = "Drain the k0s nodes of the batch before their VMs stop"
		restartTask = "Restart a batch of VMs and wait until they answer"
		readyTask   = "Wait until the k0s nodes of the batch are Ready from their new boot"
		uncordTask  = "Uncordon the k0s nodes of the batch"
	)
	cl.AddPod("web-b", "other", "ReplicaSet/web-1", map[string]string{"app": "web"}, nil, "")
	cl.AddPDB("web", "web", 2)
	setMinAvailable := func(n int) {
		require.NoError(t, cl.Do("PATCH", "/apis/policy/v1/namespaces/default/poddisruptionbudgets/web", "application/merge-patch+json",
			`{"spec":{"minAvailable":`+map[int]string{1: "1", 2: "2"}[n]+`}}`, nil))
		require.Eventually(t, func() bool {
			var b struct {
				Metadata struct{ Generation int64 }
				Status   struct{ ObservedGeneration, DesiredHealthy int64 }
			}
			return cl.Do("GET", "/apis/policy/v1/namespaces/default/poddisruptionbudgets/web", "", "", &b) == nil &&
				b.Status.ObservedGeneration == b.Metadata.Generation && b.Status.DesiredHealthy == int64(n)
		}, 20*time.Second, 200*time.Millisecond)
	}

	for _, ctrl := range lab.Controllers() {
		t.Run("controller "+ctrl, func(t *testing.T) {
			cl.AddPod("web-a", vm, "ReplicaSet/web-1", map[string]string{"app": "web"}, nil, "")
			// The callback names a role's task "ROLE : NAME"; run_once tasks report on the play's first host.
			hostsTask := func(r *Result, task string) (TaskResult, bool) {
				for i := len(r.Tasks) - 1; i >= 0; i-- {
					if strings.HasSuffix(r.Tasks[i].Task, task) {
						return r.Tasks[i], true
					}
				}
				return TaskResult{}, false
			}

			// A budget that forbids the eviction: wait, fail clearly, leave the VM running.
			setMinAvailable(2)
			before := bootID(t)
			start := time.Now()
			refused := lab.Playbook(t, ctrl, pb("restart-microvms.yaml"), vars, "--limit", vm)
			require.NotZero(t, refused.RC, "a forbidden drain fails the restart:\n%s", refused.Output)
			assert.GreaterOrEqual(t, time.Since(start), 20*time.Second, "the drain retried until microvm_drain_timeout")
			for _, want := range []string{"pod default/web-a", "PodDisruptionBudget default/web (disruptions allowed 0", "The disruption budget web needs 2 healthy pods"} {
				assert.Contains(t, refused.Output, want)
			}
			_, restarted := hostsTask(refused, restartTask)
			assert.False(t, restarted, "no VM was restarted after the failed drain")
			assert.Equal(t, before, bootID(t), "the VM kept running")
			assert.True(t, cl.PodExists("web-a"))
			assert.False(t, cl.Node(vm).Spec.Unschedulable, "the node is schedulable again")

			// A budget that allows it: drain, restart, Ready from the new boot, uncordon.
			setMinAvailable(1)
			ok := lab.Playbook(t, ctrl, pb("restart-microvms.yaml"), vars, "--limit", vm)
			ok.RequireOK(t)
			after := bootID(t)
			assert.NotEqual(t, before, after, "the VM restarted")
			assert.False(t, cl.PodExists("web-a"), "the web pod was evicted")
			assert.True(t, cl.PodExists("web-b"))
			n := cl.Node(vm)
			assert.False(t, n.Spec.Unschedulable, "the node is uncordoned")
			assert.Equal(t, after, n.Status.NodeInfo.BootID)
			var order []string
			for _, tr := range ok.Tasks {
				for _, name := range []string{drainTask, restartTask, readyTask, uncordTask} {
					if strings.HasSuffix(tr.Task, name) && (len(order) == 0 || order[len(order)-1] != name) {
						order = append(order, name)
					}
				}
			}
			assert.Equal(t, []string{drainTask, restartTask, readyTask, uncordTask}, order)
			drain, _ := hostsTask(ok, drainTask)
			assert.True(t, drain.Changed, "the drain changed the node")
			uncord, _ := hostsTask(ok, uncordTask)
			assert.True(t, uncord.Changed, "the node was uncordoned")

			// No kubeconfig (the cluster is not bootstrapped): restart as before, and say so.
			plain := lab.Playbook(t, ctrl, pb("restart-microvms.yaml"), with("microvm_drain_kubeconfig", "/nonexistent/k0s-admin.kubeconfig"), "--limit", vm)
			plain.RequireOK(t)
			assert.Contains(t, plain.Output, "No admin kubeconfig at /nonexistent/k0s-admin.kubeconfig (the cluster is not bootstrapped yet)")
			assert.NotEqual(t, after, bootID(t), "the VM restarted without a drain")
			d, found := hostsTask(plain, drainTask)
			require.True(t, found)
			assert.Equal(t, "skipped", d.Status, "no drain ran")

			// A node that does not come back (its kubelet never reports the new boot): the roll
			// stops there and the node stays cordoned.
			mu.Lock()
			frozen = bootID(t)
			mu.Unlock()
			stuck := lab.Playbook(t, ctrl, pb("restart-microvms.yaml"), with("microvm_node_ready_timeout", 20), "--limit", vm)
			mu.Lock()
			frozen = ""
			mu.Unlock()
			require.NotZero(t, stuck.RC, "a node that does not come back fails the restart:\n%s", stuck.Output)
			assert.Contains(t, stuck.Output, "node k0s-w1 did not come back within 20s: node k0s-w1 still reports boot ID")
			_, uncordoned := hostsTask(stuck, uncordTask)
			assert.False(t, uncordoned, "the node is not uncordoned")
			assert.True(t, cl.Node(vm).Spec.Unschedulable, "the node stays cordoned")
			_, err := cl.C.SetUnschedulable(context.Background(), vm, false)
			require.NoError(t, err)
		})
	}
}
