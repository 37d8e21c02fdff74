package k0s

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/business-operations/bo.microvm/internal/command"
	"github.com/business-operations/bo.microvm/internal/kube"
	"github.com/business-operations/bo.microvm/internal/step"
)

// waiter polls the cluster through the Kubernetes API (internal/kube, with the node's admin
// kubeconfig on controllers, kubelet.conf on workers) until a condition holds, the timeout
// passes, or the cluster reports a failure that waiting cannot mend.
type waiter struct {
	env Env
	o   Options
	// charts are the Helm extensions to wait for (from k0s.yaml, else from the options).
	charts []wantChart
	client *kube.Client
}

// kubeconfigPath is the kubeconfig the waits read the cluster with.
func (w *waiter) kubeconfigPath() string {
	if w.o.Role.IsController() {
		return path.Join(w.o.DataDir, "pki/admin.conf")
	}
	return path.Join(w.o.DataDir, "kubelet.conf")
}

// kube returns the API client, made on first use (the kubeconfig appears once k0s started).
func (w *waiter) kube() (*kube.Client, error) {
	if w.client != nil {
		return w.client, nil
	}
	c, err := w.env.kube(w.env.path(w.kubeconfigPath()))
	if err != nil {
		return nil, err
	}
	w.client = c
	return c, nil
}

// get reads one object; found is false when the API answers NotFound (typed, never from
// error text).
func (w *waiter) get(ctx context.Context, ref kube.Ref) (obj kube.Object, found bool, err error) {
	c, err := w.kube()
	if err != nil {
		return nil, false, err
	}
	obj, err = c.Get(ctx, ref)
	if kube.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return obj, true, nil
}

// list reads a collection (ref without a name).
func (w *waiter) list(ctx context.Context, ref kube.Ref) ([]kube.Object, error) {
	obj, found, err := w.get(ctx, ref)
	if err != nil || !found {
		return nil, err
	}
	raw, _ := obj.Get("items").([]any)
	out := make([]kube.Object, 0, len(raw))
	for _, it := range raw {
		if m, ok := it.(map[string]any); ok {
			out = append(out, kube.Object(m))
		}
	}
	return out, nil
}

