//go:build e2e

package e2e

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const volumeTask = "Manage the volumes of this hypervisor's microVMs"

// vmLab is the lab as the volume and service tests use it: every VM by hypervisor.
type vmLab struct {
	*Env
	byHV  map[string][]string
	names []string // every VM, sorted
}

// labVMs are the VMs these tests use: the cluster VMs of the lab inventory (the lab may
// hold more, e.g. one of its own smoke test; the playbooks are limited to these).
var labVMs = []string{"k0s-cp1", "k0s-cp2", "k0s-w1"}

func newVMLab(t *testing.T) *vmLab {
	env := Lab(t)
	l := &vmLab{Env: env, byHV: map[string][]string{}, names: labVMs}
	for _, vm := range labVMs {
		d, ok := env.VMs[vm]
		require.True(t, ok, "the lab has VM %s", vm)
		l.byHV[d.Host] = append(l.byHV[d.Host], vm)
	}
	require.Len(t, l.byHV, 2, "the three VMs are on two hypervisors")
	l.Claim(t, l.names...)
	return l
}

// limit adds the variables that keep the playbooks to these tests' VMs.
func (l *vmLab) limit(vars Vars) Vars {
	out := Vars{"service_vms": l.names, "volume_vms": l.names}
	for k, v := range vars {
		out[k] = v
	}
	return out
}

// hvState is what a hypervisor shows of its VMs: every path under the state dir with type,
// owner, mode, size and mtime, each image's blkid signature and ext4 size, the units and
// the autostart links.
func (l *vmLab) hvState(t *testing.T) map[string]string {
	t.Helper()
	snap := map[string]string{}
	for hv, vms := range l.byHV {
		units := make([]string, len(vms))
		for i, vm := range vms {
			units[i] = "microvm@" + vm + ".service"
		}
		dirs := "/var/lib/microvms/" + strings.Join(vms, " /var/lib/microvms/")
		links := "/etc/systemd/system.control/microvms.target.wants/" + strings.Join(units, " /etc/systemd/system.control/microvms.target.wants/")
		// Only these VMs: other engineers' tests share the lab's hypervisors.
		snap[hv] = l.HV(t, hv, `find `+dirs+` `+links+` -printf '%p %y %u:%g %m %s %T@ %l\n' 2>/dev/null | sort
for f in `+dirs+`; do for i in "$f"/*.img; do [ -f "$i" ] || continue; echo "$i: $(blkid -p -o export "$i" | grep -E '^(TYPE|LABEL)=' | tr '\n' ' ')"; dumpe2fs -h "$i" 2>/dev/null | grep -E '^Block count'; done; done
systemctl show -p Id,ActiveState,MainPID `+strings.Join(units, " ")+`
systemctl show -p Wants --value microvms.target | tr ' ' '\n' | grep -xF -e `+strings.Join(units, " -e ")+`; true`)
	}
	return snap
}

// checkThenRun runs playbook in check mode (which must change nothing on the hypervisors),
// then for real, and asserts check mode predicted each hypervisor's changed and each VM's
// action. It returns the real run.
func (l *vmLab) checkThenRun(t *testing.T, ctrl, playbook, task string, vars Vars, compare func(t *testing.T, vm string, check, real map[string]any)) *Result {
	t.Helper()
	resume := l.pauseGuests(t)
	before := l.hvState(t)
	check := l.Playbook(t, ctrl, playbook, l.limit(vars), "--check", "--diff")
	check.RequireOK(t)
	after := l.hvState(t)
	resume()
	require.Equal(t, before, after, "check mode changed a hypervisor")
	real := l.Playbook(t, ctrl, playbook, l.limit(vars), "--diff")
	real.RequireOK(t)
	for hv, names := range l.byHV {
		c, r := check.Task(t, task, hv), real.Task(t, task, hv)
		if c.Status == "skipped" && r.Status == "skipped" {
			continue
		}
		assert.Equal(t, r.Changed, c.Changed, "check mode predicts changed on %s", hv)
		for _, vm := range names {
			cv, cok := vmEntry(c, vm)
			rv, rok := vmEntry(r, vm)
			if assert.Equal(t, rok, cok, "both runs report %s or neither", vm) && rok {
				compare(t, vm, cv, rv)
			}
		}
	}
	return real
}

