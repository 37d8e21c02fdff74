package service

import (
	"maps"
	"slices"
	"strings"
)

// Report: the summary of a report by outcome and the task's one-line msg (the module's
// result and diff are rendered in module.go).

func (rep *Report) summarize() {
	s := Summary{Started: []string{}, Stopped: []string{}, Restarted: []string{}, Unchanged: []string{}, Enabled: []string{}, Disabled: []string{}, Failed: []string{}}
	names := slices.Sorted(maps.Keys(rep.VMs))
	changed := false
	for _, n := range names {
		v := rep.VMs[n]
		switch v.Action {
		case ActionStarted:
			s.Started = append(s.Started, n)
		case ActionStopped:
			s.Stopped = append(s.Stopped, n)
		case ActionRestarted:
			s.Restarted = append(s.Restarted, n)
		default:
			if v.Enabled == nil || !v.Enabled.Changed {
				s.Unchanged = append(s.Unchanged, n)
			}
		}
		if v.Action != ActionNone {
			changed = true
		}
		if v.Enabled != nil && v.Enabled.Changed {
			changed = true
			if v.Enabled.After {
				s.Enabled = append(s.Enabled, n)
			} else {
				s.Disabled = append(s.Disabled, n)
			}
		}
		if v.Error != "" {
			s.Failed = append(s.Failed, n)
		}
	}
	rep.Summary = s
	rep.Changed = changed
}

// Msg is a one-line account of the report, for the task's msg.
func (rep *Report) Msg(check bool) string {
	var parts []string
	add := func(verb string, names []string) {
		if len(names) > 0 {
			parts = append(parts, verb+" "+strings.Join(names, ", "))
		}
	}
	s := rep.Summary
	if check {
		add("would start", s.Started)
		add("would stop", s.Stopped)
		add("would restart", s.Restarted)
		add("would enable autostart of", s.Enabled)
		add("would disable autostart of", s.Disabled)
	} else {
		add("started", s.Started)
		add("stopped", s.Stopped)
		add("restarted", s.Restarted)
		add("enabled autostart of", s.Enabled)
		add("disabled autostart of", s.Disabled)
	}
	if len(parts) == 0 {
		return "nothing to do: every VM is already as asked"
	}
	return strings.Join(parts, "; ")
}
