//go:build k0s

package k0s_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/business-operations/bo.microvm/internal/k0s"
	"github.com/business-operations/bo.microvm/tests/k8s/kubetest"
	"github.com/business-operations/bo.microvm/tests/need"
)

// apiServer starts a real kube-apiserver (kubetest.StartAPIServer: its own state dir and free
// ports) and returns its admin kubeconfig; it fails when the binary or kubectl is missing.
func apiServer(t *testing.T) string {
	t.Helper()
	need.Command(t, "kubectl", "tests/k8s/build-kubectl builds it and make k0s-test puts it first on PATH")
	return kubetest.APIServer(t, repoRoot())
}

func kubectl(t *testing.T, kubeconfig string, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("kubectl", append([]string{"--kubeconfig=" + kubeconfig}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// controllerStandIn does, through the API, what the controllers that do not run here would:
// k0s' helm reconciler (Chart status: release, version, values hash) and each kubelet (Node
// Ready). It is a test stand-in, not part of the module or of the k0s fake.
func controllerStandIn(t *testing.T, kubeconfig string) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	installed := false
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			standInOnce(kubeconfig)
			if !installed {
				installed = releasesStandIn(kubeconfig)
			}
			select {
			case <-ctx.Done():
			case <-time.After(300 * time.Millisecond):
			}
		}
	}()
	return func() { cancel(); wg.Wait() }
}

func standInOnce(kubeconfig string) {
	run := func(stdin string, args ...string) []byte {
		cmd := exec.Command("kubectl", append([]string{"--kubeconfig=" + kubeconfig}, args...)...)
		if stdin != "" {
			cmd.Stdin = strings.NewReader(stdin)
		}
		out, _ := cmd.Output()
		return out
	}
	var charts struct {
		Items []struct {
			Metadata struct{ Name string }
			Spec     struct{ Version, Values, ReleaseName, Namespace string }
			Status   struct{ ValuesHash, Version, Namespace string }
		}
	}
	if json.Unmarshal(run("", "get", "charts.helm.k0sproject.io", "--namespace=kube-system", "-o", "json"), &charts) == nil {
		for _, c := range charts.Items {
			// What k0s' helm extension controller writes once it installed the spec: the formula
			// from its source, through the one shared place (k0s.ChartValuesHash).
			hash := k0s.ChartValuesHash(c.Spec.ReleaseName, c.Spec.Values)
			if c.Status.ValuesHash == hash && c.Status.Version == c.Spec.Version && c.Status.Namespace == c.Spec.Namespace {
				continue
			}
			patch, _ := json.Marshal(map[string]any{"status": map[string]any{"releaseName": c.Spec.ReleaseName,
				"version": c.Spec.Version, "valuesHash": hash, "error": "", "namespace": c.Spec.Namespace}})
			run("", "patch", "charts.helm.k0sproject.io", "--namespace=kube-system", c.Metadata.Name, "--subresource=status", "--type=merge", "-p", string(patch))
		}
	}
	for _, name := range strings.Fields(string(run("", "get", "nodes", "-o", "jsonpath={.items[*].metadata.name}"))) {
		patch := `{"status":{"conditions":[{"type":"Ready","status":"True","reason":"KubeletReady","message":"controller stand-in","lastHeartbeatTime":"` +
			time.Now().UTC().Format(time.RFC3339) + `","lastTransitionTime":"` + time.Now().UTC().Format(time.RFC3339) + `"}]}}`
		run("", "patch", "node", name, "--subresource=status", "--type=merge", "-p", patch)
	}
}

// addonObjects are what the Cilium, OpenEBS and Rook-Ceph releases would create, as far as
// the module's waits read them, with the status their controllers would report.
const addonObjects = `{"apiVersion":"v1","kind":"List","items":[
{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"rook-ceph"}},
{"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"cilium","namespace":"kube-system"},"spec":{"selector":{"matchLabels":{"k8s-app":"cilium"}},
 "template":{"metadata":{"labels":{"k8s-app":"cilium"}},"spec":{"containers":[{"name":"cilium-agent","image":"quay.io/cilium/cilium:v1.18.4"}]}}}},
{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"cilium-operator","namespace":"kube-system"},"spec":{"selector":{"matchLabels":{"name":"cilium-operator"}},
 "template":{"metadata":{"labels":{"name":"cilium-operator"}},"spec":{"containers":[{"name":"cilium-operator","image":"quay.io/cilium/operator-generic:v1.18.4"}]}}}},
{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"rook-ceph-operator","namespace":"rook-ceph"},"spec":{"selector":{"matchLabels":{"app":"rook-ceph-operator"}},
 "template":{"metadata":{"labels":{"app":"rook-ceph-operator"}},"spec":{"containers":[{"name":"rook-ceph-operator","image":"docker.io/rook/ceph:v1.18.7"}]}}}},
{"apiVersion":"storage.k8s.io/v1","kind":"StorageClass","metadata":{"name":"openebs-hostpath"},"provisioner":"openebs.io/local"},
{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition","metadata":{"name":"cephclusters.ceph.rook.io"},"spec":{"group":"ceph.rook.io",
 "names":{"kind":"CephCluster","listKind":"CephClusterList","plural":"cephclusters","singular":"cephcluster"},"scope":"Namespaced",
 "versions":[{"name":"v1","served":true,"storage":true,"subresources":{"status":{}},"schema":{"openAPIV3Schema":{"type":"object","x-kubernetes-preserve-unknown-fields":true}}}]}}
]}`

