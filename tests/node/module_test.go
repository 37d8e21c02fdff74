//go:build node

package node_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/business-operations/bo.microvm/tests/k8s/kubetest"
)

func stepStatuses(res map[string]any) []string {
	var out []string
	l, _ := res["steps"].([]any)
	for _, s := range l {
		m := s.(map[string]any)
		out = append(out, fmt.Sprintf("%s: %s", m["title"], m["status"]))
	}
	return out
}

func requireOK(t *testing.T, res map[string]any) {
	t.Helper()
	require.NotEqual(t, true, res["failed"], "the module failed: %v", res)
}

// firstDiff is the result's diff (one is a dict, several a list, as ansible-core takes them).
func firstDiff(t *testing.T, res map[string]any) map[string]any {
	t.Helper()
	switch d := res["diff"].(type) {
	case map[string]any:
		return d
	case []any:
		require.NotEmpty(t, d)
		return d[0].(map[string]any)
	}
	t.Fatalf("no diff in %v", res)
	return nil
}

func strList(v any) []string {
	l, _ := v.([]any)
	out := []string{}
	for _, s := range l {
		out = append(out, s.(string))
	}
	return out
}

// A cluster of two workers with a web app spread over both, a DaemonSet pod and a mirror pod
// on w1.
func webCluster(t *testing.T, minAvailable int) (*kubetest.Cluster, *kubetest.StandIn) {
	cl := kubetest.NewCluster(t, repoRoot())
	cl.AddNode("w1")
	cl.AddNode("w2")
	s := cl.StartStandIn("w1", "w2")
	cl.Create("/apis/apps/v1/namespaces/default/daemonsets", `{"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"agent"},
		"spec":{"selector":{"matchLabels":{"app":"agent"}},"template":{"metadata":{"labels":{"app":"agent"}},"spec":{"containers":[{"name":"c","image":"registry.example/agent:1"}]}}}}`)
	cl.AddPod("agent-w1", "w1", "DaemonSet/agent", map[string]string{"app": "agent"}, nil, "")
	cl.AddPod("static-w1", "w1", "", map[string]string{"app": "static"}, map[string]string{"kubernetes.io/config.mirror": "0123456789abcdef"}, "")
	cl.AddPod("web-a", "w1", "ReplicaSet/web-1", map[string]string{"app": "web"}, nil, `{"terminationGracePeriodSeconds":30}`)
	cl.AddPod("web-b", "w2", "ReplicaSet/web-1", map[string]string{"app": "web"}, nil, "")
	cl.AddPDB("web", "web", minAvailable)
	// Wait for the disruption stand-in to have observed the budget.
	require.Eventually(t, func() bool {
		var b struct {
			Metadata struct{ Generation int64 }
			Status   struct{ ObservedGeneration, ExpectedPods int64 }
		}
		return cl.Do("GET", "/apis/policy/v1/namespaces/default/poddisruptionbudgets/web", "", "", &b) == nil &&
			b.Status.ObservedGeneration == b.Metadata.Generation && b.Status.ExpectedPods == 2
	}, 20*time.Second, 100*time.Millisecond)
	return cl, s
}

func args(cl *kubetest.Cluster, name, state string, extra map[string]any) map[string]any {
	a := map[string]any{"name": name, "state": state, "kubeconfig": cl.Kubeconfig, "poll_interval": 1}
	for k, v := range extra {
		a[k] = v
	}
	return a
}

