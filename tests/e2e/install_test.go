//go:build e2e

package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

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

// snapshot is what a hypervisor shows of this test's VMs (other tests share the lab):
// their directories and GC roots with type, owner, mode and link target, their flake
// files, and their units.
func (l *installLab) snapshot(t *testing.T) map[string]string {
	t.Helper()
	snap := map[string]string{}
	for hv, vms := range l.byHV {
		var paths, units []string
		for _, vm := range vms {
			paths = append(paths, "/var/lib/microvms/"+vm, "/nix/var/nix/gcroots/microvm/"+vm, "/nix/var/nix/gcroots/microvm/booted-"+vm)
			units = append(units, "microvm@"+vm)
		}
		snap[hv] = l.HV(t, hv, `find `+strings.Join(paths, " ")+` -printf '%p %y %u:%g %m %l\n' 2>/dev/null | sort
for f in `+strings.Join(paths, "/flake ")+`; do [ -e "$f" ] && { printf '%s: ' "$f"; cat "$f"; echo; }; done
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
	lab := Lab(t)
	l := newInstallLab(t, lab)
	const hv, vm = "hv1", "inst-b" // the VM that changes, runs and breaks
	unit := "microvm@" + vm

	reset := func() {
		for h, vms := range l.byHV {
			var cmd strings.Builder
			for _, v := range vms {
				cmd.WriteString(stopCmd(v) + "; rm -rf /var/lib/microvms/" + v +
					" /nix/var/nix/gcroots/microvm/" + v + " /nix/var/nix/gcroots/microvm/booted-" + v + "; ")
			}
			l.HV(t, h, cmd.String()+"true")
		}
	}
	t.Cleanup(func() {
		reset()
		l.removeVMs(t)
	})

	for _, ctrl := range l.Controllers() {
		t.Run("controller "+ctrl, func(t *testing.T) {
			reset()
			l.addVMs(t)

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
					assert.Equal(t, cur+"\n", l.HV(t, h, "readlink /var/lib/microvms/"+v+"/current"))
					assert.Equal(t, l.Flake, l.HV(t, h, "cat /var/lib/microvms/"+v+"/flake"), "flake file without newline")
					assert.Equal(t, "microvm:kvm 775\n", l.HV(t, h, "stat -c '%U:%G %a' /var/lib/microvms/"+v))
					assert.Equal(t, "/var/lib/microvms/"+v+"/current\n/var/lib/microvms/"+v+"/booted\n",
						l.HV(t, h, "readlink /nix/var/nix/gcroots/microvm/"+v+" /nix/var/nix/gcroots/microvm/booted-"+v))
				}
				assert.Empty(t, l.HV(t, h, "find /nix/var/nix/gcroots/auto -lname '*bo-microvm-build-*'"), "no out-link root is left on %s", h)
			}

			// The same again changes nothing.
			_, res = l.checkThenRun(t, ctrl, installTask, nil)
			assert.Zero(t, res.Recap().Changed(), "a second install changes nothing")

			// Start the VM whose config changes. Its runner makes var.img as user microvm: the
			// directory's owner and mode allow it. A raw disk as microvm_volume would make it,
			// and its SSH host key in its persistent etc as a deploy makes it (microvm_install
			// ssh_host_key): else the guest makes one at its first boot, in the VM directory
			// the snapshots read, at a moment of its boot's choosing (a check-mode step saw it
			// appear and took it for a change made by check mode).
			l.HV(t, hv, "cd /var/lib/microvms/"+vm+" && truncate -s 16M data.img && chown microvm:kvm data.img && "+
				"mkdir -p etc/ssh && ssh-keygen -q -t ed25519 -N '' -C "+vm+" -f etc/ssh/ssh_host_ed25519_key")
			// The unit is what counts here, not the guest (booting it under TCG on a busy
			// machine can take minutes): active, with booted = current.
			require.Equal(t, "active\n", l.HV(t, hv, "systemctl start "+unit+" && systemctl is-active "+unit))
			require.Equal(t, runners[vm]+"\n", l.HV(t, hv, "readlink /var/lib/microvms/"+vm+"/booted"))
			pid := l.HV(t, hv, "systemctl show -p MainPID --value "+unit)

			// A config change: only that VM changes and needs a restart; it keeps running.
			l.setVM(t, hv, vm, map[string]any{"generation": "2"})
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
			assert.Equal(t, pid, l.HV(t, hv, "systemctl show -p MainPID --value "+unit), "install restarted nothing")
			newRunner, _ := r["current"].(string)

			// A broken build: the task fails, the VM keeps its runner and keeps running.
			l.setVM(t, hv, vm, map[string]any{"generation": "3", "broken": true})
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
			assert.Equal(t, false, vmResult(t, tr, "inst-a")["failed"], "the other VM of hv1 is still done")
			assert.Equal(t, "ok", res.Task(t, installTask, "hv2").Status)
			assert.Equal(t, newRunner+"\n", l.HV(t, hv, "readlink /var/lib/microvms/"+vm+"/current"))
			assert.Equal(t, "active\n"+pid, l.HV(t, hv, "systemctl is-active "+unit+"; systemctl show -p MainPID --value "+unit))
			l.setVM(t, hv, vm, map[string]any{"generation": "2", "broken": false})

			// Removal of the running VM is refused and leaves it as it was; the stopped VM
			// of the same task is still removed (VMs of one task are independent).
			res = l.play(t, ctrl, Vars{"install_state": "absent"}, "--limit", hv)
			tr = res.Task(t, removeTask, hv)
			assert.Equal(t, "failed", tr.Status)
			r = vmResult(t, tr, vm)
			assert.Equal(t, true, r["failed"])
			assert.Equal(t, false, r["changed"])
			assert.Contains(t, r["msg"], "stop it first")
			assert.Equal(t, true, vmResult(t, tr, "inst-a")["changed"])
			assert.Equal(t, newRunner+"\n"+runners[vm]+"\n", l.HV(t, hv, "readlink /var/lib/microvms/"+vm+"/current /var/lib/microvms/"+vm+"/booted"))
			assert.Equal(t, "/var/lib/microvms/"+vm+"/current\n", l.HV(t, hv, "readlink /nix/var/nix/gcroots/microvm/"+vm))
			assert.Equal(t, "active\n"+pid, l.HV(t, hv, "systemctl is-active "+unit+"; systemctl show -p MainPID --value "+unit))

			// Stopped, every VM goes; the volume images stay, and so does the persistent etc
			// that bin/virtiofsd-run made at the start (the guest keeps its SSH host key there).
			l.stop(t, hv, vm)
			_, res = l.checkThenRun(t, ctrl, removeTask, Vars{"install_state": "absent"})
			r = vmResult(t, res.Task(t, removeTask, hv), vm)
			assert.Equal(t, true, r["changed"])
			assert.ElementsMatch(t, []any{"data.img", "etc", "var.img"}, r["kept"])
			assert.Contains(t, r["msg"], "kept data.img, etc, var.img in")
			assert.Equal(t, "data.img\netc\nvar.img\n", l.HV(t, hv, "ls /var/lib/microvms/"+vm))
			for h, vms := range l.byHV {
				for _, v := range vms {
					assert.Equal(t, "gone\n", l.HV(t, h, "ls /nix/var/nix/gcroots/microvm/*"+v+" 2>/dev/null || echo gone"), "no GC root of %s is left", v)
				}
			}
			_, res = l.checkThenRun(t, ctrl, removeTask, Vars{"install_state": "absent"})
			assert.Zero(t, res.Recap().Changed(), "a second removal changes nothing")

			// Purge deletes the images too.
			_, res = l.checkThenRun(t, ctrl, removeTask, Vars{"install_state": "absent", "install_purge": true})
			assert.True(t, res.Task(t, removeTask, hv).Changed)
			assert.Equal(t, "gone\n", l.HV(t, hv, "test -e /var/lib/microvms/"+vm+" || echo gone"))
		})
	}
}

// The install test's own VMs, so that it can run while other tests use the lab's k0s VMs:
// added to every hypervisor's site flake (vms.json) and to a private inventory; addresses in
// the lab's network (a private lab has its own). The lab's guest, the systemd one.
func installVMs(lab *Env) map[string]VM {
	return map[string]VM{
		"inst-a": {Host: "hv1", IP: lab.NetAddr(201), MAC: "02:00:00:00:0b:01", VCPU: 1, Mem: 256, Guest: "systemd"},
		"inst-b": {Host: "hv1", IP: lab.NetAddr(202), MAC: "02:00:00:00:0b:02", VCPU: 1, Mem: 256, Guest: "systemd"},
		"inst-c": {Host: "hv2", IP: lab.NetAddr(203), MAC: "02:00:00:00:0b:03", VCPU: 1, Mem: 256, Guest: "systemd"},
	}
}

func newInstallLab(t *testing.T, lab *Env) *installLab {
	env := *lab
	env.VMs = installVMs(lab)
	l := &installLab{Env: &env, byHV: map[string][]string{}}
	for vm, d := range env.VMs {
		l.byHV[d.Host] = append(l.byHV[d.Host], vm)
	}
	for _, vms := range l.byHV {
		sort.Strings(vms)
	}
	l.addVMs(t)

	var inv strings.Builder
	fmt.Fprintf(&inv, "all:\n  vars:\n    microvm_flake: %q\n    ansible_ssh_private_key_file: %s\n", lab.Flake, lab.Key)
	inv.WriteString("    ansible_ssh_common_args: -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null\n")
	inv.WriteString("  children:\n    microvm_hypervisors:\n      vars: {ansible_user: root}\n      hosts:\n")
	for hv, addr := range lab.Hypervisors {
		fmt.Fprintf(&inv, "        %s: {ansible_host: %s}\n", hv, addr)
	}
	inv.WriteString("    microvms:\n      vars: {ansible_user: root, ansible_ssh_transfer_method: piped, ansible_remote_tmp: /tmp/.ansible}\n      hosts:\n")
	for vm, d := range env.VMs {
		fmt.Fprintf(&inv, "        %s: {microvm_host: %s, ansible_host: %s, microvm_mac: %q}\n", vm, d.Host, d.IP, d.MAC)
	}
	path := filepath.Join(t.TempDir(), "inventory.yaml")
	require.NoError(t, os.WriteFile(path, []byte(inv.String()), 0o644))
	env.Inventory = path
	return l
}

// addVMs puts the test's VMs into every hypervisor's site flake, as generation 1 and not
// broken (replacing what an earlier step changed).
func (l *installLab) addVMs(t *testing.T) {
	t.Helper()
	entries := map[string]any{}
	for vm, d := range l.VMs {
		entries[vm] = map[string]any{"host": d.Host, "ip": d.IP, "mac": d.MAC, "vcpu": d.VCPU, "mem": d.Mem, "generation": "1", "guest": d.Guest,
			"volumes": []any{map[string]any{"path": "var.img", "size": 64, "fs_type": "ext4", "label": "var", "mount": "/var"}}}
	}
	for hv := range l.Hypervisors {
		l.editVMs(t, hv, func(vms map[string]any) {
			for vm, e := range entries {
				vms[vm] = e
			}
		})
	}
}

// setVM changes fields of VM vm in hypervisor hv's site flake. (Not `lab set-vm`: it
// stores broken=false as the string "false", which the flake takes as broken.)
func (l *installLab) setVM(t *testing.T, hv, vm string, fields map[string]any) {
	t.Helper()
	l.editVMs(t, hv, func(vms map[string]any) {
		entry, ok := vms[vm].(map[string]any)
		require.True(t, ok, "%s has no VM %s in its site flake", hv, vm)
		for k, v := range fields {
			entry[k] = v
		}
	})
}

// removeVMs takes the test's VMs out of the hypervisors' site flakes again.
func (l *installLab) removeVMs(t *testing.T) {
	for hv := range l.Hypervisors {
		l.editVMs(t, hv, func(vms map[string]any) {
			for vm := range l.VMs {
				delete(vms, vm)
			}
		})
	}
}

// stopCmd stops a VM's unit without waiting for its guest: the guest may still be booting
// and ignore microvm-shutdown's Ctrl-Alt-Del (which waits up to 120 s), so the hypervisor
// process is killed first; the stop then finds it gone (Restart=always is no matter: a stop
// job wins over the pending restart), and the killed unit's "failed" is reset.
func stopCmd(vm string) string {
	u := "microvm@" + vm
	return "systemctl kill --signal=KILL " + u + " 2>/dev/null; systemctl stop " + u + "; systemctl reset-failed " + u + " 2>/dev/null"
}

// stop stops a VM's unit and makes sure it is inactive.
func (l *installLab) stop(t *testing.T, hv, vm string) {
	t.Helper()
	require.Equal(t, "inactive\n", l.HV(t, hv, stopCmd(vm)+"; systemctl is-active microvm@"+vm+" || true"))
}

// editVMs edits a hypervisor's /srv/site/vms.json with edit and replaces the file atomically.
// The edit happens here: the hypervisors, like NixOS hosts, have no Python.
func (l *installLab) editVMs(t *testing.T, hv string, edit func(vms map[string]any)) {
	t.Helper()
	vms := map[string]any{}
	require.NoError(t, json.Unmarshal([]byte(l.HV(t, hv, "cat /srv/site/vms.json")), &vms))
	edit(vms)
	data, err := json.MarshalIndent(vms, "", "  ")
	require.NoError(t, err)
	l.HV(t, hv, "echo "+base64.StdEncoding.EncodeToString(data)+" | base64 -d >/srv/site/vms.json.new && mv /srv/site/vms.json.new /srv/site/vms.json")
}
