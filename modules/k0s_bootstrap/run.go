package k0sbootstrap

import (
	"context"
	"time"

	"github.com/business-operations/bo.microvm/internal/ansible"
	"github.com/business-operations/bo.microvm/internal/command"
	"github.com/business-operations/bo.microvm/internal/k0s"
)

// run maps the module's parameters onto internal/k0s and its result onto the module's.
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
			out.Set(ansible.NoLogResult, true).Set("invalidated", append([]string{}, tr.Invalidated...))
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
