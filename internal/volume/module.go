package volume

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/business-operations/bo.microvm/internal/ansible"
	"github.com/business-operations/bo.microvm/internal/command"
	"github.com/business-operations/bo.microvm/internal/statedir"
	"github.com/business-operations/bo.microvm/internal/systemd"
)

// VolumeOptions is the argument spec of one volume, shared by volumes and vms[].volumes.
func VolumeOptions() []ansible.Option {
	return []ansible.Option{
		{Name: "path", Type: ansible.Str, Required: true, Description: []string{"The image file, relative to the VM directory (C(state_dir/NAME)) or absolute, as the VM's C(microvm.volumes.*.image)."}},
		{Name: "size", Type: ansible.Raw, Description: []string{"Size in MiB (an integer), or a string with a binary unit: C(512M), C(20G), C(1T). Required with C(state=present). Growing is allowed; shrinking is always an error."}},
		{Name: "fs_type", Default: Ext4, Choices: []any{Ext4, XFS, Btrfs, None}, Description: []string{"The filesystem made on a new image; C(none) leaves it raw (e.g. a Rook-Ceph OSD disk). An existing image is never reformatted: a different filesystem is an error."}},
		{Name: "label", Description: []string{"The filesystem label (the guest mounts C(/dev/disk/by-label/LABEL)). Only applied when the filesystem is made."}},
		{Name: "owner", Default: DefaultOwner, Description: []string{"Owner of the image (name or id); the hypervisor runs as C(microvm)."}},
		{Name: "group", Default: DefaultGroup, Description: []string{"Group of the image (name or id)."}},
		{Name: "mode", Type: ansible.Raw, Default: "0660", Description: []string{"Permission bits, as an octal string (quote it in YAML)."}},
	}
}

// RequestFromParams turns microvm_volume's validated parameters into a Request.
func RequestFromParams(p ansible.Params, check bool) (Request, error) {
	r := Request{Absent: p.Str("state") == "absent", Purge: p.Bool("purge"), Check: check}
	if p.Has("name") {
		vols, err := volumesFrom(p.Dicts("volumes"), "volumes")
		if err != nil {
			return r, err
		}
		r.FromName = true
		for _, n := range p.Strs("name") {
			r.VMs = append(r.VMs, VM{Name: n, Volumes: vols})
		}
	}
	for i, vm := range p.Dicts("vms") {
		vols, err := volumesFrom(vm.Dicts("volumes"), fmt.Sprintf("vms[%d].volumes", i))
		if err != nil {
			return r, err
		}
		r.VMs = append(r.VMs, VM{Name: vm.Str("name"), Volumes: vols})
	}
	return r, nil
}

func volumesFrom(list []ansible.Params, where string) ([]Volume, error) {
	out := make([]Volume, 0, len(list))
	for i, d := range list {
		v := Volume{Path: d.Str("path"), FSType: d.Str("fs_type"), Label: d.Str("label"), Owner: d.Str("owner"), Group: d.Str("group")}
		if d.Has("size") {
			n, err := ParseSize(d["size"])
			if err != nil {
				return nil, fmt.Errorf("%s[%d].size: %v", where, i, err)
			}
			v.SizeMiB = n
		}
		mode, err := ParseMode(d["mode"])
		if err != nil {
			return nil, fmt.Errorf("%s[%d].mode: %v", where, i, err)
		}
		v.Mode = mode
		out = append(out, v)
	}
	return out, nil
}

// Run is microvm_volume's Run.
func Run(ctx context.Context, inv *ansible.Invocation) (*ansible.Result, error) {
	req, err := RequestFromParams(inv.Params, inv.CheckMode)
	if err != nil {
		return nil, err
	}
	if err := Validate(req); err != nil {
		return nil, err
	}
	conn, err := systemd.Connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	m := &Manager{Host: statedir.Host{StateDir: inv.Params.Str("state_dir")}, Runner: command.Exec{}, Units: conn}
	rep, err := m.Apply(ctx, req)
	return ModuleResult(rep, inv.CheckMode), err
}

// ModuleResult renders a report as the module's result.
func ModuleResult(rep *Report, check bool) *ansible.Result {
	res := &ansible.Result{}
	if rep == nil {
		return res
	}
	res.Changed = rep.Changed
	res.Set("vms", rep.VMs)
	before, after := rep.Diff()
	res.Diff = []ansible.Diff{{Before: before, After: after, BeforeHeader: "volumes", AfterHeader: "volumes"}}
	res.Msg = rep.Msg(check)
	return res
}

// Msg is a one-line account of the report.
func (rep *Report) Msg(check bool) string {
	names := slices.Sorted(maps.Keys(rep.VMs))
	var parts, guest []string
	for _, n := range names {
		for _, v := range rep.VMs[n].Volumes {
			if v.Action != ActionNone {
				parts = append(parts, fmt.Sprintf("%s %s: %s", n, v.Path, v.Action))
			}
			if v.Guest != "" {
				guest = append(guest, fmt.Sprintf("%s %s: %s", n, v.Path, v.Guest))
			}
		}
	}
	if len(parts) == 0 {
		return "nothing to do: every volume is as asked"
	}
	msg := strings.Join(parts, "; ")
	if check {
		msg = "check mode, would change: " + msg
	}
	if len(guest) > 0 {
		msg += ". In the guest: " + strings.Join(guest, "; ")
	}
	return msg
}
