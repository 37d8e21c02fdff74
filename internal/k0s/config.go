package k0s

import (
	"bytes"
	"fmt"
	"path"
	"reflect"
	"sort"
	"strconv"

	"github.com/business-operations/bo.microvm/internal/kube"
	"go.yaml.in/yaml/v3"
)

// ConfigHeader is the first line of a k0s.yaml this module wrote.
const ConfigHeader = "# Written by bo.microvm.k0s_bootstrap; edits are replaced on the next run."

// ClusterConfig is what the module puts into k0s.yaml (reference/k0s-flux.md §2.4, §3).
type ClusterConfig struct {
	APIAddress  string   // the API endpoint every node reaches (first controller or a VIP)
	APIPort     int      // 6443
	SANs        []string // extra API certificate names
	PeerAddress string   // this controller's etcd peer address ("" = k0s picks)
	// DataDir is k0s' data directory: the kubelet root is <DataDir>/kubelet (k0s
	// v1.35.3+k0s.0 pkg/config/cfgvars.go: KubeletRootDir defaults to filepath.Join(dataDir,
	// "kubelet")), which the CSI plugins must be told. "" = DefaultDataDir.
	DataDir string
	Addons  Addons
}

// KubeletRootDir is the kubelet's root directory k0s uses for cc's data dir.
func (cc ClusterConfig) KubeletRootDir() string {
	d := cc.DataDir
	if d == "" {
		d = DefaultDataDir
	}
	return path.Join(d, "kubelet")
}

// Addon is one Helm add-on: on/off, the chart version, and values merged over the module's.
type Addon struct {
	Enabled bool
	Version string
	Values  map[string]any
	// Repository is the Helm repository URL to fetch the chart from instead of the upstream
	// one (a mirror; "" = upstream). Rook's repository serves both of its charts.
	Repository string
}

// repo is a's repository URL: its Repository, else upstream.
func (a Addon) repo(upstream string) string {
	if a.Repository != "" {
		return a.Repository
	}
	return upstream
}

// Addons are the Helm extensions k0s installs: Cilium (CNI, kube-proxy replacement), OpenEBS
// (local hostpath volumes) and Rook-Ceph (operator, then the cluster on the raw disk).
type Addons struct {
	Cilium       Addon
	OpenEBS      Addon
	Rook         Addon
	RookCluster  Addon  // version defaults to Rook's
	DeviceFilter string // the raw Ceph disk(s) only, e.g. "^vdb$"
	MonCount     int    // Ceph monitors; 0 = 1
	// OSDNodes is how many nodes carry a Ceph disk (the kubelets); the block pool keeps
	// min(3, OSDNodes) replicas, one per host. 0 = 3 (the chart's default size).
	OSDNodes int
}

// Chart is one entry of spec.extensions.helm.charts. k0s turns it into the Chart object
// kube-system/k0s-addon-chart-<Name>.
type Chart struct {
	Name      string
	ChartName string
	Version   string
	Namespace string
	Values    map[string]any
	Order     int
	Timeout   string
	RepoName  string
	RepoURL   string
}

// ObjectName is the name of the Chart object k0s creates for c.
func (c Chart) ObjectName() string { return "k0s-addon-chart-" + c.Name }