// pauseGuests pauses the running guests of these VMs (QMP "stop" on each VM's <vm>.sock,
// the socket microvm-shutdown uses; qemu drains and flushes the guest's disks before it
// answers) and returns the function that lets them run on ("cont", also at the test's end).
// While a guest runs its images' mtimes are its own: the systemd guest's journal on /var is
// written all the time, so a snapshot before and after a check-mode run would differ by what
// the guest wrote. Paused, a change is the playbook's.
func (l *vmLab) pauseGuests(t *testing.T) (resume func()) {
	t.Helper()
	qmp := func(vm, cmd string) string {
		sock := "/var/lib/microvms/" + vm + "/" + vm + ".sock"
		// stdin stays open a moment: qemu drops the requests it has not run yet when the
		// client goes (monitor_qmp_cleanup_queue_and_resume). The VMs of a hypervisor at once.
		return `if systemctl -q is-active microvm@` + vm + ` && [ -S ` + sock + ` ]; then { printf '%s\n' '{"execute":"qmp_capabilities"}' '{"execute":"` + cmd +
			`"}' '{"execute":"query-status"}'; sleep 0.5; } | socat - UNIX-CONNECT:` + sock + ` | grep -o '"status": "[a-z-]*"' | tail -n 1 | sed 's/^/` + vm + `: /' & fi; `
	}
	run := func(cmd string) map[string]string {
		out := map[string]string{}
		for hv, vms := range l.byHV {
			var b strings.Builder
			for _, vm := range vms {
				b.WriteString(qmp(vm, cmd))
			}
			out[hv] = l.HV(t, hv, b.String()+"wait")
		}
		return out
	}
	for hv, out := range run("stop") {
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if line != "" {
				require.Contains(t, line, `"status": "paused"`, "QMP stop of a running guest on %s", hv)
			}
		}
	}
	done := false
	resume = func() {
		if !done {
			done = true
			run("cont")
		}
	}
	t.Cleanup(resume)
	return resume
}

// twice runs checkThenRun and then again, where the second round must change nothing.
func (l *vmLab) twice(t *testing.T, ctrl, playbook, task string, vars Vars, compare func(t *testing.T, vm string, check, real map[string]any)) *Result {
	t.Helper()
	res := l.checkThenRun(t, ctrl, playbook, task, vars, compare)
	again := l.checkThenRun(t, ctrl, playbook, task, vars, compare)
	assert.Zero(t, again.Recap().Changed(), "the second run changes nothing")
	return res
}

func vmEntry(tr TaskResult, vm string) (map[string]any, bool) {
	vms, _ := tr.Result["vms"].(map[string]any)
	r, ok := vms[vm].(map[string]any)
	return r, ok
}

func mustVM(t *testing.T, tr TaskResult, vm string) map[string]any {
	t.Helper()
	r, ok := vmEntry(tr, vm)
	require.True(t, ok, "%s reports %s: %v", tr, vm, tr.Result)
	return r
}

// volumes is a VM's volume results by path.
func volumes(t *testing.T, tr TaskResult, vm string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	list, _ := mustVM(t, tr, vm)["volumes"].([]any)
	for _, v := range list {
		m, _ := v.(map[string]any)
		p, _ := m["path"].(string)
		out[p] = m
	}
	return out
}

func compareVolumes(t *testing.T, vm string, check, real map[string]any) {
	cl, _ := check["volumes"].([]any)
	rl, _ := real["volumes"].([]any)
	require.Equal(t, len(rl), len(cl), "%s: as many volumes in check mode", vm)
	for i := range rl {
		c, _ := cl[i].(map[string]any)
		r, _ := rl[i].(map[string]any)
		for _, k := range []string{"action", "changes", "size_mib", "filesystem_resize", "guest_action"} {
			assert.Equal(t, r[k], c[k], "%s %v: check mode predicts %s", vm, r["path"], k)
		}
	}
}

// spec is the lab's volumes of every VM, with changes applied as path -> size or fs_type.
func (l *vmLab) spec(change map[string]map[string]map[string]any) map[string]any {
	out := map[string]any{}
	for _, vm := range l.names {
		d := l.VMs[vm]
		var vols []any
		for _, v := range d.Volumes {
			m := map[string]any{"path": v.Path, "size": v.Size, "fs_type": v.FSType}
			if v.Label != "" {
				m["label"] = v.Label
			}
			for k, val := range change[vm][v.Path] {
				m[k] = val
			}
			vols = append(vols, m)
		}
		out[vm] = vols
	}
	return out
}

