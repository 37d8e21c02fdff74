//go:build e2e

package e2e

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSwitchOnTheSystemdGuest applies a guest-only change to the lab's systemd guest with
// deploy-microvms.yaml and `microvm_update_strategy: switch`, each controller once, and asks
// the guest what happened. The guest has nix (Debian's nix-bin) on the hypervisor's store
// (9p, tag ro-store, as microvm.nix shares it) and a system with a unit and a
// switch-to-configuration that restarts changed units (tests/lab/site/system-systemd.nix);
// its runner names the system (bo.system=) and the system's closure registration (regInfo=,
// microvm.nix's registerClosure), which the guest loads at boot. So the switch runs
// microvm.nix's deploy.sshSwitch sequence for real (nixos-modules/microvm/ssh-deploy.nix at
// 71beea00: nix-store --load-db of the new registration, nix-env -p
// /nix/var/nix/profiles/system --set, switch-to-configuration switch): the new system is in
// the guest's nix database and is the system profile, its changed unit was restarted by
// systemd, and the guest did not reboot (same boot ID). A second deploy changes nothing; a
// restart then boots the switched system.
func TestSwitchOnTheSystemdGuest(t *testing.T) {
	lab := Lab(t)
	vm := systemdVM(t, lab)
	hv := lab.VMs[vm].Host
	lab.Claim(t, vm)
	lab.ResetVM(t, hv, vm)
	reset := func() {
		lab.HV(t, hv, "systemctl stop microvm@"+vm+"; systemctl reset-failed 'microvm*@"+vm+".service' 2>/dev/null; rm -rf /var/lib/microvms/"+vm+" /nix/var/nix/gcroots/microvm/*"+vm+"; true")
	}
	reset()
	t.Cleanup(reset)

	own := lab.WithVMs(t, vm)
	// The switch reaches the guest over SSH under the lab inventory's strict checking, which
	// reads the lab's known_hosts: the deploy writes the guest's key there (own's inventory
	// is a directory of its own, whose default known_hosts no ssh reads).
	vars := Vars{"microvm_require_kvm": false, "microvm_wait_timeout": 600, "microvm_job_timeout": 600,
		"microvm_update_strategy": "switch", "microvm_known_hosts": lab.KnownHosts()}
	deploy := filepath.Join(lab.Repo, "playbooks", "deploy-microvms.yaml")
	guest := func(cmd string) string { return strings.TrimSpace(lab.SSH(t, vm, cmd)) }
	// The guest system of the VM's current runner, as the hypervisor has it.
	currentSystem := func() string {
		return strings.TrimSpace(lab.HV(t, hv, "readlink /var/lib/microvms/"+vm+"/current/share/microvm/system"))
	}
	ctrls := lab.Controllers()

	start := time.Now()
	own.Playbook(t, ctrls[0], deploy, vars, "--limit", vm).RequireOK(t)
	waitGuest(t, lab, hv, vm)
	logBoot(t, lab, hv, vm, "deploy-microvms.yaml (fresh)", time.Since(start))
	booted := currentSystem()
	assert.Equal(t, "1", guest("cat /run/bo-booted-generation"), "the guest booted generation 1")
	assert.Equal(t, "1", guest("cat /run/bo-generation"), "its unit ran at boot")
	assert.Equal(t, booted, guest("readlink /run/current-system"))
	// The boot loaded the runner's registration: the booted system is valid in the guest's
	// nix database (load-db ran, so the same command works for the new system below).
	guest("nix-store --check-validity " + booted)
	boot := bootID(t, lab, vm)
	unitStarts := func() string { return guest("systemctl show -p InvocationID --value bo-lab-generation.service") }

	for i, ctrl := range ctrls {
		gen := strconv.Itoa(i + 2)
		t.Run("controller "+ctrl+" switches to generation "+gen, func(t *testing.T) {
			before := unitStarts()
			lab.SetVM(t, hv, vm, "generation="+gen)
			res := own.Playbook(t, ctrl, deploy, vars, "--limit", vm)
			res.RequireOK(t)
			out := taskStdout(t, res, "bo.microvm.microvm_deploy : Switch the VMs whose change is guest-only to the new system, without a reboot")
			assert.Contains(t, out, "Refreshing Nix database", "the new registration was loaded")
			assert.Contains(t, out, "restarting the following units: bo-lab-generation.service", "the new system's switch-to-configuration ran")

			sys := currentSystem()
			require.NotEqual(t, booted, sys, "generation %s is a new system", gen)
			assert.Equal(t, boot, bootID(t, lab, vm), "switch did not reboot the guest")
			assert.Equal(t, gen, guest("cat /run/bo-generation"), "the changed unit ran again, from the new system")
			assert.NotEqual(t, before, unitStarts(), "systemd restarted the changed unit")
			assert.Equal(t, sys, guest("readlink /run/current-system"))
			assert.Equal(t, sys, guest("readlink -f /nix/var/nix/profiles/system"), "nix-env --set made it the system profile")
			guest("nix-store --check-validity " + sys)
			assert.Equal(t, "1", guest("cat /run/bo-booted-generation"), "still the boot of generation 1")

			again := own.Playbook(t, ctrl, deploy, vars, "--limit", vm)
			again.RequireOK(t)
			assert.Zero(t, again.Recap().Changed(), "a switched guest is not switched again")
		})
	}

	// The VM still runs the runner it booted (booted != current) until a restart, which
	// boots the switched one; the guest's boot activates its system from the command line.
	last := strconv.Itoa(len(ctrls) + 1)
	start = time.Now()
	own.Playbook(t, ctrls[0], filepath.Join(lab.Repo, "playbooks", "restart-microvms.yaml"), vars, "--limit", vm).RequireOK(t)
	waitGuest(t, lab, hv, vm)
	logBoot(t, lab, hv, vm, "restart-microvms.yaml", time.Since(start))
	assert.NotEqual(t, boot, bootID(t, lab, vm), "the restart rebooted the guest")
	assert.Equal(t, last, guest("cat /run/bo-booted-generation"), "the restart booted the switched system")
	assert.Equal(t, last, guest("cat /run/bo-generation"))
}

// taskStdout is the stdout of every result of the task named task, on whichever host ran
// it (the deploy's leaders), a loop's items joined; the test fails when the task never ran.
func taskStdout(t *testing.T, res *Result, task string) string {
	t.Helper()
	var b strings.Builder
	found := false
	for _, tr := range res.Tasks {
		if tr.Task != task {
			continue
		}
		found = true
		if s, ok := tr.Result["stdout"].(string); ok {
			b.WriteString(s)
		}
		items, _ := tr.Result["results"].([]any)
		for _, it := range items {
			if m, ok := it.(map[string]any); ok {
				if s, ok := m["stdout"].(string); ok {
					b.WriteString(s)
				}
			}
		}
	}
	if !found {
		t.Fatalf("task %q did not run:\n%s", task, res.Output)
	}
	return b.String()
}
