//go:build e2e

package e2e

import (
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	installTask = "Install the microVMs of this hypervisor"
	removeTask  = "Remove the microVMs of this hypervisor"
)

// installLab is the lab as the install test uses it: every VM by hypervisor.
type installLab struct {
	*Env
	byHV map[string][]string
}

// snapshot is what a hypervisor shows of its VMs: every path under the state dir and the
// microvm GC roots with type, owner, mode and link target, the flake files, and the units.
func (l *installLab) snapshot(t *testing.T) map[string]string {
	t.Helper()
	snap := map[string]string{}
	for hv, vms := range l.byHV {
		units := make([]string, len(vms))
		for i, vm := range vms {
			units[i] = "microvm@" + vm
		}
		snap[hv] = l.HV(t, hv, `find /var/lib/microvms /nix/var/nix/gcroots/microvm -printf '%p %y %u:%g %m %l\n' | sort
for f in /var/lib/microvms/*/flake; do [ -e "$f" ] && { printf '%s: ' "$f"; cat "$f"; echo; }; done
systemctl show -p Id,ActiveState,MainPID `+strings.Join(units, " ")+`; true`)
	}
	return snap
}

// play runs the install playbook with the given state.
func (l *installLab) play(t *testing.T, ctrl string, vars Vars, args ...string) *Result {
	t.Helper()
	return l.Playbook(t, ctrl, "playbooks/install.yaml", vars, args...)
}

// checkThenRun runs the playbook in check mode (which must change nothing on the
// hypervisors), then for real, and asserts check mode predicted each hypervisor's and
// each VM's changed. It returns both results.
func (l *installLab) checkThenRun(t *testing.T, ctrl, task string, vars Vars) (check, real *Result) {
	t.Helper()
	before := l.snapshot(t)
	check = l.play(t, ctrl, vars, "--check", "--diff")
	check.RequireOK(t)
	require.Equal(t, before, l.snapshot(t), "check mode changed a hypervisor")
	real = l.play(t, ctrl, vars, "--diff")
	real.RequireOK(t)
	for hv, names := range l.byHV {
		c, r := check.Task(t, task, hv), real.Task(t, task, hv)
		assert.Equal(t, r.Changed, c.Changed, "check mode predicts changed on %s", hv)
		for _, vm := range names {
			cv, rv := vmResult(t, c, vm), vmResult(t, r, vm)
			assert.Equal(t, rv["changed"], cv["changed"], "check mode predicts %s's changed", vm)
			assert.Equal(t, rv["current"], cv["current"], "check mode predicts %s's runner", vm)
		}
	}
	return check, real
}

func vmResult(t *testing.T, tr TaskResult, vm string) map[string]any {
	t.Helper()
	vms, ok := tr.Result["vms"].(map[string]any)
	require.True(t, ok, "%s returns vms: %v", tr, tr.Result)
	r, ok := vms[vm].(map[string]any)
	require.True(t, ok, "%s reports %s", tr, vm)
	return r
}