// Charts are the enabled add-ons as k0s charts, in install order.
func (cc ClusterConfig) Charts() []Chart {
	port := cc.APIPort
	if port == 0 {
		port = DefaultAPIPort
	}
	a := cc.Addons
	kubeletDir := cc.KubeletRootDir()
	var charts []Chart
	if a.Cilium.Enabled {
		charts = append(charts, Chart{
			Name: "cilium", ChartName: "cilium/cilium", Version: a.Cilium.Version, Namespace: "kube-system",
			RepoName: "cilium", RepoURL: a.Cilium.repo("https://helm.cilium.io/"), Order: 1, Timeout: "20m",
			Values: kube.Merge(map[string]any{
				"kubeProxyReplacement": true,
				"k8sServiceHost":       cc.APIAddress,
				"k8sServicePort":       port,
				"ipam":                 map[string]any{"mode": "kubernetes"},
				"operator":             map[string]any{"replicas": 1},
			}, a.Cilium.Values),
		})
	}
	if a.OpenEBS.Enabled {
		charts = append(charts, Chart{
			Name: "openebs", ChartName: "openebs/openebs", Version: a.OpenEBS.Version, Namespace: "openebs",
			RepoName: "openebs", RepoURL: a.OpenEBS.repo("https://openebs.github.io/openebs"), Order: 2, Timeout: "20m",
			Values: kube.Merge(map[string]any{
				"engines": map[string]any{
					"replicated": map[string]any{"mayastor": map[string]any{"enabled": false}},
					"local":      map[string]any{"lvm": map[string]any{"enabled": false}, "zfs": map[string]any{"enabled": false}},
				},
				"lvm-localpv": map[string]any{"lvmNode": map[string]any{"kubeletDir": kubeletDir}},
				"zfs-localpv": map[string]any{"zfsNode": map[string]any{"kubeletDir": kubeletDir}},
				"mayastor":    map[string]any{"csi": map[string]any{"node": map[string]any{"kubeletDir": kubeletDir}}},
				// One default StorageClass per cluster: Ceph's block class when Rook is on.
				"localpv-provisioner": map[string]any{"hostpathClass": map[string]any{"isDefaultClass": !a.Rook.Enabled}},
				"alloy":               map[string]any{"enabled": false},
				"loki":                map[string]any{"enabled": false},
				"minio":               map[string]any{"enabled": false},
			}, a.OpenEBS.Values),
		})
	}
	if a.Rook.Enabled {
		charts = append(charts, Chart{
			Name: "rook-ceph", ChartName: "rook-release/rook-ceph", Version: a.Rook.Version, Namespace: "rook-ceph",
			RepoName: "rook-release", RepoURL: a.Rook.repo("https://charts.rook.io/release"), Order: 3, Timeout: "20m",
			Values: kube.Merge(map[string]any{
				"csi": map[string]any{"kubeletDirPath": kubeletDir},
			}, a.Rook.Values),
		})
		mons := a.MonCount
		if mons == 0 {
			mons = 1
		}
		version := a.RookCluster.Version
		if version == "" {
			version = a.Rook.Version
		}
		charts = append(charts, Chart{
			Name: "rook-ceph-cluster", ChartName: "rook-release/rook-ceph-cluster", Version: version, Namespace: "rook-ceph",
			RepoName: "rook-release", RepoURL: a.Rook.repo("https://charts.rook.io/release"), Order: 4, Timeout: "30m",
			Values: kube.Merge(map[string]any{
				"operatorNamespace": "rook-ceph",
				"cephClusterSpec": map[string]any{
					"dataDirHostPath": "/var/lib/rook",
					// Several mons on one node defeat their quorum: only a single mon may
					// share a node (with the mgr).
					"mon": map[string]any{"count": mons, "allowMultiplePerNode": mons == 1},
					"mgr": map[string]any{"count": 1, "allowMultiplePerNode": true},
					"storage": map[string]any{
						"useAllNodes":   true,
						"useAllDevices": false,
						"deviceFilter":  a.DeviceFilter,
					},
				},
				"cephBlockPools":   []any{blockPool(a.OSDNodes)},
				"cephFileSystems":  []any{},
				"cephObjectStores": []any{},
			}, a.RookCluster.Values),
		})
	}
	return charts
}

