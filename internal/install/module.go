package install

import (
	"maps"
	"slices"
	"strings"

	"github.com/business-operations/bo.microvm/internal/ansible"
)

// RequestFrom reads a request from the module's validated parameters. runner may be a
// store path (one VM) or a dict of VM name to store path.
func RequestFrom(p ansible.Params, check bool) (Request, error) {
	req := Request{
		Names:    p.Strs("name"),
		State:    p.Str("state"),
		Flake:    p.Str("flake"),
		Purge:    p.Bool("purge"),
		Rollback: p.Bool("rollback"),
		Parallel: int(p.Int("parallel")),
		HostKey:  p.Str("ssh_host_key"),
		Check:    check,
	}
	switch r := p["runner"].(type) {
	case nil:
	case string:
		if len(req.Names) != 1 {
			return req, ansible.ParamError("runner", "a single store path fits one VM; for %d VMs give a dict of VM name to runner store path", len(req.Names))
		}
		req.Runners = map[string]string{req.Names[0]: r}
	case map[string]any:
		req.Runners = make(map[string]string, len(r))
		for k, v := range r {
			s, ok := v.(string)
			if !ok {
				return req, ansible.ParamError("runner", "the runner of %s must be a store path string, not %s", k, ansible.String(v))
			}
			req.Runners[k] = s
		}
	default:
		return req, ansible.ParamError("runner", "must be a store path or a dict of VM name to store path")
	}
	if req.Parallel < 1 && p.Has("parallel") {
		return req, ansible.ParamError("parallel", "must be at least 1, not %d", req.Parallel)
	}
	return req, req.Validate()
}

// Result turns the report into the module result: per-VM outcomes under vms, the summary
// lists, one diff per changed VM, and a message a person can read in the play output.
func (rep *Report) Result() *ansible.Result {
	res := &ansible.Result{Changed: rep.Changed}
	res.Set("vms", rep.VMs).
		Set("changed_vms", orEmpty(rep.ChangedVMs)).
		Set("restart_required", orEmpty(rep.RestartRequired)).
		Set("failed_vms", orEmpty(rep.FailedVMs))
	if rep.NixVersion != "" {
		res.Set("nix_version", rep.NixVersion)
	}
	for _, d := range rep.Diffs {
		res.Diff = append(res.Diff, ansible.Diff{BeforeHeader: d.Header, AfterHeader: d.Header, Before: d.Before, After: d.After})
	}
	var parts []string
	if len(rep.ChangedVMs) > 0 {
		parts = append(parts, "changed: "+strings.Join(rep.ChangedVMs, ", "))
	}
	if len(rep.RestartRequired) > 0 {
		parts = append(parts, "restart required (booted differs from current): "+strings.Join(rep.RestartRequired, ", "))
	}
	if len(rep.FailedVMs) > 0 {
		parts = append(parts, "failed: "+strings.Join(rep.FailedVMs, ", "))
	}
	if len(parts) == 0 {
		names := slices.Sorted(maps.Keys(rep.VMs))
		parts = append(parts, "unchanged: "+strings.Join(names, ", "))
	}
	res.Msg = strings.Join(parts, "; ")
	return res
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
