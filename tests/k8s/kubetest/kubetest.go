// Package kubetest gives tests a real kube-apiserver (tests/k8s) with Node, Pod and
// PodDisruptionBudget objects, and a stand-in for the processes that do not run there (the
// kubelets, kube-controller-manager's disruption and serviceaccounts controllers). Used by
// tests/node and tests/e2e.
package kubetest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/business-operations/bo.microvm/internal/kube"
	"github.com/business-operations/bo.microvm/tests/need"
)

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// Server is one instance of tests/k8s/apiserver: its state dir, its port (etcd has the next
// two), the environment that names them to the script, its admin kubeconfig and URL.
type Server struct {
	Dir        string
	Port       int
	Env        []string
	Kubeconfig string
	URL        string
}

// StartAPIServer starts a real kube-apiserver with tests/k8s/apiserver in a new state dir on
// free ports and stops it when the test ends; it fails when the binary is missing (the suites'
// make targets build it: tests/k8s/build). Only suites call it (behind their build tags), so it
// never skips. Used by every suite that needs an API server (node, k0s, flux, e2e).
func StartAPIServer(t *testing.T, repo string) *Server {
	t.Helper()
	bin := filepath.Join(envOr("BO_CACHE", "/var/cache/bo-microvm"), "kube-apiserver-"+envOr("K8S_VERSION", "v1.35.3"), "kube-apiserver")
	need.File(t, bin, "tests/k8s/build makes it, as the suites' make targets do")
	script := filepath.Join(repo, "tests", "k8s", "apiserver")
	// The ports come from below the kernel's ephemeral range, so no outgoing connection of
	// another suite takes one between the check and etcd's bind (CI 2026-12-07: etcd's client
	// port, picked as port+1 of a kernel-chosen one, was taken by then). Only another binder
	// can still take one: a taken port is retried on new ones, any other failure is the test's.
	for attempt := 1; ; attempt++ {
		port := FreePorts(t, 3)
		s := &Server{Dir: t.TempDir(), Port: port}
		s.Env = append(os.Environ(), "K8S_DIR="+s.Dir, fmt.Sprintf("K8S_PORT=%d", port))
		up := exec.Command(script, "up")
		up.Env = s.Env
		out, err := up.CombinedOutput()
		if err != nil && attempt < 3 && strings.Contains(string(out), "address already in use") {
			t.Logf("tests/k8s/apiserver up on port %d: a port was taken, again on others", port)
			continue
		}
		require.NoError(t, err, "tests/k8s/apiserver up: %s", out)
		t.Cleanup(func() {
			down := exec.Command(script, "down")
			down.Env = s.Env
			_ = down.Run()
		})
		s.Kubeconfig = filepath.Join(s.Dir, "kubeconfig")
		s.URL = fmt.Sprintf("https://127.0.0.1:%d", port)
		return s
	}
}

// APIServer starts a real kube-apiserver (StartAPIServer) and returns its admin kubeconfig.
func APIServer(t *testing.T, repo string) string {
	t.Helper()
	return StartAPIServer(t, repo).Kubeconfig
}

// FreePorts returns a port p with p .. p+n-1 free on 127.0.0.1 (FindFreePorts), or fails t.
func FreePorts(t *testing.T, n int) int {
	t.Helper()
	p, err := FindFreePorts(n)
	require.NoError(t, err)
	return p
}

// FindFreePorts returns a port p with p .. p+n-1 free on 127.0.0.1, all below the kernel's
// ephemeral range (net.ipv4.ip_local_port_range), where neither bind(0) nor connect(2) hands
// out ports: only a program that binds that very port can take one later. For callers that
// are not the test's goroutine.
func FindFreePorts(n int) (int, error) {
	low := 32768 // the kernel's default
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				low = v
			}
		}
	}
	return freePortsIn(20000, low, n)
}

// freePortsIn returns a port p with p .. p+n-1 free on 127.0.0.1 and from <= p, p+n <= to.
func freePortsIn(from, to, n int) (int, error) {
	if to-n < from {
		return 0, fmt.Errorf("no room for %d ports between %d and %d (the ephemeral range's start)", n, from, to)
	}
	for range 200 {
		p := from + rand.IntN(to-n-from+1)
		free := true
		for q := p; q < p+n && free; q++ {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", q))
			if err != nil {
				free = false
				continue
			}
			l.Close()
		}
		if free {
			return p, nil
		}
	}
	return 0, fmt.Errorf("no %d free ports in a row on 127.0.0.1 between %d and %d", n, from, to)
}

// Cluster is the test's handle on the API server.
type Cluster struct {
	t          *testing.T
	Kubeconfig string
	C          *kube.Client
}

func NewCluster(t *testing.T, repo string) *Cluster {
	kc := APIServer(t, repo)
	c, err := kube.Load(kc, "")
	require.NoError(t, err)
	cl := &Cluster{t: t, Kubeconfig: kc, C: c}
	// The "default" ServiceAccount the ServiceAccount admission plugin looks up for every
	// pod: kube-controller-manager's serviceaccounts controller would create it.
	cl.Create("/api/v1/namespaces/default/serviceaccounts", `{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"default"}}`)
	return cl
}

