package k0s

import (
	"context"
	"time"

	"github.com/business-operations/bo.microvm/internal/ansible"
	"github.com/business-operations/bo.microvm/internal/command"
)

// Module is the bo.microvm.k0s_bootstrap module: it maps the parameters to Options, runs the
// state asked for and shapes the result (modules/k0s_bootstrap holds only its spec).
func Module(ctx context.Context, inv *ansible.Invocation) (*ansible.Result, error) {
	p := inv.Params
	env := Env{Run: command.Exec{}}
	o := ModuleOptions(p)
	var (
		res *Result
		out = &ansible.Result{}
		err error
	)
	switch p.Str("state") {
	case "token":
		var tr *TokenResult
		tr, err = Tokens(ctx, env, o, p.Str("token_role"), p.Str("token_expiry"), p.Strs("invalidate_tokens"), inv.CheckMode)
		if tr != nil {
			res = &tr.Result
			setTokenResult(out, tr)
		}
	case "reset":
		res, err = Reset(ctx, env, o, p.Bool("force_reset"), inv.CheckMode)
	case "ready":
		res, err = Ready(ctx, env, o, inv.CheckMode)
	default:
		res, err = Apply(ctx, env, o, inv.CheckMode)
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

// ModuleOptions maps the module's parameters to Options.
func ModuleOptions(p ansible.Params) Options {
	a := p.Dict("addons")
	addon := func(name string) Addon {
		d := a.Dict(name)
		return Addon{Enabled: d.Bool("enabled"), Version: d.Str("version"), Values: d.Dict("values"), Repository: d.Str("repository")}
	}
	rook := a.Dict("rook")
	var wait []string // nil: the role's default waits
	if p.Has("wait_for") {
		wait = p.Strs("wait_for")
	}
	return Options{
		Role: Role(p.Str("role")), Bootstrap: p.Bool("bootstrap"), Token: p.Str("token"),
		ClusterCA: p.Str("cluster_ca_sha256"), ForceReset: p.Bool("force_reset"),
		ServiceMode: p.Str("service_mode"), ServiceName: p.Str("service_name"), Binary: p.Str("k0s_binary"),
		ConfigPath: p.Str("config_path"), TokenFile: p.Str("token_file"), DataDir: p.Str("data_dir"),
		ManageConfig: p.Bool("manage_config"), NoTaints: p.Bool("no_taints"), NodeName: p.Str("node_name"),
		ExtraArgs: p.Strs("extra_args"),
		Cluster: ClusterConfig{
			APIAddress: p.Str("api_address"), APIPort: int(p.Int("api_port")), SANs: p.Strs("sans"), PeerAddress: p.Str("peer_address"),
			DataDir: p.Str("data_dir"),
			Addons: Addons{
				Cilium: addon("cilium"), OpenEBS: addon("openebs"), Rook: addon("rook"),
				RookCluster:  Addon{Values: rook.Dict("cluster_values")},
				DeviceFilter: rook.Str("device_filter"), MonCount: int(rook.Int("mon_count")), OSDNodes: int(rook.Int("osd_nodes")),
			},
		},
		Wait: wait, Nodes: p.Strs("nodes"),
		Timeout:      time.Duration(p.Int("timeout")) * time.Second,
		PollInterval: time.Duration(p.Int("poll_interval")) * time.Second,
	}
}

// setTokenResult puts what state=token made into the result. A result that holds the join
// token asks to be hidden as a whole (the action plugin marks it no_log, see
// ansible.NoLogResult); one without (a failed create, invalidation only, check mode) is not,
// so a failure shows k0s' error: hidden, a failed token task said only "the output has been
// hidden" (seen in the by-hand run against a real k0s v1.34.10, where token create failed).
func setTokenResult(out *ansible.Result, tr *TokenResult) {
	out.Set("invalidated", append([]string{}, tr.Invalidated...))
	if tr.Token.ID != "" {
		out.Set("token_id", tr.Token.ID).Set("token_expires_at", tr.Token.ExpiresAt)
	}
	if tr.Token.Token != "" {
		out.Set(ansible.NoLogResult, true).Set("token", tr.Token.Token)
	}
}
