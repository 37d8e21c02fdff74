//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const infoTask = "Read the microVMs and the host preparation"

// TestSmoke walks one VM through the lab with each controller: microvm_info
// reads both hypervisors, nix builds the VM's runner from the site flake,
// `systemctl start microvm@<vm>` boots a guest that answers SSH (the boot is
// timed), a new generation switches in place without a reboot, a restart
// boots the new runner (booted follows current), a broken VM
// fails its build and keeps its runner, and `systemctl stop` ends the guest
// so SSH stops answering: on the lab's default hypervisors (microvm.nix main's
// microvm-shutdown at 71beea00) a bare restart and stop kill qemu, which the guest's
// next boot and qemu's journal show; microvm_service's graceful stop is TestService's.
func TestSmoke(t *testing.T) {
	lab := Lab(t)
	const hv, vm = "hv1", "smoke"
	require.Equal(t, hv, lab.VMs[vm].Host, "the lab's vms.json puts %s on %s", vm, hv)
	lab.Claim(t, vm)
	lab.ResetVM(t, hv, vm)
	unit := "microvm@" + vm

	reset := func() {
		lab.HV(t, hv, "systemctl stop "+unit+"; rm -rf /var/lib/microvms/"+vm)
	}
	t.Cleanup(reset)

	for _, ctrl := range lab.Controllers() {
		t.Run("controller "+ctrl, func(t *testing.T) {
			reset()

			res := lab.Playbook(t, ctrl, "playbooks/info.yaml", nil)
			res.RequireOK(t)
			assert.Zero(t, res.Recap().Changed(), "microvm_info changes nothing")
			for name := range lab.Hypervisors {
				host := infoHost(t, res, name)
				assert.Equal(t, true, host["unit_template"], "%s has microvm@.service", name)
				assert.Empty(t, host["units_missing"], "%s has every microvm.nix unit", name)
				assert.Equal(t, false, host["kvm"], "%s: the lab has no /dev/kvm", name)
				bridge, _ := host["bridge"].(map[string]any)
				assert.Equal(t, true, bridge["present"], "%s has br0", name)
				assert.Equal(t, true, bridge["is_bridge"], "%s: br0 is a bridge", name)
			}
			assert.NotContains(t, infoVMs(t, res, hv), vm, "a removed VM is not listed")

			runner := lab.Runner(t, hv, vm)
			require.True(t, strings.HasPrefix(runner, "/nix/store/") && strings.HasSuffix(runner, "-microvm-qemu-"+vm),
				"runner store path %q", runner)
			facts := infoVM(t, lab.Playbook(t, ctrl, "playbooks/info.yaml", nil, "--limit", hv), hv, vm)
			assert.Equal(t, runner, facts["current"])
			assert.Equal(t, "", facts["booted"], "a built VM that never ran has no booted")
			assert.Equal(t, false, facts["running"])
			assert.Equal(t, lab.Flake, facts["flake"])
			assert.Equal(t, false, facts["declarative"])

			start := time.Now()
			assert.Equal(t, "active\n", lab.HV(t, hv, "systemctl start "+unit+" && systemctl is-active "+unit))
			boot := lab.WaitSSH(t, vm, 180*time.Second)
			t.Logf("guest %s: systemctl start -> SSH answers: %s (controller %s)", vm, time.Since(start).Round(100*time.Millisecond), ctrl)
			assert.Less(t, boot, 180*time.Second)
			assert.Equal(t, vm+"\n", lab.SSH(t, vm, "hostname"))
			assert.Equal(t, "1\n", lab.SSH(t, vm, "cat /run/bo-generation"), "the guest activated its generation")
			system := strings.TrimSpace(lab.HV(t, hv, "readlink "+runner+"/share/microvm/system"))
			assert.Equal(t, system+"\n", lab.SSH(t, vm, "readlink /run/current-system"))

			facts = infoVM(t, lab.Playbook(t, ctrl, "playbooks/info.yaml", nil, "--limit", hv), hv, vm)
			assert.Equal(t, true, facts["running"])
			assert.Equal(t, "active", facts["active_state"])
			assert.Equal(t, runner, facts["booted"])
			assert.Equal(t, false, facts["outdated"])

			// The fixture's update paths: a new generation builds a new runner that
			// the guest switches to in place; a broken VM fails its build.
			bootID := lab.SSH(t, vm, "cat /proc/sys/kernel/random/boot_id")
			lab.SetVM(t, hv, vm, "generation=2")
			runner2 := lab.Runner(t, hv, vm)
			require.NotEqual(t, runner, runner2, "a new generation is a new runner")
			system2 := strings.TrimSpace(lab.HV(t, hv, "readlink "+runner2+"/share/microvm/system"))
			lab.SSH(t, vm, system2+"/bin/switch-to-configuration switch")
			assert.Equal(t, "2\n", lab.SSH(t, vm, "cat /run/bo-generation"), "switched in place")
			assert.Equal(t, bootID, lab.SSH(t, vm, "cat /proc/sys/kernel/random/boot_id"), "without a reboot")
			facts = infoVM(t, lab.Playbook(t, ctrl, "playbooks/info.yaml", nil, "--limit", hv), hv, vm)
			assert.Equal(t, runner, facts["booted"])
			assert.Equal(t, runner2, facts["current"])
			assert.Equal(t, true, facts["outdated"], "booted differs from current")
			restart := time.Now()
			lab.HV(t, hv, "systemctl restart "+unit)
			lab.WaitSSH(t, vm, 180*time.Second)
			t.Logf("guest %s: systemctl restart -> SSH answers: %s", vm, time.Since(restart).Round(100*time.Millisecond))
			assert.NotEqual(t, bootID, lab.SSH(t, vm, "cat /proc/sys/kernel/random/boot_id"), "a restart reboots")
			// The oracle of the host's stop semantics is the guest: a bare systemctl restart
			// on a hypervisor with microvm.nix main's microvm-shutdown (71beea00, the lab's
			// default) kills qemu, so the next boot replays /var's ext4 journal; with PR
			// #578's (BO_LAB_SHUTDOWN_WAIT) the guest powered off and /var is clean.
			kills := strings.Contains(lab.HV(t, hv, "cat /srv/site/host.json"), `"71beea00"`)
			dmesg := lab.SSH(t, vm, "dmesg")
			if kills {
				assert.Contains(t, dmesg, "EXT4-fs (vda): recovery complete", "microvm.nix 71beea00: systemctl restart killed the guest")
			} else {
				assert.NotContains(t, dmesg, "EXT4-fs (vda): recovery complete", "PR #578: systemctl restart let the guest power off")
			}
			assert.Equal(t, "2\n", lab.SSH(t, vm, "cat /run/bo-booted-generation"), "and boots the new runner")
			assert.Equal(t, runner2+"\n", lab.HV(t, hv, "readlink /var/lib/microvms/"+vm+"/booted"))
			lab.SetVM(t, hv, vm, "broken=true")
			out, err := lab.Run(hv, "cd /var/lib/microvms/"+vm+" && nix build '"+lab.Flake+"#nixosConfigurations."+vm+
				".config.microvm.declaredRunner' -o current 2>&1", 0)
			require.Error(t, err, "a broken VM's runner does not build")
			assert.Contains(t, out, "is marked broken")
			assert.Equal(t, runner2+"\n", lab.HV(t, hv, "readlink /var/lib/microvms/"+vm+"/current"),
				"a failed build leaves the old runner")

			stop := time.Now()
			since := strings.TrimSpace(lab.HV(t, hv, "date +%s"))
			lab.HV(t, hv, "systemctl stop "+unit)
			t.Logf("guest %s: systemctl stop took %s", vm, time.Since(stop).Round(100*time.Millisecond))
			// qemu exits 0 on SIGTERM, so the unit's result is success either way; qemu's
			// own last words say whether it was killed.
			assert.Equal(t, "inactive\nsuccess\n",
				lab.HV(t, hv, "systemctl is-active "+unit+"; systemctl show -p Result --value "+unit))
			journal := lab.HV(t, hv, "journalctl -u "+unit+" --since @"+since+" --no-pager")
			if kills {
				assert.Contains(t, journal, "terminating on signal 15", "microvm.nix 71beea00: microvm-shutdown returned at once and systemd killed qemu")
			} else {
				assert.NotContains(t, journal, "terminating on signal", "PR #578: microvm-shutdown waited for the guest")
				assert.Contains(t, journal, "reboot: Restarting system", "the guest rebooted, which ends qemu (-no-reboot)")
			}
			lab.WaitNoSSH(t, vm, 30*time.Second)

			facts = infoVM(t, lab.Playbook(t, ctrl, "playbooks/info.yaml", nil, "--limit", hv), hv, vm)
			assert.Equal(t, false, facts["running"])
			assert.Equal(t, "", facts["booted"], "booted goes with the unit")
		})
	}
}

// infoHost is microvm_info's host facts of hypervisor hv.
func infoHost(t *testing.T, res *Result, hv string) map[string]any {
	t.Helper()
	host, ok := res.Task(t, infoTask, hv).Result["host"].(map[string]any)
	require.True(t, ok, "microvm_info on %s returns host", hv)
	return host
}

// infoVMs is microvm_info's vms of hypervisor hv.
func infoVMs(t *testing.T, res *Result, hv string) map[string]any {
	t.Helper()
	vms, ok := res.Task(t, infoTask, hv).Result["vms"].(map[string]any)
	require.True(t, ok, "microvm_info on %s returns vms", hv)
	return vms
}

// infoVM is microvm_info's facts of one VM on hypervisor hv.
func infoVM(t *testing.T, res *Result, hv, vm string) map[string]any {
	t.Helper()
	res.RequireOK(t)
	facts, ok := infoVMs(t, res, hv)[vm].(map[string]any)
	require.True(t, ok, "microvm_info on %s lists %s", hv, vm)
	return facts
}