// TestInstall walks microvm_install through its life on two hypervisors with each
// controller: install three VMs from the site flake, reinstall (no change), a config change
// of a running VM (only it changes and needs a restart; nothing is restarted), a broken
// build (the VM keeps running its old runner, the log tail is reported), removal refused
// while running, removal keeping the volume images, and a purge. Check mode runs before
// every step, changes nothing and predicts the real run.
func TestInstall(t *testing.T) {
	env := Lab(t)
	l := &installLab{Env: env, byHV: map[string][]string{}}
	for vm, d := range env.VMs {
		l.byHV[d.Host] = append(l.byHV[d.Host], vm)
	}
	for _, vms := range l.byHV {
		sort.Strings(vms)
	}
	require.Len(t, env.VMs, 3, "the lab has three VMs")
	require.Len(t, l.byHV, 2, "on two hypervisors")
	const hv, vm = "hv1", "k0s-w1" // the VM that changes, runs and breaks
	require.Equal(t, hv, env.VMs[vm].Host)
	unit := "microvm@" + vm

	reset := func() {
		env.SetVM(t, hv, vm, "generation=1", "broken=false")
		for h, vms := range l.byHV {
			var cmd strings.Builder
			for _, v := range vms {
				cmd.WriteString("systemctl stop microvm@" + v + "; rm -rf /var/lib/microvms/" + v +
					" /nix/var/nix/gcroots/microvm/" + v + " /nix/var/nix/gcroots/microvm/booted-" + v + "; ")
			}
			env.HV(t, h, cmd.String()+"true")
		}
	}
	t.Cleanup(reset)

	for _, ctrl := range env.Controllers() {
		t.Run("controller "+ctrl, func(t *testing.T) {
			reset()

			// A fresh install of all three.
			_, res := l.checkThenRun(t, ctrl, installTask, nil)
			runners := map[string]string{}
			for h, vms := range l.byHV {
				tr := res.Task(t, installTask, h)
				assert.True(t, tr.Changed, "fresh install changes %s", h)
				for _, v := range vms {
					r := vmResult(t, tr, v)
					cur, _ := r["current"].(string)
					require.True(t, strings.HasSuffix(cur, "-microvm-qemu-"+v), "%s current %q", v, cur)
					runners[v] = cur
					assert.Equal(t, "", r["previous"])
					assert.Equal(t, false, r["restart_required"])
					assert.Equal(t, cur+"\n", env.HV(t, h, "readlink /var/lib/microvms/"+v+"/current"))
					assert.Equal(t, env.Flake, env.HV(t, h, "cat /var/lib/microvms/"+v+"/flake"), "flake file without newline")
					assert.Equal(t, "microvm:kvm 775\n", env.HV(t, h, "stat -c '%U:%G %a' /var/lib/microvms/"+v))
					assert.Equal(t, "/var/lib/microvms/"+v+"/current\n/var/lib/microvms/"+v+"/booted\n",
						env.HV(t, h, "readlink /nix/var/nix/gcroots/microvm/"+v+" /nix/var/nix/gcroots/microvm/booted-"+v))
				}
				assert.Empty(t, env.HV(t, h, "ls /nix/var/nix/gcroots/auto"), "no out-link root is left on %s", h)
			}

			// The same again changes nothing.
			_, res = l.checkThenRun(t, ctrl, installTask, nil)
			assert.Zero(t, res.Recap().Changed(), "a second install changes nothing")

			// Start the VM whose config changes (its raw Ceph disk is microvm_volume's job).
			env.HV(t, hv, "cd /var/lib/microvms/"+vm+" && truncate -s 1024M ceph.img && chown microvm:kvm ceph.img")
			require.Equal(t, "active\n", env.HV(t, hv, "systemctl start "+unit+" && systemctl is-active "+unit))
			env.WaitSSH(t, vm, 180*time.Second)
			pid := env.HV(t, hv, "systemctl show -p MainPID --value "+unit)

			// A config change: only that VM changes and needs a restart; it keeps running.
			env.SetVM(t, hv, vm, "generation=2")
			_, res = l.checkThenRun(t, ctrl, installTask, nil)
			tr := res.Task(t, installTask, hv)
			r := vmResult(t, tr, vm)
			assert.Equal(t, true, r["changed"])
			assert.Equal(t, runners[vm], r["previous"])
			assert.NotEqual(t, runners[vm], r["current"])
			assert.Equal(t, runners[vm], r["booted"])
			assert.Equal(t, true, r["running"])
			assert.Equal(t, true, r["restart_required"])
			assert.Equal(t, []any{vm}, tr.Result["restart_required"])
			assert.Equal(t, []any{vm}, tr.Result["changed_vms"])
			assert.False(t, res.Task(t, installTask, "hv2").Changed)
			assert.Equal(t, pid, env.HV(t, hv, "systemctl show -p MainPID --value "+unit), "install restarted nothing")
			newRunner, _ := r["current"].(string)

			// A broken build: the task fails, the VM keeps its runner and keeps running.
			env.SetVM(t, hv, vm, "generation=3", "broken=true")
			before := l.snapshot(t)
			check := l.play(t, ctrl, nil, "--check")
			check.RequireOK(t)
			assert.Equal(t, true, vmResult(t, check.Task(t, installTask, hv), vm)["changed"], "evaluation predicts a new runner")
			require.Equal(t, before, l.snapshot(t))
			res = l.play(t, ctrl, nil)
			tr = res.Task(t, installTask, hv)
			assert.Equal(t, "failed", tr.Status)
			r = vmResult(t, tr, vm)
			assert.Equal(t, true, r["failed"])
			assert.Contains(t, r["log_tail"], "marked broken")
			assert.Contains(t, r["msg"], "current is left as it was")
			assert.Equal(t, newRunner, r["current"])
			assert.Equal(t, false, vmResult(t, tr, "k0s-cp1")["failed"], "the other VM of hv1 is still done")
			assert.Equal(t, "ok", res.Task(t, installTask, "hv2").Status)
			assert.Equal(t, newRunner+"\n", env.HV(t, hv, "readlink /var/lib/microvms/"+vm+"/current"))
			assert.Equal(t, "active\n"+pid, env.HV(t, hv, "systemctl is-active "+unit+"; systemctl show -p MainPID --value "+unit))
			env.SetVM(t, hv, vm, "generation=2", "broken=false")

			// Removal is refused while the VM runs, and changes nothing.
			before = l.snapshot(t)
			res = l.play(t, ctrl, Vars{"install_state": "absent"}, "--limit", hv)
			tr = res.Task(t, removeTask, hv)
			assert.Equal(t, "failed", tr.Status)
			assert.Contains(t, vmResult(t, tr, vm)["msg"], "stop it first")
			assert.Equal(t, before[hv], l.snapshot(t)[hv])

			// Stopped, every VM goes; the volume images stay.
			env.HV(t, hv, "systemctl stop "+unit)
			_, res = l.checkThenRun(t, ctrl, removeTask, Vars{"install_state": "absent"})
			r = vmResult(t, res.Task(t, removeTask, hv), vm)
			assert.Equal(t, true, r["changed"])
			assert.ElementsMatch(t, []any{"ceph.img", "var.img"}, r["kept"])
			assert.Equal(t, "ceph.img\nvar.img\n", env.HV(t, hv, "ls /var/lib/microvms/"+vm))
			for h := range l.byHV {
				assert.Empty(t, env.HV(t, h, "ls /nix/var/nix/gcroots/microvm"), "no GC root is left on %s", h)
			}
			_, res = l.checkThenRun(t, ctrl, removeTask, Vars{"install_state": "absent"})
			assert.Zero(t, res.Recap().Changed(), "a second removal changes nothing")

			// Purge deletes the images too.
			_, res = l.checkThenRun(t, ctrl, removeTask, Vars{"install_state": "absent", "install_purge": true})
			assert.True(t, res.Task(t, removeTask, hv).Changed)
			assert.Equal(t, "gone\n", env.HV(t, hv, "test -e /var/lib/microvms/"+vm+" || echo gone"))
		})
	}
}