// blockPool is the rook-ceph-cluster chart's one block pool and its StorageClass, sized to the
// OSD nodes. The entry repeats the chart's own default (rook/rook 01d71c41,
// deploy/charts/rook-ceph-cluster/values.yaml cephBlockPools[0]: pool ceph-blockpool,
// failureDomain host, size 3, StorageClass ceph-block isDefault true, the rbd parameters),
// because Helm replaces a list as a whole; only the size is changed: with failureDomain host
// a pool cannot keep more replicas than there are hosts, and Rook refuses size 1 unless
// requireSafeReplicaSize is false (CephBlockPool spec.replicated).
func blockPool(osdNodes int) map[string]any {
	size := 3
	if osdNodes > 0 && osdNodes < size {
		size = osdNodes
	}
	replicated := map[string]any{"size": size}
	if size == 1 {
		replicated["requireSafeReplicaSize"] = false
	}
	return map[string]any{
		"name": "ceph-blockpool",
		"spec": map[string]any{"failureDomain": "host", "replicated": replicated},
		"storageClass": map[string]any{
			"enabled": true, "name": "ceph-block", "isDefault": true, "reclaimPolicy": "Delete",
			"allowVolumeExpansion": true, "mountOptions": []any{},
			"parameters": map[string]any{
				"imageFormat":   "2",
				"imageFeatures": "layering",
				"csi.storage.k8s.io/provisioner-secret-name":            "rook-csi-rbd-provisioner",
				"csi.storage.k8s.io/provisioner-secret-namespace":       "rook-ceph",
				"csi.storage.k8s.io/controller-expand-secret-name":      "rook-csi-rbd-provisioner",
				"csi.storage.k8s.io/controller-expand-secret-namespace": "rook-ceph",
				"csi.storage.k8s.io/node-stage-secret-name":             "rook-csi-rbd-node",
				"csi.storage.k8s.io/node-stage-secret-namespace":        "rook-ceph",
				"csi.storage.k8s.io/fstype":                             "ext4",
			},
		},
	}
}

type yamlDoc struct {
	APIVersion string   `yaml:"apiVersion"`
	Kind       string   `yaml:"kind"`
	Metadata   yamlMeta `yaml:"metadata"`
	Spec       yamlSpec `yaml:"spec"`
}
type yamlMeta struct {
	Name string `yaml:"name"`
}
type yamlSpec struct {
	API        yamlAPI         `yaml:"api"`
	Storage    *yamlStorage    `yaml:"storage,omitempty"`
	Network    yamlNetwork     `yaml:"network"`
	Extensions *yamlExtensions `yaml:"extensions,omitempty"`
}
type yamlAPI struct {
	// ExternalAddress is what join tokens and the k0s API name (k0s v1.35.3+k0s.0
	// pkg/apis/k0s/v1beta1/api.go APISpec.APIAddressURL and K0sControlPlaneAPIAddress use it
	// when set): the VIP or bootstrap controller every node reaches.
	ExternalAddress string   `yaml:"externalAddress,omitempty"`
	Port            int      `yaml:"port"`
	SANs            []string `yaml:"sans,omitempty"`
}
type yamlStorage struct {
	Type string   `yaml:"type"`
	Etcd yamlEtcd `yaml:"etcd"`
}
type yamlEtcd struct {
	PeerAddress string `yaml:"peerAddress"`
}
type yamlNetwork struct {
	Provider  string        `yaml:"provider"`
	KubeProxy yamlKubeProxy `yaml:"kubeProxy"`
}
type yamlKubeProxy struct {
	Disabled bool `yaml:"disabled"`
}
type yamlExtensions struct {
	Helm yamlHelm `yaml:"helm"`
}
type yamlHelm struct {
	Repositories []yamlRepo  `yaml:"repositories"`
	Charts       []yamlChart `yaml:"charts"`
}
type yamlRepo struct {
	Name string `yaml:"name"`
	URL  string `yaml:"url"`
}
type yamlChart struct {
	Name      string `yaml:"name"`
	ChartName string `yaml:"chartname"`
	Version   string `yaml:"version"`
	Namespace string `yaml:"namespace"`
	Order     int    `yaml:"order"`
	Timeout   string `yaml:"timeout"`
	Values    string `yaml:"values"`
}

