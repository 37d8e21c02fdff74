package k0s

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/business-operations/bo.microvm/internal/command"
)

// waiter polls the cluster through `k0s kubectl` until a condition holds or the timeout
// passes; on timeout it reports the last condition it saw.
type waiter struct {
	env Env
	o   Options
}

// kubectl runs `k0s kubectl` with the admin kubeconfig (controllers) or, on a worker-only
// node, the kubelet's kubeconfig.
func (w waiter) kubectl(ctx context.Context, args ...string) ([]byte, error) {
	base := []string{"kubectl", "--data-dir=" + w.o.DataDir}
	if !w.o.Role.IsController() {
		base = []string{"kubectl", "--kubeconfig=" + path.Join(w.o.DataDir, "kubelet.conf")}
	}
	out, err := w.env.Run.Run(ctx, command.Cmd{Name: w.o.Binary, Args: append(base, args...)})
	return out.Stdout, err
}

// getJSON reads one object; found is false when the API says NotFound.
func (w waiter) getJSON(ctx context.Context, v any, args ...string) (found bool, err error) {
	out, err := w.kubectl(ctx, append(append([]string{"get"}, args...), "-o", "json")...)
	if err != nil {
		if strings.Contains(err.Error(), "NotFound") || strings.Contains(err.Error(), "not found") {
			return false, nil
		}
		return false, err
	}
	if err := json.Unmarshal(out, v); err != nil {
		return false, fmt.Errorf("kubectl get %s: %w", strings.Join(args, " "), err)
	}
	return true, nil
}

// poll calls check until it reports done, the timeout passes or ctx ends.
func (w waiter) poll(ctx context.Context, what string, check func(ctx context.Context) (bool, string)) error {
	deadline := w.env.now().Add(w.o.Timeout)
	last := "no answer yet"
	for {
		done, cond := check(ctx)
		if done {
			return nil
		}
		if cond != "" {
			last = cond
		}
		if !w.env.now().Before(deadline) {
			return fmt.Errorf("%s did not happen within %s; last seen: %s", what, w.o.Timeout, last)
		}
		if err := w.env.sleep(ctx, w.o.PollInterval); err != nil {
			return fmt.Errorf("%s: %w; last seen: %s", what, err, last)
		}
	}
}

func errCond(err error) string {
	var cerr *command.Error
	if e, ok := err.(*command.Error); ok {
		cerr = e
		if t := command.Tail(cerr.Stderr, 2); t != "" {
			return t
		}
	}
	return err.Error()
}

// step returns the wait step called name.
func (w waiter) step(name string) Step {
	o := w.o
	switch name {
	case WaitAPI:
		if !o.Role.IsController() {
			return Step{}
		}
		return Step{Title: "Wait for the Kubernetes API (/readyz)", Run: true, Wait: true, Reason: "controllers serve the API", do: w.api}
	case WaitNode:
		if !o.Role.RunsWorkloads() {
			return Step{}
		}
		return Step{Title: "Wait for node " + o.NodeName + " to register", Run: true, Wait: true, Reason: "this node runs a kubelet", do: w.node}
	case WaitCharts:
		charts := o.Cluster.Charts()
		return Step{Title: "Wait for the Helm charts " + chartNames(charts), Run: len(charts) > 0, Wait: true, Reason: "each Chart object reports the wanted version and values without error", do: w.charts}
	case WaitCilium:
		return Step{Title: "Wait for Cilium (DaemonSet and operator)", Run: o.Cluster.Addons.Cilium.Enabled, Wait: true, Reason: "the CNI makes nodes Ready", do: w.cilium}
	case WaitNodes:
		return Step{Title: "Wait for nodes " + strings.Join(o.Nodes, ", ") + " to be Ready", Run: len(o.Nodes) > 0, Wait: true, Reason: "every node of the inventory", do: w.nodes}
	case WaitOpenEBS:
		return Step{Title: "Wait for OpenEBS (StorageClass openebs-hostpath)", Run: o.Cluster.Addons.OpenEBS.Enabled, Wait: true, Reason: "local volumes", do: w.openebs}
	case WaitRook:
		return Step{Title: "Wait for Rook-Ceph (operator, then CephCluster Ready)", Run: o.Cluster.Addons.Rook.Enabled, Wait: true, Reason: "Ceph block storage", do: w.rook}
	}
	return Step{}
}

func chartNames(cs []Chart) string {
	var n []string
	for _, c := range cs {
		n = append(n, c.Name)
	}
	if len(n) == 0 {
		return "(none enabled)"
	}
	return strings.Join(n, ", ")
}

func (w waiter) status(ctx context.Context) error {
	return w.poll(ctx, "k0s status", func(ctx context.Context) (bool, string) {
		_, err := w.env.Run.Run(ctx, command.Cmd{Name: w.o.Binary, Args: []string{"status", "-o", "json"}})
		if err != nil {
			return false, errCond(err)
		}
		return true, ""
	})
}

