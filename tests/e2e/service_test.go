//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const serviceTask = "Manage the microVMs of this hypervisor"

func compareService(t *testing.T, vm string, check, real map[string]any) {
	for _, k := range []string{"action", "before", "after"} {
		assert.Equal(t, real[k], check[k], "%s: check mode predicts %s", vm, k)
	}
	if ce, ok := check["enabled"].(map[string]any); ok {
		re, _ := real["enabled"].(map[string]any)
		assert.Equal(t, re["after"], ce["after"], "%s: check mode predicts autostart", vm)
		assert.Equal(t, re["changed"], ce["changed"], "%s: check mode predicts the autostart change", vm)
	}
}

// TestService walks microvm_service through the lab's three VMs on two hypervisors with each
// controller: start them all (each guest answers SSH before the task ends), start again (no
// change), grow a running VM's volume (allowed, left to the guest), install a new runner for
// one VM and restart only the outdated one (it boots the new runner), enable and disable
// autostart, refuse to start a VM without a runner, report a VM whose hypervisor exits at
// once with its journal, and stop them all. Every step but the failures runs twice (the
// second changes nothing) and after a check-mode run that changes nothing and predicts it.
func TestService(t *testing.T) {
	l := newVMLab(t)
	const hv, vm = "hv1", "k0s-w1" // the VM that gets a new runner
	require.Equal(t, hv, l.VMs[vm].Host)
	reset := func() {
		for h, vms := range l.byHV {
			var cmd strings.Builder
			for _, v := range vms {
				cmd.WriteString("systemctl stop microvm@" + v + "; systemctl reset-failed 'microvm*@" + v + ".service' 2>/dev/null; rm -rf /var/lib/microvms/" + v +
					" /nix/var/nix/gcroots/microvm/" + v + " /nix/var/nix/gcroots/microvm/booted-" + v +
					" /etc/systemd/system.control/microvms.target.wants/microvm@" + v + ".service; ")
			}
			l.HV(t, h, cmd.String()+"systemctl daemon-reload; true")
		}
	}
	t.Cleanup(reset)

	for _, ctrl := range l.Controllers() {
		t.Run("controller "+ctrl, func(t *testing.T) {
			for h, vms := range l.byHV {
				for _, v := range vms {
					l.ResetVM(t, h, v)
				}
			}
			reset()
			runners := map[string]string{}
			for _, v := range l.names {
				runners[v] = l.Runner(t, l.VMs[v].Host, v)
			}
			l.Playbook(t, ctrl, "playbooks/volume.yaml", l.limit(nil)).RequireOK(t)

			// Start all three and wait for their SSH.
			start := time.Now()
			res := l.twice(t, ctrl, "playbooks/service.yaml", serviceTask, Vars{"service_state": "started", "service_wait": true}, compareService)
			t.Logf("first start of three guests (check mode, start, check mode, no-op run): %s", time.Since(start).Round(time.Second))
			for h, vms := range l.byHV {
				tr := res.Task(t, serviceTask, h)
				assert.True(t, tr.Changed)
				for _, v := range vms {
					r := mustVM(t, tr, v)
					assert.Equal(t, "started", r["action"])
					assert.Equal(t, "active", r["after"])
					assert.Equal(t, runners[v], r["booted"], "%s booted its current runner", v)
					w, _ := r["wait_for"].(map[string]any)
					assert.Equal(t, l.VMs[v].IP+":22", w["address"])
					t.Logf("%s answered on port 22 after %v s", v, w["seconds"])
					assert.Equal(t, "active\n", l.HV(t, h, "systemctl is-active microvm@"+v))
					l.SSH(t, v, "true")
				}
			}
			pids := map[string]string{}
			for _, v := range l.names {
				pids[v] = l.HV(t, l.VMs[v].Host, "systemctl show -p MainPID --value microvm@"+v)
			}

			// A running VM's volume may grow; its filesystem is left to the guest.
			res = l.twice(t, ctrl, "playbooks/volume.yaml", volumeTask,
				Vars{"volume_spec": l.spec(map[string]map[string]map[string]any{vm: {"var.img": {"size": 640}}})}, compareVolumes)
			grown := volumes(t, res.Task(t, volumeTask, hv), vm)["var.img"]
			assert.Equal(t, "grown", grown["action"])
			assert.Equal(t, "guest", grown["filesystem_resize"])
			assert.Contains(t, grown["guest_action"], "resize2fs")
			assert.Equal(t, pids[vm], l.HV(t, hv, "systemctl show -p MainPID --value microvm@"+vm), "the VM kept running")

			// A new runner for one VM: restart_if_outdated restarts only that one.
			l.SetVM(t, hv, vm, "generation=2")
			newRunner := l.Runner(t, hv, vm)
			require.NotEqual(t, runners[vm], newRunner)
			res = l.twice(t, ctrl, "playbooks/service.yaml", serviceTask, Vars{"service_restart_if_outdated": true, "service_wait": true}, compareService)
			tr := res.Task(t, serviceTask, hv)
			assert.Equal(t, []any{vm}, tr.Result["summary"].(map[string]any)["restarted"])
			assert.False(t, res.Task(t, serviceTask, "hv2").Changed)
			r := mustVM(t, tr, vm)
			assert.Equal(t, "restarted", r["action"])
			assert.Equal(t, newRunner, r["booted"])
			assert.Equal(t, newRunner+"\n", l.HV(t, hv, "readlink /var/lib/microvms/"+vm+"/booted"), "the VM booted the new runner")
			assert.NotEqual(t, pids[vm], l.HV(t, hv, "systemctl show -p MainPID --value microvm@"+vm))
			assert.Equal(t, pids["k0s-cp1"], l.HV(t, hv, "systemctl show -p MainPID --value microvm@k0s-cp1"), "the up-to-date VM was left alone")
			l.SSH(t, vm, "true")
			// Graceful, whatever the host's microvm-shutdown (the lab's default is microvm.nix
			// main's at 71beea00, which lets systemd kill qemu): the guest powered off by
			// itself, and its next boot found /var's ext4 journal clean.
			requireCleanShutdown(t, r, vm)
			assert.NotContains(t, l.SSH(t, vm, "dmesg"), "EXT4-fs (vda): recovery complete", "the restart did not kill %s: /var needed no journal recovery", vm)

			// Autostart: a persistent want link, then none.
			res = l.twice(t, ctrl, "playbooks/service.yaml", serviceTask, Vars{"service_enabled": true}, compareService)
			for h, vms := range l.byHV {
				for _, v := range vms {
					e, _ := mustVM(t, res.Task(t, serviceTask, h), v)["enabled"].(map[string]any)
					assert.Equal(t, true, e["after"])
					assert.Equal(t, "/etc/systemd/system.control/microvms.target.wants/microvm@"+v+".service", e["via"])
					assert.Contains(t, l.HV(t, h, "systemctl show -p Wants --value microvms.target"), "microvm@"+v+".service")
				}
			}
			res = l.twice(t, ctrl, "playbooks/service.yaml", serviceTask, Vars{"service_enabled": false}, compareService)
			for h, vms := range l.byHV {
				for _, v := range vms {
					assert.NotContains(t, l.HV(t, h, "systemctl show -p Wants --value microvms.target"), "microvm@"+v+".service")
				}
			}

			// Stop all three.
			res = l.twice(t, ctrl, "playbooks/service.yaml", serviceTask, Vars{"service_state": "stopped"}, compareService)
			for h, vms := range l.byHV {
				for _, v := range vms {
					r := mustVM(t, res.Task(t, serviceTask, h), v)
					assert.Equal(t, "stopped", r["action"])
					requireCleanShutdown(t, r, v)
					assert.Equal(t, "inactive\n", l.HV(t, h, "systemctl is-active microvm@"+v+"; true"))
				}
			}

			// A VM without a runner is refused before anything starts.
			l.HV(t, "hv2", "rm /var/lib/microvms/k0s-cp2/current")
			before := l.hvState(t)
			res = l.Playbook(t, ctrl, "playbooks/service.yaml", l.limit(Vars{"service_state": "started"}))
			tr = res.Task(t, serviceTask, "hv2")
			assert.Equal(t, "failed", tr.Status)
			assert.Contains(t, tr.Result["msg"], "k0s-cp2: /var/lib/microvms/k0s-cp2 has no current runner link: install it with bo.microvm.microvm_install")
			assert.Equal(t, before["hv2"], l.hvState(t)["hv2"])
			l.HV(t, "hv1", "systemctl stop microvm@k0s-cp1 microvm@k0s-w1")

			// A runner whose hypervisor exits at once: the task fails with the journal.
			l.HV(t, "hv2", `mkdir -p /tmp/bo-bad-runner/bin && printf '#!/bin/sh\necho "qemu: cannot open tap: boom" >&2\nexit 1\n' > /tmp/bo-bad-runner/bin/microvm-run &&
chmod 0755 /tmp/bo-bad-runner/bin/microvm-run && ln -sfn /tmp/bo-bad-runner /var/lib/microvms/k0s-cp2/current`)
			res = l.Playbook(t, ctrl, "playbooks/service.yaml", Vars{"service_state": "started", "service_wait": true, "service_vms": []string{"k0s-cp2"}, "volume_vms": l.names})
			tr = res.Task(t, serviceTask, "hv2")
			assert.Equal(t, "failed", tr.Status)
			r = mustVM(t, tr, "k0s-cp2")
			t.Logf("failure reported: %v", r["error"])
			assert.NotEmpty(t, r["error"])
			assert.Contains(t, strings.Join(anyStrings(r["journal"]), "\n"), "boom", "the journal tail names the cause")
			l.HV(t, "hv2", "systemctl stop microvm@k0s-cp2; rm -rf /tmp/bo-bad-runner")
		})
	}
}