// releasesStandIn stands in for helm installing the charts and their controllers becoming
// ready, once every Chart exists. It reports whether it is done.
func releasesStandIn(kubeconfig string) bool {
	run := func(stdin string, args ...string) error {
		cmd := exec.Command("kubectl", append([]string{"--kubeconfig=" + kubeconfig}, args...)...)
		if stdin != "" {
			cmd.Stdin = strings.NewReader(stdin)
		}
		return cmd.Run()
	}
	if run("", "get", "charts.helm.k0sproject.io", "--namespace=kube-system", "k0s-addon-chart-rook-ceph-cluster") != nil {
		return false
	}
	available := `{"status":{"replicas":1,"readyReplicas":1,"availableReplicas":1,"conditions":[{"type":"Available","status":"True","reason":"MinimumReplicasAvailable","message":"controller stand-in"}]}}`
	steps := []func() error{
		func() error { return run(addonObjects, "apply", "--server-side", "--field-manager=helm", "-f", "-") },
		func() error {
			return run("", "wait", "--for=condition=Established", "--timeout=60s", "crd/cephclusters.ceph.rook.io")
		},
		func() error {
			return run(`{"apiVersion":"ceph.rook.io/v1","kind":"CephCluster","metadata":{"name":"rook-ceph","namespace":"rook-ceph"},"spec":{"dataDirHostPath":"/var/lib/rook"}}`,
				"apply", "--server-side", "--field-manager=helm", "-f", "-")
		},
		func() error {
			return run("", "patch", "daemonset", "--namespace=kube-system", "cilium", "--subresource=status", "--type=merge", "-p",
				`{"status":{"currentNumberScheduled":2,"numberMisscheduled":0,"desiredNumberScheduled":2,"numberReady":2}}`)
		},
		func() error {
			return run("", "patch", "deployment", "--namespace=kube-system", "cilium-operator", "--subresource=status", "--type=merge", "-p", available)
		},
		func() error {
			return run("", "patch", "deployment", "--namespace=rook-ceph", "rook-ceph-operator", "--subresource=status", "--type=merge", "-p", available)
		},
		func() error {
			return run("", "patch", "cephclusters.ceph.rook.io", "--namespace=rook-ceph", "rook-ceph", "--subresource=status", "--type=merge", "-p",
				`{"status":{"phase":"Ready","message":"Cluster created successfully","ceph":{"health":"HEALTH_OK"}}}`)
		},
	}
	for _, step := range steps {
		if step() != nil {
			return false
		}
	}
	return true
}