func (w waiter) api(ctx context.Context) error {
	return w.poll(ctx, "the API answering /readyz", func(ctx context.Context) (bool, string) {
		out, err := w.kubectl(ctx, "get", "--raw=/readyz")
		if err != nil {
			return false, errCond(err)
		}
		s := strings.TrimSpace(string(out))
		return s == "ok", "/readyz: " + s
	})
}

type object struct {
	Metadata struct {
		Name   string            `json:"name"`
		UID    string            `json:"uid"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec   map[string]any `json:"spec"`
	Status struct {
		Conditions []struct {
			Type    string `json:"type"`
			Status  string `json:"status"`
			Reason  string `json:"reason"`
			Message string `json:"message"`
		} `json:"conditions"`
		NodeInfo struct {
			KubeletVersion string `json:"kubeletVersion"`
		} `json:"nodeInfo"`
		// Chart
		ReleaseName string `json:"releaseName"`
		Version     string `json:"version"`
		Error       string `json:"error"`
		ValuesHash  string `json:"valuesHash"`
		// DaemonSet
		DesiredNumberScheduled int `json:"desiredNumberScheduled"`
		NumberReady            int `json:"numberReady"`
		// CephCluster
		Phase   string `json:"phase"`
		Message string `json:"message"`
		Ceph    struct {
			Health string `json:"health"`
		} `json:"ceph"`
	} `json:"status"`
}

func (ob object) condition(t string) (status, msg string) {
	for _, c := range ob.Status.Conditions {
		if c.Type == t {
			return c.Status, strings.TrimSpace(c.Reason + " " + c.Message)
		}
	}
	return "", "no " + t + " condition"
}

func (w waiter) node(ctx context.Context) error {
	return w.poll(ctx, "node "+w.o.NodeName+" registering", func(ctx context.Context) (bool, string) {
		var n object
		found, err := w.getJSON(ctx, &n, "node", w.o.NodeName)
		if err != nil {
			return false, errCond(err)
		}
		return found, "node " + w.o.NodeName + " not registered yet"
	})
}

// chartState says whether the Chart object of c has installed what k0s.yaml asks for.
func chartState(ob object, c Chart, found bool) (bool, string) {
	if !found {
		return false, "Chart " + c.ObjectName() + " not created yet"
	}
	if ob.Status.Error != "" {
		return false, "Chart " + c.Name + ": " + ob.Status.Error
	}
	specValues, _ := ob.Spec["values"].(string)
	want, _ := renderValues(c)
	if same, _ := sameValues(specValues, want); !same {
		return false, "Chart " + c.Name + ": the controller has not taken the new values yet"
	}
	if ob.Status.ReleaseName == "" {
		return false, "Chart " + c.Name + ": not installed yet"
	}
	if c.Version != "" && ob.Status.Version != c.Version {
		return false, fmt.Sprintf("Chart %s: version %q installed, want %s", c.Name, ob.Status.Version, c.Version)
	}
	// k0s sets status.valuesHash to the SHA-256 of spec.values once it installed them
	// (helm ChartSpec.HashValues).
	sum := sha256.Sum256([]byte(specValues))
	if ob.Status.ValuesHash != hex.EncodeToString(sum[:]) {
		return false, "Chart " + c.Name + ": the new values are not installed yet"
	}
	return true, ""
}

func (w waiter) charts(ctx context.Context) error {
	charts := w.o.Cluster.Charts()
	return w.poll(ctx, "the Helm charts installing", func(ctx context.Context) (bool, string) {
		for _, c := range charts {
			var ob object
			found, err := w.getJSON(ctx, &ob, "charts.helm.k0sproject.io", "--namespace=kube-system", c.ObjectName())
			if err != nil {
				return false, errCond(err)
			}
			if ok, cond := chartState(ob, c, found); !ok {
				return false, cond
			}
		}
		return true, ""
	})
}

func (w waiter) deploymentAvailable(ctx context.Context, ns, name string) (bool, string) {
	var d object
	found, err := w.getJSON(ctx, &d, "deployment", "--namespace="+ns, name)
	if err != nil {
		return false, errCond(err)
	}
	if !found {
		return false, "Deployment " + ns + "/" + name + " not created yet"
	}
	st, msg := d.condition("Available")
	return st == "True", "Deployment " + ns + "/" + name + " Available=" + st + ": " + msg
}

func (w waiter) cilium(ctx context.Context) error {
	return w.poll(ctx, "Cilium becoming ready", func(ctx context.Context) (bool, string) {
		var ds object
		found, err := w.getJSON(ctx, &ds, "daemonset", "--namespace=kube-system", "cilium")
		if err != nil {
			return false, errCond(err)
		}
		if !found {
			return false, "DaemonSet kube-system/cilium not created yet"
		}
		if ds.Status.DesiredNumberScheduled == 0 || ds.Status.NumberReady < ds.Status.DesiredNumberScheduled {
			return false, fmt.Sprintf("DaemonSet kube-system/cilium: %d of %d ready", ds.Status.NumberReady, ds.Status.DesiredNumberScheduled)
		}
		return w.deploymentAvailable(ctx, "kube-system", "cilium-operator")
	})
}

type nodeList struct {
	Items []object `json:"items"`
}

func (w waiter) nodes(ctx context.Context) error {
	return w.poll(ctx, "every node Ready", func(ctx context.Context) (bool, string) {
		var l nodeList
		if _, err := w.getJSON(ctx, &l, "nodes"); err != nil {
			return false, errCond(err)
		}
		seen := map[string]object{}
		for _, n := range l.Items {
			seen[n.Metadata.Name] = n
		}
		var missing []string
		for _, name := range w.o.Nodes {
			n, ok := seen[name]
			if !ok {
				missing = append(missing, name+" (not registered)")
				continue
			}
			if st, msg := n.condition("Ready"); st != "True" {
				missing = append(missing, name+" (Ready="+st+": "+msg+")")
			}
		}
		return len(missing) == 0, "not ready: " + strings.Join(missing, ", ")
	})
}

func (w waiter) openebs(ctx context.Context) error {
	return w.poll(ctx, "OpenEBS", func(ctx context.Context) (bool, string) {
		var sc object
		found, err := w.getJSON(ctx, &sc, "storageclass", "openebs-hostpath")
		if err != nil {
			return false, errCond(err)
		}
		return found, "StorageClass openebs-hostpath not created yet"
	})
}

func (w waiter) rook(ctx context.Context) error {
	return w.poll(ctx, "Rook-Ceph", func(ctx context.Context) (bool, string) {
		if ok, cond := w.deploymentAvailable(ctx, "rook-ceph", "rook-ceph-operator"); !ok {
			return false, cond
		}
		var l nodeList
		if _, err := w.getJSON(ctx, &l, "cephclusters.ceph.rook.io", "--namespace=rook-ceph"); err != nil {
			return false, errCond(err)
		}
		if len(l.Items) == 0 {
			return false, "no CephCluster in rook-ceph yet"
		}
		c := l.Items[0]
		h := c.Status.Ceph.Health
		if c.Status.Phase == "Ready" && (h == "HEALTH_OK" || h == "HEALTH_WARN") {
			return true, ""
		}
		return false, fmt.Sprintf("CephCluster %s: phase %q, health %q, %s", c.Metadata.Name, c.Status.Phase, h, c.Status.Message)
	})
}

// Facts describe the node and, on controllers, the cluster.
type Facts struct {
	Role      string `json:"role"`
	Bootstrap bool   `json:"bootstrap"`
	Version   string `json:"version"`
	Running   bool   `json:"running"`
	Joined    bool   `json:"joined"`
	ClusterCA string `json:"cluster_ca_sha256"`
	ClusterID string `json:"cluster_id"`
	API       string `json:"api_address"`
	Nodes     []Node `json:"nodes"`
}

// Node is one Kubernetes node as a controller sees it.
type Node struct {
	Name    string   `json:"name"`
	Roles   []string `json:"roles"`
	Ready   bool     `json:"ready"`
	Version string   `json:"kubelet_version"`
}

// facts reads what is true now: after the steps, or (check mode) before them.
func facts(ctx context.Context, env Env, o Options, before State, check, ok bool) Facts {
	f := Facts{Role: string(o.Role), Bootstrap: o.Bootstrap, Version: before.Version, Running: before.Running,
		Joined: before.HasData(), ClusterCA: before.CA, API: o.Cluster.APIAddress}
	if !check {
		if st, err := Gather(ctx, env, o); err == nil {
			f.Version, f.Running, f.Joined, f.ClusterCA = st.Version, st.Running, st.HasData(), st.CA
		}
	}
	if !f.Running || !o.Role.IsController() || !ok {
		return f
	}
	w := waiter{env: env, o: o}
	if out, err := w.kubectl(ctx, "get", "namespace", "kube-system", "-o", "jsonpath={.metadata.uid}"); err == nil {
		f.ClusterID = strings.TrimSpace(string(out))
	}
	var l nodeList
	if _, err := w.getJSON(ctx, &l, "nodes"); err == nil {
		for _, n := range l.Items {
			node := Node{Name: n.Metadata.Name, Version: n.Status.NodeInfo.KubeletVersion}
			st, _ := n.condition("Ready")
			node.Ready = st == "True"
			for k := range n.Metadata.Labels {
				if r, ok := strings.CutPrefix(k, "node-role.kubernetes.io/"); ok {
					node.Roles = append(node.Roles, r)
				}
			}
			sort.Strings(node.Roles)
			f.Nodes = append(f.Nodes, node)
		}
	}
	return f
}
