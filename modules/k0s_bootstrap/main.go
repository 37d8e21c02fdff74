// Command k0s_bootstrap is the bo.microvm.k0s_bootstrap module: it installs k0s on the node it
// runs on, initialises the cluster on the bootstrap controller, joins the other nodes with
// short-lived tokens, and deploys Cilium, OpenEBS and Rook-Ceph as k0s Helm extensions.
package main

import (
	"context"
	"time"

	"github.com/business-operations/bo.microvm/internal/ansible"
	"github.com/business-operations/bo.microvm/internal/command"
	"github.com/business-operations/bo.microvm/internal/k0s"
)

func addon(name, version string, extra ...ansible.Option) ansible.Option {
	return ansible.Option{Name: name, Type: ansible.Dict, ApplyDefaults: true, Description: []string{"The " + name + " Helm extension."},
		Options: append([]ansible.Option{
			{Name: "enabled", Type: ansible.Bool, Default: true, Description: []string{"Install it."}},
			{Name: "version", Default: version, Description: []string{"Chart version."}},
			{Name: "values", Type: ansible.Dict, Default: map[string]any{}, Description: []string{"Values merged over the module's (nested dicts merge, the rest replaces)."}},
		}, extra...)}
}

func main() {
	ansible.Main(ansible.Module{
		Name:             "k0s_bootstrap",
		ShortDescription: "Bootstrap k0s with Cilium, OpenEBS and Rook-Ceph on the node it runs on",
		Description: []string{
			"Runs on each node (NixOS VM or any Linux host with the k0s binary). Reads the node first: the k0s binary and version, the service unit, C(k0s status -o json), C(pki/ca.crt), C(pki/admin.conf), C(kubelet.conf) and C(etcd/member) under I(data_dir). Then runs only the steps the difference needs, k0sctl-style; the result lists every step as changed, waited or skipped, and check mode lists the same steps as would change or would wait.",
			"The controller with I(bootstrap=true) initialises the cluster once. Every other node joins with I(token), made by I(state=token) on the bootstrap controller; the token is written to I(token_file) (0600) and k0s reads it from there: it never appears on a command line, in the result or in logs. A node that already holds this cluster's data is left alone; a node holding another cluster's CA is refused unless I(force_reset=true).",
			"Controllers get I(config_path) with C(network.provider=custom), kube-proxy disabled and the add-ons as Helm extensions; the file is validated with C(k0s config validate) before it replaces the old one, compared semantically, and k0s restarts only when it changed.",
			"I(service_mode=generic) installs the unit with C(k0s install) and drives it with C(k0s start) and C(k0s stop). I(service_mode=nixos) expects the unit of k0s-nix's C(services.k0s) and uses systemctl; set I(manage_config=false) there when Nix renders k0s.yaml.",
			"I(state=reset) leaves the node clean (C(k0s etcd leave), stop, C(k0s reset), token file and module-written k0s.yaml removed); it needs I(force_reset=true).",
		},
		Notes: []string{
			"Waits poll every I(poll_interval) seconds for at most I(timeout) seconds each and report the last condition they saw on timeout.",
			"Chart readiness compares the Chart object's C(status.valuesHash) with the SHA-256 of its C(spec.values), as the k0s helm controller records it.",
		},
		Spec: ansible.Spec{Options: []ansible.Option{
			{Name: "state", Default: "present", Choices: []any{"present", "token", "ready", "reset"}, Description: []string{"C(present) installs, initialises or joins this node. C(token) creates a join token (and invalidates used ones) on the running bootstrap controller. C(ready) only runs the waits of I(wait_for) and changes nothing. C(reset) removes k0s' data from this node."}},
			{Name: "role", Choices: []any{"controller", "controller+worker", "worker"}, Description: []string{"This node's k0s role. Required with I(state=present)."}},
			{Name: "bootstrap", Type: ansible.Bool, Default: false, Description: []string{"This controller initialises the cluster. Exactly one controller per cluster."}},
			{Name: "token", NoLog: true, Description: []string{"Join token for a node that has not joined yet (the C(token) return of I(state=token)). Ignored by a node already in the cluster."}},
			{Name: "cluster_ca_sha256", Description: []string{"SHA-256 of the cluster CA (the bootstrap controller's C(facts.cluster_ca_sha256)). A node holding another CA is refused. Default: the CA inside I(token)."}},
			{Name: "force_reset", Type: ansible.Bool, Default: false, Description: []string{"Wipe another cluster's data with C(k0s reset) before joining; confirms I(state=reset)."}},
			{Name: "service_mode", Default: "generic", Choices: []any{"generic", "nixos"}, Description: []string{"Who owns the unit: C(k0s install) or NixOS."}},
			{Name: "service_name", Default: k0s.DefaultNixOSService, Description: []string{"The NixOS unit (without C(.service))."}},
			{Name: "k0s_binary", Type: ansible.Path, Default: k0s.DefaultBinary, Description: []string{"The k0s binary."}},
			{Name: "config_path", Type: ansible.Path, Default: k0s.DefaultConfigPath, Description: []string{"k0s.yaml of a controller."}},
			{Name: "token_file", Type: ansible.Path, Default: k0s.DefaultTokenFile, Description: []string{"Where the join token is written (0600)."}},
			{Name: "data_dir", Type: ansible.Path, Default: k0s.DefaultDataDir, Description: []string{"k0s' data directory."}},
			{Name: "manage_config", Type: ansible.Bool, Default: true, Description: []string{"Write I(config_path) on controllers. C(false) when NixOS renders it (C(services.k0s.spec))."}},
			{Name: "no_taints", Type: ansible.Bool, Default: false, Description: []string{"A controller+worker takes ordinary workloads (C(--no-taints))."}},
			{Name: "node_name", Description: []string{"This node's Kubernetes name. Default: the host name."}},
			{Name: "api_address", Description: []string{"The API address every node reaches (the bootstrap controller or a VIP): a SAN and Cilium's C(k8sServiceHost). Required for controllers."}},
			{Name: "api_port", Type: ansible.Int, Default: k0s.DefaultAPIPort, Description: []string{"The API port."}},
			{Name: "sans", Type: ansible.List, Elements: ansible.Str, Default: []any{}, Description: []string{"More API certificate names (every controller's address)."}},
			{Name: "peer_address", Description: []string{"This controller's etcd peer address. Default: k0s picks the default route's address."}},
			{Name: "addons", Type: ansible.Dict, ApplyDefaults: true, Description: []string{"The Helm extensions in k0s.yaml (controllers)."}, Options: []ansible.Option{
				addon("cilium", "1.18.4"),
				addon("openebs", "4.4.0"),
				addon("rook", "v1.18.7",
					ansible.Option{Name: "device_filter", Default: "^vdb$", Description: []string{"Rook's C(deviceFilter): the raw Ceph disk(s) only."}},
					ansible.Option{Name: "mon_count", Type: ansible.Int, Default: 1, Description: []string{"Ceph monitors."}},
					ansible.Option{Name: "cluster_values", Type: ansible.Dict, Default: map[string]any{}, Description: []string{"Values merged over the rook-ceph-cluster chart's."}},
				),
			}},
			{Name: "wait_for", Type: ansible.List, Elements: ansible.Str, Choices: []any{"api", "node", "charts", "cilium", "nodes", "openebs", "rook"}, Description: []string{"What to wait for after the steps, in this order: C(api) (C(/readyz)), C(node) (this node registered), C(charts), C(cilium), C(nodes) (all of I(nodes) Ready), C(openebs), C(rook). Default: C(api) on controllers, C(node) on workers."}},
			{Name: "nodes", Type: ansible.List, Elements: ansible.Str, Default: []any{}, Description: []string{"Node names C(wait_for=nodes) waits for."}},
			{Name: "timeout", Type: ansible.Int, Default: 600, Description: []string{"Seconds each wait may take."}},
			{Name: "poll_interval", Type: ansible.Int, Default: 5, Description: []string{"Seconds between polls."}},
			{Name: "token_role", Choices: []any{"worker", "controller"}, Description: []string{"I(state=token): create a join token for this role."}},
			{Name: "token_expiry", Description: []string{"I(state=token): the token's lifetime, e.g. C(10m). Default: 10m for workers, 30m for controllers."}},
			{Name: "invalidate_tokens", Type: ansible.List, Elements: ansible.Str, Default: []any{}, Description: []string{"I(state=token): IDs of join tokens to invalidate (the C(token_id) returns of earlier runs)."}},
		}, Rules: ansible.Rules{RequiredIf: []ansible.RequiredIf{{Key: "state", Value: "present", Requirements: []string{"role"}}}}},
		CheckMode: ansible.Full,
		DiffMode:  ansible.Full,
		Examples: `
# Controller+worker that initialises the cluster (k0s_role: controller+worker, k0s_bootstrap: true)
- name: Initialise the cluster on the first controller
  bo.microvm.k0s_bootstrap:
    role: controller+worker
    bootstrap: true
    api_address: 198.18.0.101
    sans: [198.18.0.101, 198.18.0.102]
  register: first

- name: Create a controller join token on the first controller
  bo.microvm.k0s_bootstrap:
    state: token
    token_role: controller
  register: ctl_token
  no_log: true

# Joining controller
- name: Join the second controller
  bo.microvm.k0s_bootstrap:
    role: controller
    token: "{{ ctl_token.token }}"
    cluster_ca_sha256: "{{ first.facts.cluster_ca_sha256 }}"
    api_address: 198.18.0.101
    sans: [198.18.0.101, 198.18.0.102]

# Worker
- name: Join a worker
  bo.microvm.k0s_bootstrap:
    role: worker
    token: "{{ wrk_token.token }}"
    cluster_ca_sha256: "{{ first.facts.cluster_ca_sha256 }}"

- name: Invalidate the used join tokens and wait for the add-ons
  bo.microvm.k0s_bootstrap:
    state: token
    invalidate_tokens: ["{{ ctl_token.token_id }}", "{{ wrk_token.token_id }}"]

- name: Wait until Cilium, every node, OpenEBS and Rook-Ceph are ready
  bo.microvm.k0s_bootstrap:
    role: controller+worker
    bootstrap: true
    api_address: 198.18.0.101
    sans: [198.18.0.101, 198.18.0.102]
    wait_for: [api, charts, cilium, nodes, openebs, rook]
    nodes: [k0s-cp1, k0s-cp2, k0s-w1]
    timeout: 1800

# NixOS VM whose k0s unit and k0s.yaml come from services.k0s (k0s-nix)
- name: Join a NixOS worker
  bo.microvm.k0s_bootstrap:
    role: worker
    service_mode: nixos
    k0s_binary: /run/current-system/sw/bin/k0s
    manage_config: false
    token: "{{ wrk_token.token }}"

- name: Remove k0s from a node
  bo.microvm.k0s_bootstrap:
    state: reset
    force_reset: true
`,
		Returns: []ansible.Return{
			{Name: "steps", Type: "list", Elements: "dict", Returned: "always", Description: "Every step with C(title), C(status) (changed, waited, skipped, would change, would wait, failed) and C(reason).",
				Sample: []any{map[string]any{"title": "Start k0s and join the cluster", "status": "changed", "reason": "not running"}}},
			{Name: "facts", Type: "dict", Returned: "always", Description: "The node and, on controllers, the cluster.", Contains: []ansible.Return{
				{Name: "role", Type: "str", Returned: "always", Description: "The role asked for."},
				{Name: "version", Type: "str", Returned: "always", Description: "C(k0s version).", Sample: "v1.33.4+k0s.0"},
				{Name: "running", Type: "bool", Returned: "always", Description: "k0s answers C(k0s status)."},
				{Name: "joined", Type: "bool", Returned: "always", Description: "The node holds cluster data."},
				{Name: "cluster_ca_sha256", Type: "str", Returned: "always", Description: "SHA-256 of the cluster CA the node holds; pass it to the other nodes as I(cluster_ca_sha256)."},
				{Name: "cluster_id", Type: "str", Returned: "on running controllers", Description: "UID of the kube-system namespace."},
				{Name: "api_address", Type: "str", Returned: "always", Description: "I(api_address)."},
				{Name: "nodes", Type: "list", Elements: "dict", Returned: "on running controllers", Description: "C(name), C(roles), C(ready), C(kubelet_version) of every node."},
			}},
			{Name: "token", Type: "str", Returned: "state=token and a token was created", Description: "The join token. Secret: the result is marked no_log; register it and pass it as I(token)."},
			{Name: "token_id", Type: "str", Returned: "state=token with token_role", Description: "The token's ID, for I(invalidate_tokens). In check mode a placeholder that I(invalidate_tokens) accepts in check mode only.", Sample: "abc123"},
			{Name: "invalidated", Type: "list", Elements: "str", Returned: "state=token", Description: "Token IDs invalidated."},
			{Name: "reboot_required", Type: "bool", Returned: "always", Description: "A reset ran: reboot to clear mounts and network state k0s reset leaves."},
		},
		Timeout: 2 * time.Hour,
		Run:     run,
	})
}