// With a budget that allows one disruption: check mode predicts, the drain cordons and evicts
// the web pod (DaemonSet and mirror pods stay), a second drain changes nothing, the node counts
// as back only with a new boot ID, and uncordon makes it schedulable.
func TestDrainReadyUncordonWithAnAllowingBudget(t *testing.T) {
	cl, s := webCluster(t, 1)

	check := runModule(t, true, args(cl, "w1", "drained", nil))
	requireOK(t, check)
	assert.Equal(t, true, check["changed"])
	assert.Equal(t, []string{"cordon node w1: would change", "evict the pods of node w1: would change"}, stepStatuses(check))
	assert.Nil(t, check["warnings"], "the budget allows the eviction: no warning")
	assert.False(t, cl.Node("w1").Spec.Unschedulable, "check mode cordoned the node")
	assert.True(t, cl.PodExists("web-a"), "check mode evicted a pod")
	diff := firstDiff(t, check)
	assert.Equal(t, "unschedulable: false\nevictable pods:\n- default/web-a\n", diff["before"])
	assert.Equal(t, "unschedulable: true\nevictable pods: []\n", diff["after"])

	start := time.Now()
	res := runModule(t, false, args(cl, "w1", "drained", nil))
	requireOK(t, res)
	t.Logf("drain took %s: %v", time.Since(start), stepStatuses(res))
	assert.Equal(t, true, res["changed"])
	assert.Equal(t, []string{"cordon node w1: changed", "evict the pods of node w1: changed"}, stepStatuses(res))
	assert.Equal(t, []string{"default/web-a"}, strList(res["evicted"]))
	assert.Equal(t, []string{"default/agent-w1: managed by DaemonSet agent", "default/static-w1: mirror pod of a static pod (the kubelet runs it from a file)"}, strList(res["skipped"]))
	assert.Equal(t, true, res["unschedulable"])
	assert.Equal(t, "boot-1-w1", res["boot_id"])
	assert.True(t, cl.Node("w1").Spec.Unschedulable)
	assert.False(t, cl.PodExists("web-a"), "the evicted pod is gone")
	assert.True(t, cl.PodExists("web-b"))
	assert.True(t, cl.PodExists("agent-w1"))
	assert.True(t, cl.PodExists("static-w1"))

	again := runModule(t, false, args(cl, "w1", "drained", nil))
	requireOK(t, again)
	assert.Equal(t, false, again["changed"], "a second drain changes nothing: %v", stepStatuses(again))
	assert.Equal(t, []string{"cordon node w1: ok", "evict the pods of node w1: ok"}, stepStatuses(again))

	// The machine restarts: the kubelet is silent, the Node still says Ready from the old boot.
	s.SetBoot("w1", "")
	stale := runModule(t, false, args(cl, "w1", "ready", map[string]any{"after_boot_id": "boot-1-w1", "timeout": 2}))
	assert.Equal(t, true, stale["failed"], "a stale Ready from the old boot does not count: %v", stale)
	assert.Contains(t, stale["msg"], "node w1 did not come back within 2s: node w1 still reports boot ID boot-1-w1")
	checkReady := runModule(t, true, args(cl, "w1", "ready", map[string]any{"after_boot_id": "boot-1-w1"}))
	assert.Equal(t, []string{"wait for node w1 to be Ready: would wait"}, stepStatuses(checkReady))
	go func() { time.Sleep(2 * time.Second); s.SetBoot("w1", "boot-2-w1") }()
	ready := runModule(t, false, args(cl, "w1", "ready", map[string]any{"after_boot_id": "boot-1-w1", "timeout": 60}))
	requireOK(t, ready)
	assert.Equal(t, false, ready["changed"], "waiting changes nothing")
	assert.Equal(t, []string{"wait for node w1 to be Ready: waited"}, stepStatuses(ready))
	assert.Equal(t, "boot-2-w1", ready["boot_id"])
	assert.Equal(t, true, ready["ready"])

	un := runModule(t, false, args(cl, "w1", "uncordoned", nil))
	requireOK(t, un)
	assert.Equal(t, true, un["changed"])
	assert.False(t, cl.Node("w1").Spec.Unschedulable)
	unDiff := firstDiff(t, un)
	assert.Equal(t, "unschedulable: true\n", unDiff["before"])
	assert.Equal(t, "unschedulable: false\n", unDiff["after"])
	un2 := runModule(t, false, args(cl, "w1", "uncordoned", nil))
	assert.Equal(t, false, un2["changed"])
}

