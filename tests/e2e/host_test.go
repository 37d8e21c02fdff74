//go:build e2e

package e2e

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHostSemantics checks that the lab's hypervisors behave as microvm.nix's host module at
// 71beea00 (nixos-modules/host/default.nix) where the modules depend on it, without booting
// a guest: microvms.target wants the VMs the host configuration autostarts (and
// microvm_service reports and refuses to disable those), microvm-set-booted@ without a
// `current` leaves the looping booted -> booted link and `systemctl start` exits 0 doing
// nothing, the units' environment is NixOS's, and each hypervisor says which
// microvm-shutdown its runners get.
func TestHostSemantics(t *testing.T) {
	env := Lab(t)
	const hv, probe = "hv1", "hostprobe"
	env.Claim(t, probe)
	dir := "/var/lib/microvms/" + probe
	reset := func() {
		env.HV(t, hv, "systemctl stop microvm@"+probe+"; systemctl reset-failed 'microvm*@"+probe+".service' 2>/dev/null; rm -rf "+dir+"; true")
	}
	t.Cleanup(reset)
	reset()

	autostart := map[string][]string{}
	for name, vm := range env.VMs {
		if vm.HostAutostart {
			autostart[vm.Host] = append(autostart[vm.Host], "microvm@"+name+".service")
		}
	}
	require.NotEmpty(t, autostart[hv], "the lab's VM list marks a VM of %s host_autostart", hv)
	for h := range env.Hypervisors {
		got := strings.Fields(env.HV(t, h, "systemctl show -p Wants --value microvms.target"))
		assert.ElementsMatch(t, autostart[h], got, "%s: microvms.target wants the host-autostart VMs", h)
		host := env.HV(t, h, "cat /srv/site/host.json")
		assert.Regexp(t, `"microvm_shutdown": "(71beea00|pr578)"`, host, h)
		t.Logf("%s: %s", h, strings.TrimSpace(host))
	}

	// The units' environment, as NixOS writes it.
	for _, u := range []string{"microvm@", "microvm-set-booted@", "microvm-tap-interfaces@", "microvm-virtiofsd@"} {
		assert.Equal(t, "Environment=LOCALE_ARCHIVE=/usr/lib/locale/locale-archive PATH=/usr/bin:/usr/sbin TZDIR=/usr/share/zoneinfo\n",
			env.HV(t, hv, "systemctl show -p Environment "+u+probe+".service"), u)
	}

	// microvm-set-booted@ without current: exit 0, nothing runs, booted -> booted.
	out := env.HV(t, hv, "install -d -o microvm -g kvm -m 0775 "+dir+" && systemctl start microvm@"+probe+"; echo rc=$?; "+
		"systemctl is-active microvm@"+probe+" microvm-set-booted@"+probe+"; readlink "+dir+"/booted")
	assert.Equal(t, "rc=0\ninactive\nactive\nbooted\n", out)

	// The autostart that comes from the host configuration: reported as such, and refused
	// to disable (check mode: nothing is locked or changed on the smoke test's VM).
	var declared string
	for name, vm := range env.VMs {
		if vm.HostAutostart && vm.Host == hv {
			declared = name
		}
	}
	for _, ctrl := range env.Controllers() {
		t.Run("controller "+ctrl, func(t *testing.T) {
			res := env.Playbook(t, ctrl, "playbooks/service.yaml", Vars{"service_names": []string{declared}, "service_enabled": true}, "--limit", hv, "--check")
			res.RequireOK(t)
			tr := res.Task(t, serviceTask, hv)
			assert.False(t, tr.Changed)
			e, _ := mustVM(t, tr, declared)["enabled"].(map[string]any)
			assert.Equal(t, "host configuration (microvm.autostart)", e["via"])
			res = env.Playbook(t, ctrl, "playbooks/service.yaml", Vars{"service_names": []string{declared}, "service_enabled": false}, "--limit", hv, "--check")
			tr = res.Task(t, serviceTask, hv)
			assert.Equal(t, "failed", tr.Status)
			assert.Contains(t, tr.Result["msg"], "its autostart comes from the host's NixOS configuration")
		})
	}
}