func run(ctx context.Context, inv *ansible.Invocation) (*ansible.Result, error) {
	p := inv.Params
	env := k0s.Env{Run: command.Exec{}}
	o := options(p)
	var (
		res *k0s.Result
		out = &ansible.Result{}
		err error
	)
	switch p.Str("state") {
	case "token":
		var tr *k0s.TokenResult
		tr, err = k0s.Tokens(ctx, env, o, p.Str("token_role"), p.Str("token_expiry"), p.Strs("invalidate_tokens"), inv.CheckMode)
		if tr != nil {
			res = &tr.Result
			out.Set("_ansible_no_log", true).Set("invalidated", append([]string{}, tr.Invalidated...))
			if tr.Token.ID != "" {
				out.Set("token_id", tr.Token.ID)
			}
			if tr.Token.Token != "" {
				out.Set("token", tr.Token.Token)
			}
		}
	case "reset":
		res, err = k0s.Reset(ctx, env, o, p.Bool("force_reset"), inv.CheckMode)
	case "ready":
		res, err = k0s.Ready(ctx, env, o, inv.CheckMode)
	default:
		res, err = k0s.Apply(ctx, env, o, inv.CheckMode)
	}
	if res == nil {
		return nil, err
	}
	out.Changed = res.Changed
	out.Set("steps", res.Steps).Set("facts", res.Facts).Set("reboot_required", res.RebootRequired)
	if res.ConfigBefore != res.ConfigAfter {
		out.Diff = []ansible.Diff{{Before: res.ConfigBefore, After: res.ConfigAfter, BeforeHeader: o.ConfigPath, AfterHeader: o.ConfigPath}}
	}
	return out, err
}