// TestVolume walks microvm_volume through the lab's volumes with each controller: create
// every VM's ext4 /var image and raw Ceph disk (sparse, owned microvm:kvm 0660), the same
// again (no change), grow one ext4 image offline, refuse a shrink, refuse to format a raw
// disk that holds data, refuse absent without purge, then purge. Check mode runs before
// every step, changes nothing and predicts each volume's action.
func TestVolume(t *testing.T) {
	l := newVMLab(t)
	reset := func() {
		for hv, vms := range l.byHV {
			var cmd strings.Builder
			for _, v := range vms {
				cmd.WriteString("systemctl stop microvm@" + v + "; systemctl reset-failed microvm@" + v + " 2>/dev/null; rm -rf /var/lib/microvms/" + v +
					"; install -d -o microvm -g kvm -m 0775 /var/lib/microvms/" + v + "; ")
			}
			l.HV(t, hv, cmd.String()+"true")
		}
	}
	t.Cleanup(func() {
		for hv, vms := range l.byHV {
			l.HV(t, hv, "rm -rf /var/lib/microvms/"+strings.Join(vms, " /var/lib/microvms/"))
		}
	})
	const vm, hv = "k0s-cp1", "hv1"

	for _, ctrl := range l.Controllers() {
		t.Run("controller "+ctrl, func(t *testing.T) {
			reset()

			// Create everything.
			res := l.twice(t, ctrl, "playbooks/volume.yaml", volumeTask, nil, compareVolumes)
			for h, vms := range l.byHV {
				tr := res.Task(t, volumeTask, h)
				assert.True(t, tr.Changed)
				for _, v := range vms {
					vols := volumes(t, tr, v)
					assert.Equal(t, "created", vols["var.img"]["action"])
					assert.Equal(t, "created", vols["ceph.img"]["action"])
					dir := "/var/lib/microvms/" + v
					assert.Equal(t, "536870912 microvm:kvm 660\n1073741824 microvm:kvm 660\n",
						l.HV(t, h, "stat -c '%s %U:%G %a' "+dir+"/var.img "+dir+"/ceph.img"))
					assert.Contains(t, l.HV(t, h, "blkid -p -o export "+dir+"/var.img"), "TYPE=ext4\n")
					assert.Contains(t, l.HV(t, h, "blkid -p -o export "+dir+"/var.img"), "LABEL=var\n")
					assert.Equal(t, "2\n", l.HV(t, h, "blkid -p "+dir+"/ceph.img; echo $?"), "the raw disk has no signature")
					used := l.HV(t, h, "du -k "+dir+"/ceph.img | cut -f1")
					assert.Equal(t, "0\n", used, "the raw disk is sparse")
				}
			}

			// Grow one ext4 image of a stopped VM: the filesystem grows offline.
			res = l.twice(t, ctrl, "playbooks/volume.yaml", volumeTask,
				Vars{"volume_spec": l.spec(map[string]map[string]map[string]any{vm: {"var.img": {"size": "640M"}}})}, compareVolumes)
			assert.False(t, res.Task(t, volumeTask, "hv2").Changed)
			grown := volumes(t, res.Task(t, volumeTask, hv), vm)["var.img"]
			assert.Equal(t, "grown", grown["action"])
			assert.Equal(t, "offline", grown["filesystem_resize"])
			assert.EqualValues(t, 512, grown["size_mib_before"])
			assert.EqualValues(t, 640, grown["size_mib"])
			blocks := l.HV(t, hv, "dumpe2fs -h /var/lib/microvms/"+vm+"/var.img 2>/dev/null | awk -F: '/^Block count/{c=$2} /^Block size/{s=$2} END{print c*s/1048576}'")
			assert.Equal(t, "640\n", blocks, "resize2fs grew the filesystem to the image")

			// A shrink is refused and changes nothing.
			before := l.hvState(t)
			res = l.Playbook(t, ctrl, "playbooks/volume.yaml", l.limit(Vars{"volume_spec": l.spec(nil)}))
			tr := res.Task(t, volumeTask, hv)
			assert.Equal(t, "failed", tr.Status)
			assert.Contains(t, tr.Result["msg"], "k0s-cp1 volume var.img: /var/lib/microvms/k0s-cp1/var.img is 640 MiB but size asks for 512 MiB: microvm_volume never shrinks")
			assert.Equal(t, before[hv], l.hvState(t)[hv])

			// A raw disk with data is never formatted.
			l.HV(t, hv, "printf 'bluestore' | dd of=/var/lib/microvms/"+vm+"/ceph.img bs=1 seek=104857600 conv=notrunc status=none")
			before = l.hvState(t)
			res = l.Playbook(t, ctrl, "playbooks/volume.yaml", l.limit(Vars{"volume_spec": l.spec(map[string]map[string]map[string]any{
				vm: {"var.img": {"size": 640}, "ceph.img": {"fs_type": "ext4"}}})}))
			tr = res.Task(t, volumeTask, hv)
			assert.Equal(t, "failed", tr.Status)
			assert.Contains(t, tr.Result["msg"], "k0s-cp1 volume ceph.img: /var/lib/microvms/k0s-cp1/ceph.img has no filesystem signature but holds data")
			assert.Equal(t, before[hv], l.hvState(t)[hv])

			// Absent without purge is refused; with purge every image goes.
			res = l.Playbook(t, ctrl, "playbooks/volume.yaml", l.limit(Vars{"volume_state": "absent"}))
			assert.Equal(t, "failed", res.Task(t, volumeTask, hv).Status)
			assert.Contains(t, res.Task(t, volumeTask, hv).Result["msg"], "only with purge: true")
			res = l.twice(t, ctrl, "playbooks/volume.yaml", volumeTask, Vars{"volume_state": "absent", "volume_purge": true}, compareVolumes)
			for h, vms := range l.byHV {
				assert.True(t, res.Task(t, volumeTask, h).Changed)
				for _, v := range vms {
					assert.Equal(t, "", l.HV(t, h, "ls /var/lib/microvms/"+v), "%s has no image left", v)
				}
			}
		})
	}
}