// Render returns the k0s.yaml the module wants: network.provider custom and kube-proxy
// disabled (Cilium replaces both), the API SANs, and the add-ons as Helm extensions. The
// output is deterministic, so a re-run renders the same bytes.
func (cc ClusterConfig) Render() ([]byte, error) {
	port := cc.APIPort
	if port == 0 {
		port = DefaultAPIPort
	}
	doc := yamlDoc{
		APIVersion: "k0s.k0sproject.io/v1beta1",
		Kind:       "ClusterConfig",
		Metadata:   yamlMeta{Name: "k0s"},
		Spec: yamlSpec{
			API:     yamlAPI{ExternalAddress: cc.APIAddress, Port: port, SANs: sans(cc)},
			Network: yamlNetwork{Provider: "custom", KubeProxy: yamlKubeProxy{Disabled: true}},
		},
	}
	if cc.PeerAddress != "" {
		doc.Spec.Storage = &yamlStorage{Type: "etcd", Etcd: yamlEtcd{PeerAddress: cc.PeerAddress}}
	}
	if charts := cc.Charts(); len(charts) > 0 {
		h := yamlHelm{}
		seen := map[string]bool{}
		for _, c := range charts {
			if !seen[c.RepoName] {
				seen[c.RepoName] = true
				h.Repositories = append(h.Repositories, yamlRepo{Name: c.RepoName, URL: c.RepoURL})
			}
			values, err := renderValues(c)
			if err != nil {
				return nil, fmt.Errorf("render the values of chart %s: %w", c.Name, err)
			}
			h.Charts = append(h.Charts, yamlChart{Name: c.Name, ChartName: c.ChartName, Version: c.Version,
				Namespace: c.Namespace, Order: c.Order, Timeout: c.Timeout, Values: values})
		}
		doc.Spec.Extensions = &yamlExtensions{Helm: h}
	}
	var b bytes.Buffer
	b.WriteString(ConfigHeader + "\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("render k0s.yaml: %w", err)
	}
	return b.Bytes(), nil
}

func sans(cc ClusterConfig) []string {
	set := map[string]bool{}
	var out []string
	for _, s := range append([]string{cc.APIAddress}, cc.SANs...) {
		if s != "" && !set[s] {
			set[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// SameConfig reports whether two k0s.yaml documents mean the same: comments, key order,
// quoting and the layout of each chart's values string do not count.
func SameConfig(a, b []byte) (bool, error) {
	na, err := normalise(a)
	if err != nil {
		return false, err
	}
	nb, err := normalise(b)
	if err != nil {
		return false, err
	}
	return reflect.DeepEqual(na, nb), nil
}

func normalise(data []byte) (any, error) {
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("k0s.yaml is not YAML: %w", err)
	}
	v = canonical(v)
	// The values of each chart are a YAML string: compare what they say.
	if charts, ok := kube.Dig(v, "spec", "extensions", "helm", "charts").([]any); ok {
		for _, c := range charts {
			cm, ok := c.(map[string]any)
			if !ok {
				continue
			}
			if s, ok := cm["values"].(string); ok {
				var vals any
				if err := yaml.Unmarshal([]byte(s), &vals); err == nil {
					cm["values"] = canonical(vals)
				}
			}
		}
	}
	return v, nil
}

// canonical turns every number into a string of its value so 6443 and 6443.0 compare equal,
// and an empty map and a missing key do not differ from null.
func canonical(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			if e == nil {
				continue
			}
			out[k] = canonical(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = canonical(e)
		}
		return out
	case int:
		return strconv.Itoa(t)
	case int64:
		return strconv.FormatInt(t, 10)
	case uint64:
		return strconv.FormatUint(t, 10)
	case float64:
		return strconv.FormatFloat(t, 'g', -1, 64)
	}
	return v
}

// networkProvider is spec.network.provider of a k0s.yaml ("" when unset: k0s' default
// kuberouter).
func networkProvider(data []byte) string {
	var v any
	if yaml.Unmarshal(data, &v) != nil {
		return ""
	}
	s, _ := kube.Dig(v, "spec", "network", "provider").(string)
	if s == "" {
		return "kuberouter"
	}
	return s
}

// renderValues is the values string k0s.yaml carries for c.
func renderValues(c Chart) (string, error) {
	b, err := yaml.Marshal(c.Values)
	return string(b), err
}

// sameValues reports whether two chart values strings say the same.
func sameValues(a, b string) (bool, error) {
	var va, vb any
	if err := yaml.Unmarshal([]byte(a), &va); err != nil {
		return false, err
	}
	if err := yaml.Unmarshal([]byte(b), &vb); err != nil {
		return false, err
	}
	return reflect.DeepEqual(canonical(va), canonical(vb)), nil
}
