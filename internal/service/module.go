package service

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/business-operations/bo.microvm/internal/ansible"
	"github.com/business-operations/bo.microvm/internal/command"
	"github.com/business-operations/bo.microvm/internal/statedir"
	"github.com/business-operations/bo.microvm/internal/systemd"
)

// RequestFromParams turns microvm_service's validated parameters into a Request.
func RequestFromParams(p ansible.Params, check bool) (Request, error) {
	r := Request{
		Names:             p.Strs("name"),
		State:             State(p.Str("state")),
		RestartIfOutdated: p.Bool("restart_if_outdated"),
		JobTimeout:        time.Duration(p.Int("timeout")) * time.Second,
		Check:             check,
	}
	if p.Has("enabled") {
		e := p.Bool("enabled")
		r.Enabled = &e
	}
	if p.Has("wait_for") {
		w := p.Dict("wait_for")
		wf := &WaitFor{Port: int(w.Int("port")), Timeout: time.Duration(w.Int("timeout")) * time.Second, Hosts: map[string]string{}}
		if w.Has("host") {
			if len(r.Names) != 1 {
				return r, fmt.Errorf("wait_for.host: gives one address but name lists %d VMs; use wait_for.hosts: {vm: address}", len(r.Names))
			}
			wf.Hosts[r.Names[0]] = w.Str("host")
		}
		for k, v := range w.Dict("hosts") {
			s, ok := v.(string)
			if !ok {
				return r, fmt.Errorf("wait_for.hosts.%s: must be an address string, got %s", k, ansible.String(v))
			}
			wf.Hosts[k] = s
		}
		r.WaitFor = wf
	}
	return r, nil
}

// Run is microvm_service's Run: it connects to systemd, applies the request and renders the
// result (vms, summary, msg, and a diff of the unit states).
func Run(ctx context.Context, inv *ansible.Invocation) (*ansible.Result, error) {
	req, err := RequestFromParams(inv.Params, inv.CheckMode)
	if err != nil {
		return nil, err
	}
	// Validate once, before connecting to systemd; apply trusts it.
	if err := Validate(&req); err != nil {
		return nil, err
	}
	conn, err := systemd.Connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	s := &Service{Host: statedir.Host{StateDir: inv.Params.Str("state_dir")}, Systemd: conn, Runner: command.Exec{}, JournalDelay: time.Second, StartSettle: 2 * time.Second}
	rep, err := s.apply(ctx, req)
	return ModuleResult(rep, inv.CheckMode), err
}

// ModuleResult renders a report as the module's result. A nil report (refused before anything
// was read) gives an empty result.
func ModuleResult(rep *Report, check bool) *ansible.Result {
	res := &ansible.Result{}
	if rep == nil {
		return res
	}
	res.Changed = rep.Changed
	res.Msg = rep.Msg(check)
	res.Set("vms", rep.VMs).Set("summary", rep.Summary)
	res.Diff = []ansible.Diff{rep.Diff()}
	return res
}

// Diff renders the unit states (and autostart) before and after, one line per VM.
func (rep *Report) Diff() ansible.Diff {
	names := slices.Sorted(maps.Keys(rep.VMs))
	var before, after strings.Builder
	for _, n := range names {
		v := rep.VMs[n]
		fmt.Fprintf(&before, "%s: %s\n", v.Unit, v.Before)
		fmt.Fprintf(&after, "%s: %s\n", v.Unit, v.After)
		if v.Enabled != nil {
			fmt.Fprintf(&before, "%s autostart: %s\n", v.Unit, yesNo(v.Enabled.Before))
			fmt.Fprintf(&after, "%s autostart: %s\n", v.Unit, yesNo(v.Enabled.After))
		}
	}
	return ansible.Diff{Before: before.String(), After: after.String(), BeforeHeader: "unit states", AfterHeader: "unit states"}
}

func yesNo(b bool) string {
	if b {
		return "enabled"
	}
	return "disabled"
}