func options(p ansible.Params) k0s.Options {
	a := p.Dict("addons")
	addon := func(name string) k0s.Addon {
		d := a.Dict(name)
		return k0s.Addon{Enabled: d.Bool("enabled"), Version: d.Str("version"), Values: d.Dict("values")}
	}
	rook := a.Dict("rook")
	return k0s.Options{
		Role: k0s.Role(p.Str("role")), Bootstrap: p.Bool("bootstrap"), Token: p.Str("token"),
		ClusterCA: p.Str("cluster_ca_sha256"), ForceReset: p.Bool("force_reset"),
		ServiceMode: p.Str("service_mode"), ServiceName: p.Str("service_name"), Binary: p.Str("k0s_binary"),
		ConfigPath: p.Str("config_path"), TokenFile: p.Str("token_file"), DataDir: p.Str("data_dir"),
		ManageConfig: p.Bool("manage_config"), NoTaints: p.Bool("no_taints"), NodeName: p.Str("node_name"),
		Cluster: k0s.ClusterConfig{
			APIAddress: p.Str("api_address"), APIPort: int(p.Int("api_port")), SANs: p.Strs("sans"), PeerAddress: p.Str("peer_address"),
			Addons: k0s.Addons{
				Cilium: addon("cilium"), OpenEBS: addon("openebs"), Rook: addon("rook"),
				RookCluster:  k0s.Addon{Values: rook.Dict("cluster_values")},
				DeviceFilter: rook.Str("device_filter"), MonCount: int(rook.Int("mon_count")),
			},
		},
		Wait: waits(p), Nodes: p.Strs("nodes"),
		Timeout:      time.Duration(p.Int("timeout")) * time.Second,
		PollInterval: time.Duration(p.Int("poll_interval")) * time.Second,
	}
}

// waits is wait_for, or nil (the role's default) when absent.
func waits(p ansible.Params) []string {
	if !p.Has("wait_for") {
		return nil
	}
	return p.Strs("wait_for")
}