// TestAgainstARealAPIServer runs the roles with the fake's `k0s kubectl` talking to a real
// kube-apiserver: Chart objects, Nodes and bootstrap-token Secrets are written and read back.
func TestAgainstARealAPIServer(t *testing.T) {
	needRoot(t)
	kc := apiServer(t)
	stop := controllerStandIn(t, kc)
	defer stop()
	cp1 := newFakeNode(t, "k0s-cp1", kc)
	w1 := newFakeNode(t, "k0s-w1", kc)
	w2 := newFakeNode(t, "k0s-w2", kc)
	fast := map[string]any{"timeout": 60, "poll_interval": 1}

	first, _ := cp1.run(t, false, merged(bootstrapArgs, fast))
	require.NotEqual(t, true, first["failed"], "bootstrap: %v", first["msg"])
	facts := first["facts"].(map[string]any)
	assert.NotEmpty(t, facts["cluster_id"], "the cluster ID is the kube-system namespace's UID")
	assert.Equal(t, "waited", steps(first)["Wait for the Kubernetes API (/readyz)"])

	out, err := kubectl(t, kc, "", "get", "charts.helm.k0sproject.io", "--namespace=kube-system", "-o", "name")
	require.NoError(t, err, out)
	assert.Equal(t, []string{"chart.helm.k0sproject.io/k0s-addon-chart-cilium", "chart.helm.k0sproject.io/k0s-addon-chart-openebs",
		"chart.helm.k0sproject.io/k0s-addon-chart-rook-ceph", "chart.helm.k0sproject.io/k0s-addon-chart-rook-ceph-cluster"}, strings.Fields(out))

	ready, _ := cp1.run(t, false, merged(bootstrapArgs, fast, map[string]any{"state": "ready", "wait_for": []any{"charts", "nodes"}, "nodes": []any{"k0s-cp1"}}))
	require.NotEqual(t, true, ready["failed"], "ready: %v", ready["msg"])
	assert.Equal(t, false, ready["changed"])

	// A changed add-on value: k0s.yaml is rewritten, k0s restarts, the Chart gets the new values,
	// nothing is installed or initialised again.
	hubble := merged(bootstrapArgs, fast, map[string]any{"addons": map[string]any{"cilium": map[string]any{"values": map[string]any{"hubble": map[string]any{"enabled": true}}}}})
	changed, _ := cp1.run(t, false, merged(hubble, map[string]any{"wait_for": []any{"api", "charts"}}))
	if changed["failed"] == true {
		chart, _ := kubectl(t, kc, "", "get", "charts.helm.k0sproject.io", "--namespace=kube-system", "k0s-addon-chart-cilium", "-o", "yaml")
		cfg, _ := os.ReadFile(cp1.path("etc/k0s.yaml"))
		t.Logf("cilium Chart:\n%s\nk0s.yaml:\n%s\nargv: %v", chart, cfg, cp1.argv(t))
	}
	require.NotEqual(t, true, changed["failed"], "changed value: %v", changed["msg"])
	assert.Equal(t, true, changed["changed"])
	assert.Equal(t, "changed", steps(changed)["Restart k0s to load the changed configuration"])
	assert.Equal(t, "waited", steps(changed)["Wait for the Helm charts cilium, openebs, rook-ceph, rook-ceph-cluster"])
	values, err := kubectl(t, kc, "", "get", "charts.helm.k0sproject.io", "--namespace=kube-system", "k0s-addon-chart-cilium", "-o", "jsonpath={.spec.values}")
	require.NoError(t, err, values)
	assert.Contains(t, values, "hubble")
	installs := 0
	for _, a := range cp1.argv(t) {
		if strings.HasPrefix(a, "install ") {
			installs++
		}
	}
	assert.Equal(t, 1, installs, "the controller is installed once, never again")
	same, _ := cp1.run(t, false, hubble)
	assert.Equal(t, false, same["changed"], "the same value again changes nothing: %v", changedSteps(same))

	tok, _ := cp1.run(t, false, map[string]any{"state": "token", "token_role": "worker"})
	require.NotEqual(t, true, tok["failed"], "%v", tok["msg"])
	id := tok["token_id"].(string)
	_, err = kubectl(t, kc, "", "get", "secret", "--namespace=kube-system", "bootstrap-token-"+id)
	require.NoError(t, err, "the fake keeps the token as a bootstrap-token Secret")

	joined, joinOut := w1.run(t, false, map[string]any{"role": "worker", "token": tok["token"], "cluster_ca_sha256": facts["cluster_ca_sha256"], "timeout": 60, "poll_interval": 1})
	require.NotEqual(t, true, joined["failed"], "join: %v", joined["msg"])
	assert.Equal(t, "waited", steps(joined)["Wait for node k0s-w1 to register"])
	assert.NotContains(t, joinOut, tok["token"])
	assert.NotContains(t, joinOut, tokenSecret(t, tok["token"].(string)))

	inv, _ := cp1.run(t, false, map[string]any{"state": "token", "invalidate_tokens": []any{id}})
	require.NotEqual(t, true, inv["failed"], "%v", inv["msg"])
	_, err = kubectl(t, kc, "", "get", "secret", "--namespace=kube-system", "bootstrap-token-"+id)
	assert.Error(t, err, "the invalidated token's Secret is gone")

	late, _ := w2.run(t, false, map[string]any{"role": "worker", "token": tok["token"], "timeout": 5, "poll_interval": 1})
	assert.Equal(t, true, late["failed"], "an invalidated token cannot join")
	assert.Contains(t, late["msg"], "is not valid (invalidated or expired)")

	all, _ := cp1.run(t, false, merged(hubble, map[string]any{"state": "ready", "wait_for": []any{"api", "charts", "cilium", "nodes", "openebs", "rook"}, "nodes": []any{"k0s-cp1", "k0s-w1"}}))
	require.NotEqual(t, true, all["failed"], "%v", all["msg"])
	for _, title := range []string{"Wait for Cilium (DaemonSet and operator)", "Wait for OpenEBS (StorageClass openebs-hostpath)", "Wait for Rook-Ceph (operator, then CephCluster Ready)"} {
		assert.Equal(t, "waited", steps(all)[title])
	}
	nodes := map[string]any{}
	for _, n := range all["facts"].(map[string]any)["nodes"].([]any) {
		m := n.(map[string]any)
		nodes[m["name"].(string)] = m["roles"]
	}
	assert.Equal(t, map[string]any{"k0s-cp1": []any{"control-plane"}, "k0s-w1": nil}, nodes)
}