func (cl *Cluster) Do(method, path, contentType, body string, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	return cl.C.Do(ctx, method, path, contentType, b, out)
}

func (cl *Cluster) Create(path, body string) {
	cl.t.Helper()
	err := cl.Do(http.MethodPost, path, "application/json", body, nil)
	if !kube.IsConflict(err) {
		require.NoError(cl.t, err, "POST %s", path)
	}
}

func (cl *Cluster) PatchStatus(path string, status any) {
	cl.t.Helper()
	b, _ := json.Marshal(map[string]any{"status": status})
	require.NoError(cl.t, cl.Do(http.MethodPatch, path+"/status", "application/merge-patch+json", string(b), nil), "PATCH %s/status", path)
}

// AddNode registers a Node as a kubelet would (the stand-in then keeps it Ready with bootID).
func (cl *Cluster) AddNode(name string) {
	cl.t.Helper()
	cl.Create("/api/v1/nodes", fmt.Sprintf(`{"apiVersion":"v1","kind":"Node","metadata":{"name":%q,"labels":{"kubernetes.io/hostname":%q}}}`, name, name))
}

// AddPod creates a running, Ready pod bound to node (spec.nodeName, no scheduler) owned by
// owner ("ReplicaSet/web-1", "DaemonSet/agent", or "" for none), with labels, annotations (set
// at creation: the API server refuses to add a mirror pod's annotation later) and extra spec.
func (cl *Cluster) AddPod(name, node, owner string, labels, annotations map[string]string, extraSpec string) {
	cl.t.Helper()
	meta := map[string]any{"name": name, "namespace": "default", "labels": labels, "annotations": annotations}
	if owner != "" {
		kind, oname, _ := strings.Cut(owner, "/")
		meta["ownerReferences"] = []any{map[string]any{"apiVersion": "apps/v1", "kind": kind, "name": oname, "uid": "00000000-0000-0000-0000-000000000001", "controller": true}}
	}
	spec := map[string]any{"nodeName": node, "automountServiceAccountToken": false,
		"containers": []any{map[string]any{"name": "c", "image": "registry.example/app:1"}}}
	if extraSpec != "" {
		var extra map[string]any
		require.NoError(cl.t, json.Unmarshal([]byte(extraSpec), &extra))
		for k, v := range extra {
			spec[k] = v
		}
	}
	b, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec})
	cl.Create("/api/v1/namespaces/default/pods", string(b))
	now := time.Now().UTC().Format(time.RFC3339)
	cl.PatchStatus("/api/v1/namespaces/default/pods/"+name, map[string]any{"phase": "Running",
		"conditions": []any{map[string]any{"type": "Ready", "status": "True", "lastTransitionTime": now}}})
}

// AddPDB creates a policy/v1 budget over app=<app> with minAvailable.
func (cl *Cluster) AddPDB(name, app string, minAvailable int) {
	cl.t.Helper()
	cl.Create("/apis/policy/v1/namespaces/default/poddisruptionbudgets", fmt.Sprintf(
		`{"apiVersion":"policy/v1","kind":"PodDisruptionBudget","metadata":{"name":%q},"spec":{"minAvailable":%d,"selector":{"matchLabels":{"app":%q}}}}`, name, minAvailable, app))
}

func (cl *Cluster) Node(name string) kube.Node {
	cl.t.Helper()
	n, err := cl.C.GetNode(context.Background(), name)
	require.NoError(cl.t, err)
	return *n
}

func (cl *Cluster) PodExists(name string) bool {
	cl.t.Helper()
	_, err := cl.C.GetPod(context.Background(), "default", name)
	if kube.IsNotFound(err) {
		return false
	}
	require.NoError(cl.t, err)
	return true
}

// StandIn does, through the API, what the processes that do not run here would:
//   - each node's kubelet: while its "machine" is up, post the Node's Ready condition and
//     status.nodeInfo.bootID (the kubelet's MachineInfo setter, kubernetes/kubernetes 8340f5a9
//     pkg/kubelet/nodestatus/setters.go); and once an evicted pod of its node is terminating
//     (deletionTimestamp set), delete it with grace period 0, as the kubelet's status manager
//     does after its containers stopped (pkg/kubelet/status/status_manager.go, canBeDeleted).
//   - kube-controller-manager's disruption controller: each PodDisruptionBudget's status from
//     the Ready, not terminating pods its selector matches (pkg/controller/disruption/
//     disruption.go: currentHealthy, desiredHealthy = minAvailable, disruptionsAllowed =
//     currentHealthy - desiredHealthy, at least 0; observedGeneration = generation).
//
// It is a test stand-in, not part of the module.
type StandIn struct {
	cl     *Cluster
	mu     sync.Mutex
	boots  map[string]string // node -> boot ID while its machine is up; "" = down
	bootOf func(node string) string
	cancel context.CancelFunc
	done   chan struct{}
}

