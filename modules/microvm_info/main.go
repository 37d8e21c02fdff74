// Command microvm_info is the bo.microvm.microvm_info module: read-only facts about a
// microvm.nix hypervisor's VMs and its preparation.
package main

import (
	"context"

	"github.com/business-operations/bo.microvm/internal/ansible"
	"github.com/business-operations/bo.microvm/internal/info"
	"github.com/business-operations/bo.microvm/internal/statedir"
	"github.com/business-operations/bo.microvm/internal/systemd"
)

func main() {
	ansible.Main(ansible.Module{
		Name:             "microvm_info",
		ShortDescription: "Facts about the microVMs on a microvm.nix hypervisor",
		Description: []string{
			"Reads every VM directory under C(state_dir): the runner C(current) and C(booted) store paths, whether the VM is outdated (C(booted) differs from C(current)), its C(flake) file and whether it is declarative (a C(toplevel) link, managed by the host's NixOS configuration).",
			"Reads each C(microvm@NAME.service) unit's state from systemd over D-Bus, and the host facts preflight checks need: the microvm.nix unit templates, C(/dev/kvm), the bridge.",
			"Changes nothing. Never parses C(microvm -l).",
		},
		Spec: ansible.Spec{Options: []ansible.Option{
			{Name: "name", Type: ansible.List, Elements: ansible.Str, Description: []string{"Only these VMs. A name without a directory is reported with C(exists=false).", "All VMs in C(state_dir) when omitted."}},
			{Name: "state_dir", Type: ansible.Path, Default: statedir.DefaultStateDir, Description: []string{"microvm.nix's C(microvm.stateDir) on the hypervisor."}},
			{Name: "bridge", Default: "br0", Description: []string{"The bridge the VMs' taps join (C(microvm-bridge) module)."}},
		}},
		CheckMode: ansible.Full,
		DiffMode:  ansible.None,
		Examples: `
- name: Read the state of every microVM on the hypervisor
  bo.microvm.microvm_info:
  register: hv

- name: Show which VMs run an outdated runner
  ansible.builtin.debug:
    msg: "{{ hv.vms | dict2items | selectattr('value.outdated') | map(attribute='key') | list }}"

- name: Read two VMs only
  bo.microvm.microvm_info:
    name: [k0s-cp1, k0s-w1]
`,
		Returns: []ansible.Return{
			{Name: "vms", Type: "dict", Returned: "always", Description: "Facts per VM, keyed by VM name.", Contains: []ansible.Return{
				{Name: "exists", Type: "bool", Returned: "always", Description: "The VM directory exists."},
				{Name: "dir", Type: "str", Returned: "always", Description: "The VM directory.", Sample: "/var/lib/microvms/k0s-cp1"},
				{Name: "current", Type: "str", Returned: "always", Description: "Runner store path C(current) points at; empty when not installed.", Sample: "/nix/store/0a1b...-microvm-qemu-k0s-cp1"},
				{Name: "booted", Type: "str", Returned: "always", Description: "Runner the running VM was started from; empty when not running."},
				{Name: "outdated", Type: "bool", Returned: "always", Description: "C(booted) differs from C(current): a restart (or switch) would apply a new configuration."},
				{Name: "flake", Type: "str", Returned: "always", Description: "Content of the C(flake) file."},
				{Name: "declarative", Type: "bool", Returned: "always", Description: "The VM is managed by the host's NixOS configuration (C(toplevel) present); microvm_install refuses to change it and the playbooks stop in preflight."},
				{Name: "running", Type: "bool", Returned: "always", Description: "The unit is active."},
				{Name: "unit", Type: "str", Returned: "always", Description: "The VM's systemd unit.", Sample: "microvm@k0s-cp1.service"},
				{Name: "active_state", Type: "str", Returned: "always", Description: "The unit's ActiveState.", Sample: "active"},
				{Name: "sub_state", Type: "str", Returned: "always", Description: "The unit's SubState.", Sample: "running"},
				{Name: "current_system", Type: "str", Returned: "always", Description: "Guest system (NixOS toplevel) of the C(current) runner (its C(share/microvm/system) link)."},
				{Name: "booted_system", Type: "str", Returned: "always", Description: "Guest system of the C(booted) runner."},
				{Name: "switchable", Type: "bool", Returned: "always", Description: "The VM runs an outdated runner and the new one differs only in the guest system, so the guest can activate it in place (switch-to-configuration) without a restart. A new kernel, command line, volume, interface or hypervisor setting needs a restart."},
				{Name: "switch_reason", Type: "str", Returned: "always", Description: "Why the VM is or is not switchable."},
				{Name: "load_state", Type: "str", Returned: "always", Description: "The unit's LoadState.", Sample: "loaded"},
			}},
			{Name: "host", Type: "dict", Returned: "always", Description: "Facts about the hypervisor's preparation.", Contains: []ansible.Return{
				{Name: "state_dir", Type: "str", Returned: "always", Description: "The state directory read."},
				{Name: "state_dir_exists", Type: "bool", Returned: "always", Description: "The state directory exists."},
				{Name: "vms_present", Type: "list", Elements: "str", Returned: "always", Description: "Every VM directory in the state directory, whether O(name) asks for it or not (the playbooks report those the inventory does not name)."},
				{Name: "unit_template", Type: "bool", Returned: "always", Description: "systemd knows C(microvm@.service) (microvm.nix's host module is enabled)."},
				{Name: "units_missing", Type: "list", Elements: "str", Returned: "always", Description: "microvm.nix host units systemd does not know."},
				{Name: "kvm", Type: "bool", Returned: "always", Description: "C(/dev/kvm) exists."},
				{Name: "bridge", Type: "dict", Returned: "always", Description: "The bridge: C(name), C(present), C(is_bridge), C(operstate), C(up)."},
			}},
		},
		Run: func(ctx context.Context, inv *ansible.Invocation) (*ansible.Result, error) {
			conn, err := systemd.Connect(ctx)
			if err != nil {
				return nil, err
			}
			defer conn.Close()
			f, err := info.Gather(ctx, statedir.Host{StateDir: inv.Params.Str("state_dir")}, conn,
				info.Options{Names: inv.Params.Strs("name"), Bridge: inv.Params.Str("bridge")})
			if err != nil {
				return nil, err
			}
			return (&ansible.Result{}).Set("vms", f.VMs).Set("host", f.Host), nil
		},
	})
}