// permanent marks a condition waiting cannot mend: the poll stops and fails with it at once.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// poll calls check until it reports done, the timeout passes, ctx ends, or check returns a
// permanent error.
func (w *waiter) poll(ctx context.Context, what string, check func(ctx context.Context) (bool, string, error)) error {
	deadline := w.env.now().Add(w.o.Timeout)
	last := "no answer yet"
	for {
		done, cond, err := check(ctx)
		var p permanent
		if errors.As(err, &p) {
			return fmt.Errorf("%s failed: %w", what, p.error)
		}
		if err != nil {
			cond = err.Error()
		}
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
	if errors.As(err, &cerr) {
		if t := command.Tail(cerr.Stderr, 2); t != "" {
			return t
		}
	}
	return err.Error()
}

// waitStep is one wait of the procedure.
func (w *waiter) waitStep(title, reason string, run bool, do func(context.Context) error) step.Step {
	return step.Step{Title: title, Kind: step.Wait, Check: decided(run, reason, "not enabled"), Do: do}
}

// step returns the wait step called name (ok: the wait applies to this node).
func (w *waiter) step(name string) (step.Step, bool) {
	o := w.o
	switch name {
	case WaitAPI:
		if !o.Role.IsController() {
			return step.Step{}, false
		}
		return w.waitStep("Wait for the Kubernetes API (/readyz)", "controllers serve the API", true, w.api), true
	case WaitNode:
		if !o.Role.RunsWorkloads() {
			return step.Step{}, false
		}
		return w.waitStep("Wait for node "+o.NodeName+" to register", "this node runs a kubelet", true, w.node), true
	case WaitCharts:
		return w.waitStep("Wait for the Helm charts "+chartNames(w.charts), "each Chart object reports its release installed with the wanted version and values, without error", len(w.charts) > 0, w.chartsReady), true
	case WaitCilium:
		return w.waitStep("Wait for Cilium (DaemonSet and operator)", "the CNI makes nodes Ready", o.Cluster.Addons.Cilium.Enabled, w.cilium), true
	case WaitNodes:
		return w.waitStep("Wait for nodes "+strings.Join(o.Nodes, ", ")+" to be Ready", "every node of the inventory", len(o.Nodes) > 0, w.nodes), true
	case WaitOpenEBS:
		return w.waitStep("Wait for OpenEBS (StorageClass openebs-hostpath)", "local volumes", o.Cluster.Addons.OpenEBS.Enabled, w.openebs), true
	case WaitRook:
		return w.waitStep("Wait for Rook-Ceph (operator, then CephCluster Ready)", "Ceph block storage", o.Cluster.Addons.Rook.Enabled, w.rook), true
	}
	return step.Step{}, false
}

// steps are the waits of o.Wait that apply to this node, in WaitOrder.
func (w *waiter) steps() []step.Step {
	var out []step.Step
	for _, name := range WaitOrder {
		if !contains(w.o.Wait, name) {
			continue
		}
		if s, ok := w.step(name); ok {
			out = append(out, s)
		}
	}
	return out
}

func chartNames(cs []wantChart) string {
	var n []string
	for _, c := range cs {
		n = append(n, c.Name)
	}
	if len(n) == 0 {
		return "(none enabled)"
	}
	return strings.Join(n, ", ")
}

func (w *waiter) status(ctx context.Context) error {
	return w.poll(ctx, "k0s status", func(ctx context.Context) (bool, string, error) {
		_, err := w.env.Run.Run(ctx, command.Cmd{Name: w.o.Binary, Args: []string{"status", "-o", "json"}})
		if err != nil {
			return false, errCond(err), nil
		}
		return true, "", nil
	})
}

func (w *waiter) api(ctx context.Context) error {
	return w.poll(ctx, "the API answering /readyz", func(ctx context.Context) (bool, string, error) {
		c, err := w.kube()
		if err != nil {
			return false, "", err
		}
		// /readyz answers 200 "ok" when ready, 500 with the failed checks otherwise.
		if err := c.Do(ctx, http.MethodGet, "/readyz", "", nil, nil); err != nil {
			return false, "/readyz: " + err.Error(), nil
		}
		return true, "", nil
	})
}

func (w *waiter) node(ctx context.Context) error {
	return w.poll(ctx, "node "+w.o.NodeName+" registering", func(ctx context.Context) (bool, string, error) {
		_, found, err := w.get(ctx, kube.Ref{APIVersion: "v1", Kind: "Node", Name: w.o.NodeName})
		if err != nil {
			return false, "", err
		}
		return found, "node " + w.o.NodeName + " not registered yet", nil
	})
}

// wantChart is a Helm extension as k0s.yaml lists it: k0s turns it into the Chart
// kube-system/k0s-addon-chart-<Name> with spec.releaseName = Name.
type wantChart struct {
	Name, Version, Namespace, Values string
	// ChartName and RepoURL are the entry's chartname and the URL of the k0s.yaml repository
	// it names ("" when unknown, e.g. an OCI chart): k0s v1.35 copies the URL into
	// spec.repository (v1.34 does not).
	ChartName, RepoURL string
}

func (c wantChart) objectName() string { return "k0s-addon-chart-" + c.Name }

// optionCharts are the charts the options render into k0s.yaml.
func optionCharts(cc ClusterConfig) ([]wantChart, error) {
	var out []wantChart
	for _, c := range cc.Charts() {
		v, err := renderValues(c)
		if err != nil {
			return nil, err
		}
		out = append(out, wantChart{Name: c.Name, Version: c.Version, Namespace: c.Namespace, Values: v, ChartName: c.ChartName, RepoURL: c.RepoURL})
	}
	return out, nil
}

// configCharts are the charts a k0s.yaml lists (spec.extensions.helm.charts).
func configCharts(data []byte) ([]wantChart, error) {
	var doc struct {
		Spec struct {
			Extensions struct {
				Helm struct {
					Repositories []struct {
						Name string `yaml:"name"`
						URL  string `yaml:"url"`
					} `yaml:"repositories"`
					Charts []struct {
						Name      string `yaml:"name"`
						ChartName string `yaml:"chartname"`
						Version   string `yaml:"version"`
						Namespace string `yaml:"namespace"`
						Values    string `yaml:"values"`
					} `yaml:"charts"`
				} `yaml:"helm"`
			} `yaml:"extensions"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("k0s.yaml is not YAML: %w", err)
	}
	repos := map[string]string{}
	for _, r := range doc.Spec.Extensions.Helm.Repositories {
		repos[r.Name] = r.URL
	}
	var out []wantChart
	for _, c := range doc.Spec.Extensions.Helm.Charts {
		repo, _, _ := strings.Cut(c.ChartName, "/")
		out = append(out, wantChart{Name: c.Name, Version: c.Version, Namespace: c.Namespace, Values: c.Values,
			ChartName: c.ChartName, RepoURL: repos[repo]})
	}
	return out, nil
}

// ChartValuesHash is what k0s' helm extension controller writes into a Chart's
// status.valuesHash once it applied spec: sha256 of spec.releaseName followed by spec.values,
// hex (k0s v1.35.3+k0s.0, 364369c9, pkg/apis/helm/v1beta1/chart_types.go ChartSpec.HashValues;
// written by pkg/component/controller/extensions_controller.go updateStatus). It is the one
// place the module, its tests and the test stand-ins take the formula from.
func ChartValuesHash(releaseName, values string) string {
	sum := sha256.Sum256([]byte(releaseName + values))
	return hex.EncodeToString(sum[:])
}

// chartState says whether the Chart object of c has installed what k0s.yaml asks for, in the
// terms of k0s' own chartNeedsUpgrade (extensions_controller.go, v1.35.3+k0s.0): the status
// names the spec's release, version and namespace, carries no error, and its valuesHash is
// HashValues of the spec. A status.error written for the current spec (its valuesHash
// matches) is k0s' verdict on this very spec: it is returned as permanent.
func chartState(ob kube.Object, c wantChart, found bool) (bool, string, error) {
	if !found {
		return false, "Chart " + c.objectName() + " not created yet", nil
	}
	specValues := ob.Str("spec", "values")
	release := ob.Str("spec", "releaseName")
	hash := ChartValuesHash(release, specValues)
	if same, _ := sameValues(specValues, c.Values); !same {
		return false, "Chart " + c.Name + ": the controller has not taken the new values yet", nil
	}
	// A spec k0s' applier has not rewritten yet (a new version, chart or repository; the
	// values hash does not cover them) still carries the status of the old one.
	if v := ob.Str("spec", "version"); c.Version != "" && v != c.Version {
		return false, fmt.Sprintf("Chart %s: the controller has not taken the new version yet (spec says %q, k0s.yaml %s)", c.Name, v, c.Version), nil
	}
	if n := ob.Str("spec", "chartName"); c.ChartName != "" && n != "" && n != c.ChartName {
		return false, fmt.Sprintf("Chart %s: the controller has not taken the new chart yet (spec says %s, k0s.yaml %s)", c.Name, n, c.ChartName), nil
	}
	if u := ob.Str("spec", "repository", "url"); c.RepoURL != "" && u != "" && u != c.RepoURL {
		return false, fmt.Sprintf("Chart %s: the controller has not taken the new repository yet (spec says %s, k0s.yaml %s)", c.Name, u, c.RepoURL), nil
	}
	if e := ob.Str("status", "error"); e != "" {
		if ob.Str("status", "valuesHash") == hash && !statusOlderThanSpec(ob) {
			return false, "", permanent{fmt.Errorf("Chart %s: k0s reports: %s", c.Name, e)}
		}
		return false, "Chart " + c.Name + ": " + e, nil
	}
	if ob.Str("status", "releaseName") == "" {
		return false, "Chart " + c.Name + ": not installed yet", nil
	}
	if v := ob.Str("status", "version"); c.Version != "" && v != c.Version {
		return false, fmt.Sprintf("Chart %s: version %q installed, want %s", c.Name, v, c.Version), nil
	}
	if ns := ob.Str("status", "namespace"); ns != "" && ns != ob.Str("spec", "namespace") {
		return false, fmt.Sprintf("Chart %s: installed in namespace %s, want %s", c.Name, ns, ob.Str("spec", "namespace")), nil
	}
	if ob.Str("status", "valuesHash") != hash {
		return false, "Chart " + c.Name + ": the new values are not installed yet", nil
	}
	return true, "", nil
}

// statusOlderThanSpec reports whether a Chart's status may have been written before its
// current spec: status.updated (a Go time string, ns) is not at least a second after the last
// write of spec by the object's managers (metadata.managedFields times are whole seconds).
// Seen with a real k0s v1.35.3+k0s.0 (by-hand run, tests/k0sfake/testdata/v1.35.3/README.md):
// after k0s.yaml changed a chart's repository and k0s restarted, the Chart kept its old
// status.error, with the same valuesHash, until the applier rewrote the spec; k0s then
// reconciled it at once and wrote a new status. Without managedFields or a parsable time the
// status counts as current.
func statusOlderThanSpec(ob kube.Object) bool {
	updated, err := parseGoTime(ob.Str("status", "updated"))
	if err != nil {
		return false
	}
	var spec time.Time
	mf, _ := ob.Get("metadata", "managedFields").([]any)
	for _, e := range mf {
		m, _ := e.(map[string]any)
		if m == nil || m["subresource"] != nil && m["subresource"] != "" {
			continue
		}
		if f, _ := m["fieldsV1"].(map[string]any); f == nil || f["f:spec"] == nil {
			continue
		}
		ts, _ := m["time"].(string)
		if t, err := time.Parse(time.RFC3339, ts); err == nil && t.After(spec) {
			spec = t
		}
	}
	return !spec.IsZero() && updated.Before(spec.Add(time.Second))
}

// parseGoTime reads time.Time.String() as k0s writes status.updated
// ("2026-12-02 20:38:58.312329926 +0000 UTC m=+21.343834327"; the monotonic part is dropped).
func parseGoTime(s string) (time.Time, error) {
	if i := strings.Index(s, " m="); i >= 0 {
		s = s[:i]
	}
	return time.Parse("2006-01-02 15:04:05.999999999 -0700 MST", s)
}

func (w *waiter) chartsReady(ctx context.Context) error {
	return w.poll(ctx, "the Helm charts installing", func(ctx context.Context) (bool, string, error) {
		var blocking []string
		var failed []error
		for _, c := range w.charts {
			ob, found, err := w.get(ctx, kube.Ref{APIVersion: "helm.k0sproject.io/v1beta1", Kind: "Chart", Namespace: "kube-system", Name: c.objectName()})
			if err != nil {
				return false, "", err
			}
			ok, cond, err := chartState(ob, c, found)
			var p permanent
			if errors.As(err, &p) {
				failed = append(failed, p.error)
				continue
			}
			if !ok {
				blocking = append(blocking, cond)
			}
		}
		if len(failed) > 0 {
			return false, "", permanent{errors.Join(failed...)}
		}
		return len(blocking) == 0, strings.Join(blocking, "; "), nil
	})
}

func (w *waiter) deploymentAvailable(ctx context.Context, ns, name string) (bool, string, error) {
	d, found, err := w.get(ctx, kube.Ref{APIVersion: "apps/v1", Kind: "Deployment", Namespace: ns, Name: name})
	if err != nil {
		return false, "", err
	}
	if !found {
		return false, "Deployment " + ns + "/" + name + " not created yet", nil
	}
	st, reason, msg, _ := d.Condition("Available")
	return st == "True", "Deployment " + ns + "/" + name + " Available=" + st + ": " + strings.TrimSpace(reason+" "+msg), nil
}

func num(o kube.Object, p ...string) int64 {
	switch v := o.Get(p...).(type) {
	case float64:
		return int64(v)
	case int64:
		return v
	case int:
		return int64(v)
	}
	return 0
}

func (w *waiter) cilium(ctx context.Context) error {
	return w.poll(ctx, "Cilium becoming ready", func(ctx context.Context) (bool, string, error) {
		ds, found, err := w.get(ctx, kube.Ref{APIVersion: "apps/v1", Kind: "DaemonSet", Namespace: "kube-system", Name: "cilium"})
		if err != nil {
			return false, "", err
		}
		if !found {
			return false, "DaemonSet kube-system/cilium not created yet", nil
		}
		want, ready := num(ds, "status", "desiredNumberScheduled"), num(ds, "status", "numberReady")
		if want == 0 || ready < want {
			return false, fmt.Sprintf("DaemonSet kube-system/cilium: %d of %d ready", ready, want), nil
		}
		return w.deploymentAvailable(ctx, "kube-system", "cilium-operator")
	})
}

func (w *waiter) nodes(ctx context.Context) error {
	return w.poll(ctx, "every node Ready", func(ctx context.Context) (bool, string, error) {
		items, err := w.list(ctx, kube.Ref{APIVersion: "v1", Kind: "Node"})
		if err != nil {
			return false, "", err
		}
		seen := map[string]kube.Object{}
		for _, n := range items {
			seen[n.Str("metadata", "name")] = n
		}
		var missing []string
		for _, name := range w.o.Nodes {
			n, ok := seen[name]
			if !ok {
				missing = append(missing, name+" (not registered)")
				continue
			}
			if st, reason, msg, _ := n.Condition("Ready"); st != "True" {
				missing = append(missing, name+" (Ready="+st+": "+strings.TrimSpace(reason+" "+msg)+")")
			}
		}
		return len(missing) == 0, "not ready: " + strings.Join(missing, ", "), nil
	})
}

func (w *waiter) openebs(ctx context.Context) error {
	return w.poll(ctx, "OpenEBS", func(ctx context.Context) (bool, string, error) {
		_, found, err := w.get(ctx, kube.Ref{APIVersion: "storage.k8s.io/v1", Kind: "StorageClass", Name: "openebs-hostpath"})
		if err != nil {
			return false, "", err
		}
		return found, "StorageClass openebs-hostpath not created yet", nil
	})
}

func (w *waiter) rook(ctx context.Context) error {
	return w.poll(ctx, "Rook-Ceph", func(ctx context.Context) (bool, string, error) {
		if ok, cond, err := w.deploymentAvailable(ctx, "rook-ceph", "rook-ceph-operator"); !ok || err != nil {
			return false, cond, err
		}
		c, err := w.kube()
		if err != nil {
			return false, "", err
		}
		// The CephCluster kind exists once the operator chart installed its CRDs.
		obj, err := c.Get(ctx, kube.Ref{APIVersion: "ceph.rook.io/v1", Kind: "CephCluster", Namespace: "rook-ceph"})
		if err != nil {
			c.ResetDiscovery()
			return false, "CephClusters: " + err.Error(), nil
		}
		items, _ := obj.Get("items").([]any)
		if len(items) == 0 {
			return false, "no CephCluster in rook-ceph yet", nil
		}
		cc := kube.Object(items[0].(map[string]any))
		phase, h := cc.Str("status", "phase"), cc.Str("status", "ceph", "health")
		if phase == "Ready" && (h == "HEALTH_OK" || h == "HEALTH_WARN") {
			return true, "", nil
		}
		return false, fmt.Sprintf("CephCluster %s: phase %q, health %q, %s", cc.Str("metadata", "name"), phase, h, cc.Str("status", "message")), nil
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
	// Binary and ServiceMode are what the module resolved (auto: from the machine).
	Binary      string `json:"binary"`
	ServiceMode string `json:"service_mode"`
}

// Node is one Kubernetes node as a controller sees it.
type Node struct {
	Name    string   `json:"name"`
	Roles   []string `json:"roles"`
	Ready   bool     `json:"ready"`
	Version string   `json:"kubelet_version"`
}

// facts reads what is true now: after the steps, or (check mode) before them. It reads the
// cluster (ID, nodes) whenever the controller runs, also after a failed step: a failed wait
// is when the cluster ID matters most.
func facts(ctx context.Context, env Env, o Options, before State, check bool) Facts {
	f := Facts{Role: string(o.Role), Bootstrap: o.Bootstrap, Version: before.Version, Running: before.Running,
		Joined: before.HasData(), ClusterCA: before.CA, API: o.Cluster.APIAddress, Binary: o.Binary, ServiceMode: o.ServiceMode}
	if !check {
		if st, err := Gather(ctx, env, o); err == nil {
			f.Version, f.Running, f.Joined, f.ClusterCA = st.Version, st.Running, st.HasData(), st.CA
		}
	}
	if !f.Running || !o.Role.IsController() {
		return f
	}
	w := &waiter{env: env, o: o}
	if ns, found, err := w.get(ctx, kube.Ref{APIVersion: "v1", Kind: "Namespace", Name: "kube-system"}); err == nil && found {
		f.ClusterID = ns.Str("metadata", "uid")
	}
	items, err := w.list(ctx, kube.Ref{APIVersion: "v1", Kind: "Node"})
	if err != nil {
		return f
	}
	for _, n := range items {
		node := Node{Name: n.Str("metadata", "name"), Version: n.Str("status", "nodeInfo", "kubeletVersion")}
		st, _, _, _ := n.Condition("Ready")
		node.Ready = st == "True"
		for k := range n.Map("metadata", "labels") {
			if r, ok := strings.CutPrefix(k, "node-role.kubernetes.io/"); ok {
				node.Roles = append(node.Roles, r)
			}
		}
		sort.Strings(node.Roles)
		f.Nodes = append(f.Nodes, node)
	}
	return f
}