// StartStandIn starts the stand-in for nodes, each "up" with boot ID boot-1-<node> until
// SetBoot changes it. It stops when the test ends.
func (cl *Cluster) StartStandIn(nodes ...string) *StandIn {
	return cl.StartStandInWith(nil, nodes...)
}

// StartStandInWith is StartStandIn with the boot IDs read by bootOf (node -> its machine's
// boot ID, "" while it is down), e.g. from a real guest.
func (cl *Cluster) StartStandInWith(bootOf func(node string) string, nodes ...string) *StandIn {
	ctx, cancel := context.WithCancel(context.Background())
	s := &StandIn{cl: cl, boots: map[string]string{}, bootOf: bootOf, cancel: cancel, done: make(chan struct{})}
	for _, n := range nodes {
		s.boots[n] = "boot-1-" + n
	}
	s.once()
	go func() {
		defer close(s.done)
		for ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
				s.once()
			}
		}
	}()
	cl.t.Cleanup(s.Stop)
	return s
}

func (s *StandIn) Stop() {
	s.cancel()
	<-s.done
}

// SetBoot says the node's machine is down ("") or up with this boot ID.
func (s *StandIn) SetBoot(node, bootID string) {
	s.mu.Lock()
	s.boots[node] = bootID
	s.mu.Unlock()
}

func (s *StandIn) once() {
	cl := s.cl
	now := time.Now().UTC().Format(time.RFC3339)
	s.mu.Lock()
	boots := map[string]string{}
	for k, v := range s.boots {
		boots[k] = v
	}
	s.mu.Unlock()
	if s.bootOf != nil {
		for k := range boots {
			boots[k] = s.bootOf(k)
		}
	}
	for node, boot := range boots {
		if boot == "" {
			continue // a stopped machine posts nothing
		}
		b, _ := json.Marshal(map[string]any{"status": map[string]any{
			"conditions": []any{map[string]any{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet stand-in",
				"lastHeartbeatTime": now, "lastTransitionTime": now}},
			"nodeInfo": map[string]any{"bootID": boot, "machineID": "m", "systemUUID": "s", "kernelVersion": "k", "osImage": "o",
				"containerRuntimeVersion": "containerd://2", "kubeletVersion": "v1.35.3", "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64"},
		}})
		_ = cl.Do(http.MethodPatch, "/api/v1/nodes/"+node+"/status", "application/merge-patch+json", string(b), nil)
	}
	var pods struct{ Items []kube.Pod }
	if cl.Do(http.MethodGet, "/api/v1/namespaces/default/pods", "", "", &pods) != nil {
		return
	}
	for _, p := range pods.Items {
		if p.Metadata.DeletionTimestamp != "" && boots[p.Spec.NodeName] != "" {
			_ = cl.Do(http.MethodDelete, "/api/v1/namespaces/default/pods/"+p.Metadata.Name, "application/json", `{"gracePeriodSeconds":0}`, nil)
		}
	}
	var pdbs struct {
		Items []struct {
			kube.PodDisruptionBudget
			Spec struct {
				MinAvailable int                `json:"minAvailable"`
				Selector     kube.LabelSelector `json:"selector"`
			} `json:"spec"`
		}
	}
	if cl.Do(http.MethodGet, "/apis/policy/v1/namespaces/default/poddisruptionbudgets", "", "", &pdbs) != nil {
		return
	}
	for _, b := range pdbs.Items {
		healthy, expected := 0, 0
		for _, p := range pods.Items {
			if !b.Spec.Selector.Matches(p.Metadata.Labels) {
				continue
			}
			expected++
			ready := false
			for _, c := range p.Status.Conditions {
				ready = ready || (c.Type == "Ready" && c.Status == "True")
			}
			if ready && p.Metadata.DeletionTimestamp == "" {
				healthy++
			}
		}
		allowed := max(healthy-b.Spec.MinAvailable, 0)
		st, _ := json.Marshal(map[string]any{"status": map[string]any{"observedGeneration": b.Metadata.Generation, "disruptionsAllowed": allowed,
			"currentHealthy": healthy, "desiredHealthy": b.Spec.MinAvailable, "expectedPods": expected,
			"conditions": []any{map[string]any{"type": "DisruptionAllowed", "status": map[bool]string{true: "True", false: "False"}[allowed > 0],
				"reason": map[bool]string{true: "SufficientPods", false: "InsufficientPods"}[allowed > 0], "message": "disruption controller stand-in",
				"lastTransitionTime": now, "observedGeneration": b.Metadata.Generation}}}})
		_ = cl.Do(http.MethodPatch, "/apis/policy/v1/namespaces/default/poddisruptionbudgets/"+b.Metadata.Name+"/status", "application/merge-patch+json", string(st), nil)
	}
}