// With a budget that forbids the eviction: check mode warns with the API server's own answer;
// the drain retries until the timeout, then fails naming the pod and the budget, leaves the pod
// and makes the node schedulable again.
func TestDrainWaitsThenFailsWhenTheBudgetForbidsIt(t *testing.T) {
	cl, _ := webCluster(t, 2)

	check := runModule(t, true, args(cl, "w1", "drained", nil))
	requireOK(t, check)
	warnings := strings.Join(strList(check["warnings"]), "\n")
	assert.Contains(t, warnings, "pod default/web-a: a PodDisruptionBudget forbids its eviction now (The disruption budget web needs 2 healthy pods and has 2 currently)")

	start := time.Now()
	res := runModule(t, false, args(cl, "w1", "drained", map[string]any{"timeout": 6}))
	took := time.Since(start)
	require.Equal(t, true, res["failed"], "%v", res)
	msg := res["msg"].(string)
	t.Logf("failed after %s: %s", took, msg)
	assert.GreaterOrEqual(t, took, 6*time.Second, "it retried until the timeout")
	assert.Less(t, took, 30*time.Second)
	for _, want := range []string{
		"evict the pods of node w1: pod default/web-a: the API server refused its eviction for 6s because",
		"PodDisruptionBudget default/web (disruptions allowed 0, healthy 2 of 2 desired, 2 expected pods) forbids it",
		"The disruption budget web needs 2 healthy pods and has 2 currently",
		"node w1 is schedulable again (this run had cordoned it, and undid that)",
	} {
		assert.Contains(t, msg, want)
	}
	assert.Equal(t, []string{"cordon node w1: changed", "evict the pods of node w1: failed"}, stepStatuses(res))
	assert.True(t, cl.PodExists("web-a"), "the protected pod stays")
	assert.False(t, cl.Node("w1").Spec.Unschedulable, "the node is schedulable again")
	assert.Equal(t, false, res["unschedulable"])
}

// Pods without a controller refuse the drain before anything is evicted, as kubectl drain
// without --force; force evicts them. emptyDir pods likewise with delete_emptydir_data.
func TestDrainRefusesUnmanagedAndEmptyDirPodsUnlessAllowed(t *testing.T) {
	cl := kubetest.NewCluster(t, repoRoot())
	cl.AddNode("w1")
	cl.StartStandIn("w1")
	cl.AddPod("bare", "w1", "", map[string]string{"app": "bare"}, nil, "")
	cl.AddPod("cache", "w1", "ReplicaSet/cache-1", map[string]string{"app": "cache"}, nil, `{"volumes":[{"name":"tmp","emptyDir":{}}]}`)

	res := runModule(t, false, args(cl, "w1", "drained", nil))
	require.Equal(t, true, res["failed"], "%v", res)
	assert.Contains(t, res["msg"], "cannot evict Pods that declare no controller (nothing recreates them; set force to evict them): default/bare")
	assert.Contains(t, res["msg"], "cannot evict Pods with local storage (emptyDir; set delete_emptydir_data to evict them and lose that data): default/cache")
	assert.True(t, cl.PodExists("bare"))
	assert.True(t, cl.PodExists("cache"))
	assert.False(t, cl.Node("w1").Spec.Unschedulable)

	res = runModule(t, false, args(cl, "w1", "drained", map[string]any{"force": true, "delete_emptydir_data": true, "grace_period": 0}))
	requireOK(t, res)
	assert.Equal(t, []string{"default/bare", "default/cache"}, strList(res["evicted"]))
	assert.False(t, cl.PodExists("bare"))
	assert.False(t, cl.PodExists("cache"))
}

func TestUnknownNodeNamesTheParameter(t *testing.T) {
	cl := kubetest.NewCluster(t, repoRoot())
	res := runModule(t, false, args(cl, "nope", "drained", nil))
	require.Equal(t, true, res["failed"], "%v", res)
	assert.Contains(t, res["msg"], "name: node nope is not registered in the cluster")
	res = runModule(t, false, args(cl, "nope", "ready", map[string]any{"timeout": 1}))
	require.Equal(t, true, res["failed"], "%v", res)
	assert.Contains(t, res["msg"], "node nope did not come back within 1s: node nope is not registered")
}
