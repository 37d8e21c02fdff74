// Package k0sbootstrap is the bo.microvm.k0s_bootstrap module: it installs k0s on the node it
// runs on, initialises the cluster on the bootstrap controller, joins the other nodes with
// short-lived tokens, and deploys Cilium, OpenEBS and Rook-Ceph as k0s Helm extensions.
package k0sbootstrap

import (
	_ "embed"
	"time"

	"github.com/business-operations/bo.microvm/internal/ansible"
	"github.com/business-operations/bo.microvm/internal/k0s"
	"github.com/business-operations/bo.microvm/internal/multicall"
)

//go:embed doc.yml
var doc []byte

func addon(name, version string, extra ...ansible.Option) ansible.Option {
	return ansible.Option{Name: name, Type: ansible.Dict, ApplyDefaults: true,
		Options: append([]ansible.Option{
			{Name: "enabled", Type: ansible.Bool, Default: true},
			{Name: "version", Default: version},
			{Name: "values", Type: ansible.Dict, Default: map[string]any{}},
			{Name: "repository", Default: ""},
		}, extra...)}
}

func init() {
	multicall.Register(doc, ansible.Module{
		Name: "k0s_bootstrap",
		Spec: ansible.Spec{Options: []ansible.Option{
			{Name: "state", Default: "present", Choices: []any{"present", "token", "ready", "reset"}},
			{Name: "role", Choices: []any{"controller", "controller+worker", "worker"}},
			{Name: "bootstrap", Type: ansible.Bool, Default: false},
			{Name: "token", NoLog: true},
			{Name: "cluster_ca_sha256"},
			{Name: "force_reset", Type: ansible.Bool, Default: false},
			{Name: "service_mode", Default: "auto", Choices: []any{"auto", "generic", "nixos"}},
			{Name: "service_name", Default: k0s.DefaultNixOSService},
			{Name: "k0s_binary", Type: ansible.Path},
			{Name: "config_path", Type: ansible.Path, Default: k0s.DefaultConfigPath},
			{Name: "token_file", Type: ansible.Path, Default: k0s.DefaultTokenFile},
			{Name: "data_dir", Type: ansible.Path, Default: k0s.DefaultDataDir},
			{Name: "manage_config", Type: ansible.Bool, Default: true},
			{Name: "no_taints", Type: ansible.Bool, Default: false},
			{Name: "node_name"},
			{Name: "extra_args", Type: ansible.List, Elements: ansible.Str, Default: []any{}},
			{Name: "api_address"},
			{Name: "api_port", Type: ansible.Int, Default: k0s.DefaultAPIPort},
			{Name: "sans", Type: ansible.List, Elements: ansible.Str, Default: []any{}},
			{Name: "peer_address"},
			{Name: "addons", Type: ansible.Dict, ApplyDefaults: true, Options: []ansible.Option{
				addon("cilium", "1.18.4"),
				addon("openebs", "4.4.0"),
				addon("rook", "v1.18.7",
					ansible.Option{Name: "device_filter", Default: "^vdb$"},
					ansible.Option{Name: "mon_count", Type: ansible.Int, Default: 1},
					ansible.Option{Name: "osd_nodes", Type: ansible.Int, Default: 0},
					ansible.Option{Name: "cluster_values", Type: ansible.Dict, Default: map[string]any{}},
				),
			}},
			{Name: "wait_for", Type: ansible.List, Elements: ansible.Str, Choices: []any{"api", "node", "charts", "cilium", "nodes", "openebs", "rook"}},
			{Name: "nodes", Type: ansible.List, Elements: ansible.Str, Default: []any{}},
			{Name: "timeout", Type: ansible.Int, Default: 600},
			{Name: "poll_interval", Type: ansible.Int, Default: 5},
			{Name: "token_role", Choices: []any{"worker", "controller"}},
			{Name: "token_expiry"},
			{Name: "invalidate_tokens", Type: ansible.List, Elements: ansible.Str, Default: []any{}},
		}, Rules: ansible.Rules{RequiredIf: []ansible.RequiredIf{{Key: "state", Value: "present", Requirements: []string{"role"}}}}},
		CheckMode: ansible.Full,
		DiffMode:  ansible.Full,
		Timeout:   2 * time.Hour,
		Run:       k0s.Module,
	})
}