// requireCleanShutdown checks a VM's result says its guest powered off when asked (not
// killed, not left to ExecStop).
func requireCleanShutdown(t *testing.T, r map[string]any, vm string) {
	t.Helper()
	sd, ok := r["shutdown"].(map[string]any)
	require.True(t, ok, "%s: the result says how the VM went down: %v", vm, r)
	assert.Equal(t, "clean", sd["how"], "%s: %v", vm, sd["detail"])
	t.Logf("%s: %v", vm, sd["detail"])
}

func anyStrings(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, e := range l {
		s, _ := e.(string)
		out = append(out, s)
	}
	return out
}

// TestServiceJobs runs microvm_service against the real systemd and D-Bus of a lab
// hypervisor without booting guests: the VM "svcprobe" gets stand-in runners (a shell script
// that sleeps, or one that exits at once), so every systemd path is exercised in seconds:
// start, start again, restart, restart_if_outdated after a new runner, autostart on and off
// (the want link in /etc/systemd/system.control and microvms.target's loaded Wants), stop,
// a VM without a runner (refused), a dependency that fails (job result "dependency") and a
// hypervisor that exits at once (job result "failed"), both with the journal's explanation.
func TestServiceJobs(t *testing.T) {
	env := Lab(t)
	const hv, vm = "hv2", "svcprobe"
	env.Claim(t, vm)
	dir := "/var/lib/microvms/" + vm
	unit := "microvm@" + vm + ".service"
	runner := func(name, body string) string {
		p := "/tmp/bo-" + vm + "-" + name
		env.HV(t, hv, "mkdir -p "+p+"/bin && printf '#!/bin/sh\\n"+body+"\\n' > "+p+"/bin/microvm-run && printf '#!/bin/sh\\nexit 0\\n' > "+p+"/bin/microvm-shutdown && chmod 0755 "+p+"/bin/*")
		return p
	}
	reset := func() {
		env.HV(t, hv, "systemctl stop "+unit+"; systemctl reset-failed 'microvm*@"+vm+".service' 2>/dev/null; rm -rf "+dir+" /tmp/bo-"+vm+"-* /etc/systemd/system.control/microvms.target.wants/"+unit+"; systemctl daemon-reload")
	}
	t.Cleanup(reset)
	play := func(t *testing.T, ctrl string, vars Vars, args ...string) *Result {
		t.Helper()
		vars["service_names"] = []string{vm}
		return env.Playbook(t, ctrl, "playbooks/service.yaml", vars, append([]string{"--limit", hv}, args...)...)
	}
	state := func(t *testing.T) string {
		t.Helper()
		return env.HV(t, hv, "find "+dir+" /etc/systemd/system.control -printf '%p %l\\n' 2>/dev/null | sort; systemctl show -p ActiveState,MainPID "+unit+"; systemctl show -p Wants --value microvms.target")
	}
	// step runs check mode (no change on the host, same prediction), the real run, and
	// with again the same pair once more, which must change nothing.
	step := func(t *testing.T, ctrl string, vars Vars, again bool) map[string]any {
		t.Helper()
		var first map[string]any
		for round := 0; round < 2; round++ {
			before := state(t)
			check := play(t, ctrl, vars, "--check", "--diff")
			check.RequireOK(t)
			require.Equal(t, before, state(t), "check mode changed the hypervisor")
			real := play(t, ctrl, vars, "--diff")
			real.RequireOK(t)
			c, r := check.Task(t, serviceTask, hv), real.Task(t, serviceTask, hv)
			assert.Equal(t, r.Changed, c.Changed, "check mode predicts changed")
			compareService(t, vm, mustVM(t, c, vm), mustVM(t, r, vm))
			if round == 0 {
				first = mustVM(t, r, vm)
				assert.True(t, r.Changed, "the first run changes something")
				if !again {
					return first
				}
			} else {
				assert.False(t, r.Changed, "the second run changes nothing")
			}
		}
		return first
	}
	pid := func(t *testing.T) string { return env.HV(t, hv, "systemctl show -p MainPID --value "+unit) }

	for _, ctrl := range env.Controllers() {
		t.Run("controller "+ctrl, func(t *testing.T) {
			reset()
			r1 := runner("r1", "exec sleep 100000")
			env.HV(t, hv, "install -d -o microvm -g kvm -m 0775 "+dir+" && ln -sfn "+r1+" "+dir+"/current")

			r := step(t, ctrl, Vars{"service_state": "started"}, true)
			assert.Equal(t, "started", r["action"])
			assert.Equal(t, r1, r["booted"])
			assert.Equal(t, "active\n", env.HV(t, hv, "systemctl is-active "+unit))

			p := pid(t)
			r = step(t, ctrl, Vars{"service_state": "restarted"}, false)
			assert.Equal(t, "restarted", r["action"])
			assert.NotEqual(t, p, pid(t), "a new hypervisor process")

			r2 := runner("r2", "exec sleep 100001")
			env.HV(t, hv, "ln -sfn "+r2+" "+dir+"/current")
			r = step(t, ctrl, Vars{"service_restart_if_outdated": true}, true)
			assert.Equal(t, "restarted", r["action"])
			assert.Contains(t, r["reason"], "outdated")
			assert.Equal(t, r2+"\n", env.HV(t, hv, "readlink "+dir+"/booted"), "it booted the new runner")

			r = step(t, ctrl, Vars{"service_enabled": true}, true)
			e, _ := r["enabled"].(map[string]any)
			assert.Equal(t, "/etc/systemd/system.control/microvms.target.wants/"+unit, e["via"])
			assert.Contains(t, env.HV(t, hv, "systemctl show -p Wants --value microvms.target"), unit)
			step(t, ctrl, Vars{"service_enabled": false}, true)
			assert.NotContains(t, env.HV(t, hv, "systemctl show -p Wants --value microvms.target"), unit)

			r = step(t, ctrl, Vars{"service_state": "stopped"}, true)
			assert.Equal(t, "stopped", r["action"])
			assert.Equal(t, "inactive\n", env.HV(t, hv, "systemctl is-active "+unit+"; true"))
			sd, _ := r["shutdown"].(map[string]any)
			assert.Equal(t, "systemd", sd["how"], "a stand-in runner has no QMP socket: the stop is left to systemd")
			assert.Contains(t, sd["detail"], "the hypervisor was started without -qmp")

			// The directory only (volumes kept): stopped already. No directory: an error naming it.
			env.HV(t, hv, "rm "+dir+"/current")
			res := play(t, ctrl, Vars{"service_state": "stopped"})
			res.RequireOK(t)
			assert.False(t, res.Task(t, serviceTask, hv).Changed)
			env.HV(t, hv, "rm -rf "+dir)
			res = play(t, ctrl, Vars{"service_state": "stopped"})
			tr := res.Task(t, serviceTask, hv)
			assert.Equal(t, "failed", tr.Status)
			assert.Contains(t, tr.Result["msg"], "svcprobe: this hypervisor has no such VM (/var/lib/microvms/svcprobe does not exist): cannot stop it")
			env.HV(t, hv, "install -d -o microvm -g kvm -m 0775 "+dir+" && ln -sfn "+r1+" "+dir+"/current")

			// No runner: refused before any job.
			env.HV(t, hv, "rm "+dir+"/current")
			res = play(t, ctrl, Vars{"service_state": "started"})
			tr = res.Task(t, serviceTask, hv)
			assert.Equal(t, "failed", tr.Status)
			assert.Contains(t, tr.Result["msg"], "svcprobe: /var/lib/microvms/svcprobe has no current runner link: install it with bo.microvm.microvm_install")

			// A dependency that fails: microvm-set-booted cannot write booted.
			env.HV(t, hv, "ln -sfn "+r1+" "+dir+"/current && chown root:root "+dir+" && chmod 0755 "+dir)
			res = play(t, ctrl, Vars{"service_state": "started"})
			tr = res.Task(t, serviceTask, hv)
			assert.Equal(t, "failed", tr.Status)
			r = mustVM(t, tr, vm)
			assert.Contains(t, r["error"], `job result "dependency"`)
			assert.Contains(t, strings.Join(anyStrings(r["journal"]), "\n"), "Permission denied", "the journal says why")
			env.HV(t, hv, "chown microvm:kvm "+dir+" && chmod 0775 "+dir+" && systemctl reset-failed 'microvm*@"+vm+".service'")

			// A hypervisor that exits at once.
			bad := runner("bad", "echo qemu: cannot open tap: boom >&2; exit 1")
			env.HV(t, hv, "ln -sfn "+bad+" "+dir+"/current")
			res = play(t, ctrl, Vars{"service_state": "started"})
			tr = res.Task(t, serviceTask, hv)
			assert.Equal(t, "failed", tr.Status)
			r = mustVM(t, tr, vm)
			t.Logf("a hypervisor that exits at once is reported as: %v", r["error"])
			assert.Contains(t, strings.Join(anyStrings(r["journal"]), "\n"), "boom")
			env.HV(t, hv, "systemctl stop "+unit+"; systemctl reset-failed 'microvm*@"+vm+".service'; true")
		})
	}
}
