// Command microvm_service is the bo.microvm.microvm_service module: start, stop and restart
// microvm.nix VMs through systemd, manage their autostart, and wait for their guests.
package main

import (
	"github.com/business-operations/bo.microvm/internal/ansible"
	"github.com/business-operations/bo.microvm/internal/service"
	"github.com/business-operations/bo.microvm/internal/statedir"
)

func main() {
	ansible.Main(ansible.Module{
		Name:             "microvm_service",
		ShortDescription: "Start, stop or restart microVMs on a microvm.nix hypervisor",
		Description: []string{
			"Starts, stops or restarts the C(microvm@NAME.service) unit of each VM in C(name) over D-Bus, all VMs in parallel in one invocation, and waits for each job's outcome from systemd.",
			"After a job it checks the unit's real state: systemd reports a start whose C(ConditionPathExists) failed (no C(current/bin/microvm-run)) as done although the unit stays inactive; this module fails instead, and refuses beforehand to start a VM that has no C(current) runner.",
			"With C(restart_if_outdated), a running VM whose C(booted) runner differs from C(current) (a new configuration was installed) is restarted; a stopped VM simply boots C(current) when started.",
			"With C(wait_for), waits until each running guest accepts TCP connections on a port (SSH by default); a unit that leaves the active state meanwhile fails at once.",
			"C(enabled) manages autostart at boot through C(microvms.target), as microvm.nix's C(microvm.autostart) does declaratively; see the notes for what survives a reboot.",
			"Stops and restarts gracefully whatever the host's microvm.nix revision: before the stop or restart job of a running VM it presses Ctrl-Alt-Del on the guest over the VM's QMP socket (what microvm.nix's qemu C(microvm-shutdown) sends), waits up to C(timeout) until the hypervisor has exited, and only then lets systemd finish the job. On microvm.nix before PR #578 the unit's own C(ExecStop) returns a second after the key press and systemd kills qemu, so a bare C(systemctl stop) there is a hard kill of the guest. Each VM's C(shutdown) says how it went down.",
			"Stopping a VM this hypervisor does not have (no state directory) is an error naming it, as C(ansible.builtin.systemd) fails for an unknown unit; so is starting or restarting one.",
			"Holds the per-VM lock (C(/run/lock/bo-microvm/NAME.lock)) shared with the other lifecycle modules while it acts. On failure a VM's result carries its units' last journal lines.",
		},
		Notes: []string{
			"Runs as root on the hypervisor: delegate the task to the VM's C(microvm_host).",
			"Autostart: microvm.nix's unit template has no C([Install]) section, so C(systemctl enable) cannot work, and on NixOS C(/etc/systemd/system) is a read-only store link. C(enabled=true) writes a want link C(/etc/systemd/system.control/microvms.target.wants/microvm@NAME.service) (systemd's persistent control directory, on the unit search path, untouched by NixOS activation) and reloads systemd: it survives reboots and C(nixos-rebuild switch), but not a host with an immutable C(/etc) overlay. A runtime want (C(systemctl add-wants --runtime)) is lost at reboot and is reported as runtime_only.",
			"C(enabled=false) removes the links it and C(systemctl add-wants) make; a VM autostarted by the host configuration (C(microvm.autostart), C(microvm.vms.NAME.autostart)) is refused with an error saying to change the configuration there.",
			"Check mode reads the unit states, the state directories and the want links, and predicts exactly; it acts on nothing and does not wait.",
		},
		Spec: ansible.Spec{Options: []ansible.Option{
			{Name: "name", Type: ansible.List, Elements: ansible.Str, Required: true, Description: []string{"The VM, or a list of VMs, on this hypervisor (the state directory names). At most 12 characters each (the tap id C(vm-NAME) must fit 15)."}},
			{Name: "state", Choices: []any{"started", "stopped", "restarted"}, Description: []string{"C(started) starts stopped VMs; C(stopped) stops running ones (the only way to keep a microvm.nix VM down: its unit restarts a hypervisor that exits); C(restarted) always restarts (and starts stopped ones).", "When omitted the units are left as they are and only C(restart_if_outdated) and C(enabled) apply."}},
			{Name: "restart_if_outdated", Type: ansible.Bool, Default: false, Description: []string{"Restart a running VM whose C(booted) runner differs from C(current). With C(state=started) or no C(state); not with C(state=stopped)."}},
			{Name: "enabled", Type: ansible.Bool, Description: []string{"Whether the VM starts at boot (wanted by C(microvms.target)). Left as it is when omitted."}},
			{Name: "timeout", Type: ansible.Int, Default: 300, Description: []string{"Seconds to wait for each systemd job's outcome (and for another run's per-VM lock). The job stays queued in systemd when this passes.", "Also how long a running guest gets to power off after Ctrl-Alt-Del before a stop or restart; then systemd's stop job ends it (reported as C(killed))."}},
			{Name: "wait_for", Type: ansible.Dict, Description: []string{"After the jobs, wait until every running VM's guest accepts TCP connections."}, Options: []ansible.Option{
				{Name: "host", Description: []string{"The guest's address, when C(name) is one VM."}},
				{Name: "hosts", Type: ansible.Dict, Description: []string{"The guests' addresses, as C({vm: address}), one for every VM in C(name)."}},
				{Name: "port", Type: ansible.Int, Default: service.DefaultWaitPort, Description: []string{"TCP port to connect to."}},
				{Name: "timeout", Type: ansible.Int, Default: 300, Description: []string{"Seconds to wait for each guest."}},
			}, Rules: ansible.Rules{MutuallyExclusive: [][]string{{"host", "hosts"}}, RequiredOneOf: [][]string{{"host", "hosts"}}}},
			{Name: "state_dir", Type: ansible.Path, Default: statedir.DefaultStateDir, Description: []string{"microvm.nix's C(microvm.stateDir) on the hypervisor."}},
		}},
		CheckMode: ansible.Full,
		DiffMode:  ansible.Full,
		Examples: `
- name: Start the hypervisor's VMs and wait until they answer SSH
  bo.microvm.microvm_service:
    name: "{{ vms }}"
    state: started
    wait_for:
      hosts: "{{ dict(vms | zip(vms | map('extract', hostvars, 'ansible_host'))) }}"
      port: 22
      timeout: 300
  vars:
    vms: [k0s-cp1, k0s-w1]

- name: Restart the VMs whose installed configuration is newer than the one they booted
  bo.microvm.microvm_service:
    name: [k0s-cp1, k0s-w1]
    restart_if_outdated: true

- name: Start one VM at every boot of the hypervisor
  bo.microvm.microvm_service:
    name: k0s-cp1
    state: started
    enabled: true

- name: Stop a VM
  bo.microvm.microvm_service:
    name: k0s-w1
    state: stopped
`,
		Returns: []ansible.Return{
			{Name: "vms", Type: "dict", Returned: "always, unless the arguments were refused", Description: "One entry per VM, keyed by name.", Contains: []ansible.Return{
				{Name: "unit", Type: "str", Returned: "always", Description: "The VM's unit.", Sample: "microvm@k0s-cp1.service"},
				{Name: "before", Type: "str", Returned: "always", Description: "The unit's ActiveState before the run.", Sample: "inactive"},
				{Name: "after", Type: "str", Returned: "always", Description: "The unit's ActiveState after the run (predicted in check mode).", Sample: "active"},
				{Name: "action", Type: "str", Returned: "always", Description: "What was (or, in check mode, would be) done: C(started), C(stopped), C(restarted) or C(none)."},
				{Name: "reason", Type: "str", Returned: "when action is not none", Description: "Why, e.g. C(state=started) or the outdated runner paths."},
				{Name: "current", Type: "str", Returned: "always", Description: "The runner C(current) points at."},
				{Name: "booted", Type: "str", Returned: "always", Description: "The runner the VM runs (empty when stopped), read after the job."},
				{Name: "enabled", Type: "dict", Returned: "when enabled is given", Description: "Autostart: C(before), C(after) (bools: started at the next boot), C(changed), C(via) (the want link, or the host configuration), C(runtime_only) (a want that a reboot loses)."},
				{Name: "wait_for", Type: "dict", Returned: "when wait_for is given and the VM runs", Description: "C(address) waited for and C(seconds) it took; C(skipped) in check mode."},
				{Name: "shutdown", Type: "dict", Returned: "when a running VM was stopped or restarted (not in check mode)", Description: "How it went down: C(how) is C(clean) (the guest powered off after Ctrl-Alt-Del), C(killed) (it did not within C(timeout); systemd's stop job ended it) or C(systemd) (the guest could not be asked, e.g. no QMP socket or not qemu; systemd's C(ExecStop) did the stop); C(seconds) from the request to the hypervisor's exit; C(detail) in words.", Sample: map[string]any{"how": "clean", "seconds": 3.2, "detail": "clean after 3.2 s: the guest powered off when asked"}},
				{Name: "error", Type: "str", Returned: "when this VM failed", Description: "What failed for this VM."},
				{Name: "journal", Type: "list", Elements: "str", Returned: "when a job or the wait failed", Description: "The last 20 journal lines of the VM's units."},
			}},
			{Name: "summary", Type: "dict", Returned: "always, unless the arguments were refused", Description: "VM names by outcome: C(started), C(stopped), C(restarted), C(unchanged), C(enabled), C(disabled), C(failed).", Sample: map[string]any{"started": []string{"k0s-cp1"}, "stopped": []string{}, "restarted": []string{}, "unchanged": []string{"k0s-w1"}, "enabled": []string{}, "disabled": []string{}, "failed": []string{}}},
		},
		Run: service.Run,
	})
}
