//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLifecyclePlaybooks runs the user's playbooks on the lab with each controller: a fresh
// deploy of three VMs on two hypervisors in one run, an idempotent second run, a config change
// applied by restart and by switch (no reboot), start/stop/restart with --limit, destroy
// with and without confirmation, and with purge, which forgets the VMs' host keys, and a
// deploy after it.
func TestLifecyclePlaybooks(t *testing.T) {
	lab := Lab(t)
	vms := []string{"k0s-cp1", "k0s-cp2", "k0s-w1"}
	lab.Claim(t, vms...)
	pb := func(name string) string { return filepath.Join(lab.Repo, "playbooks", name) }
	vars := Vars{"microvm_require_kvm": false} // the lab has no KVM
	with := func(kv ...any) Vars {
		v := Vars{}
		for k, x := range vars {
			v[k] = x
		}
		for i := 0; i+1 < len(kv); i += 2 {
			v[kv[i].(string)] = kv[i+1]
		}
		return v
	}
	reset := func() {
		for _, vm := range vms {
			lab.ResetVM(t, lab.VMs[vm].Host, vm)
			lab.HV(t, lab.VMs[vm].Host, "systemctl stop microvm@"+vm+"; rm -rf /var/lib/microvms/"+vm+" /nix/var/nix/gcroots/microvm/*"+vm)
		}
	}
	t.Cleanup(reset)
	bootID := func(vm string) string {
		return strings.TrimSpace(lab.SSH(t, vm, "cat /proc/sys/kernel/random/boot_id"))
	}
	generation := func(vm string) string { return strings.TrimSpace(lab.SSH(t, vm, "cat /run/bo-generation")) }
	dirExists := func(vm string) bool {
		return strings.TrimSpace(lab.HV(t, lab.VMs[vm].Host, "test -e /var/lib/microvms/"+vm+" && echo yes || echo no")) == "yes"
	}
	active := func(vm string) string {
		out, _ := lab.Run(lab.VMs[vm].Host, "systemctl is-active microvm@"+vm, 0)
		return strings.TrimSpace(out)
	}

	for _, ctrl := range lab.Controllers() {
		t.Run("controller "+ctrl, func(t *testing.T) {
			reset()

			check := lab.Playbook(t, ctrl, pb("deploy-microvms.yaml"), vars, "--check")
			check.RequireOK(t)
			assert.NotZero(t, check.Recap().Changed(), "check mode predicts the deploy's changes")
			for _, vm := range vms {
				assert.False(t, dirExists(vm), "check mode created nothing for %s", vm)
			}

			first := lab.Playbook(t, ctrl, pb("deploy-microvms.yaml"), vars)
			first.RequireOK(t)
			for _, vm := range vms {
				assert.Equal(t, vm, strings.TrimSpace(lab.SSH(t, vm, "hostname")), "a fresh VM is deployed and answers in one run")
			}
			// A VM directory the inventory does not name (as microvm.nix leaves a removed VM,
			// microvm-nix/microvm.nix#508) is reported by deploy and status, and left alone.
			lab.HV(t, "hv1", "mkdir -p /var/lib/microvms/orph1 && touch /var/lib/microvms/orph1/data.img")
			again := lab.Playbook(t, ctrl, pb("deploy-microvms.yaml"), vars)
			again.RequireOK(t)
			assert.Zero(t, again.Recap().Changed(), "a second deploy changes nothing")
			assert.Contains(t, again.Output, "hv1: orph1", "deploy reports the orphan")
			status := lab.Playbook(t, ctrl, pb("status-microvms.yaml"), vars)
			status.RequireOK(t)
			assert.Contains(t, status.Output, "hv1: orph1", "status reports the orphan")
			orphan := func() string {
				return strings.TrimSpace(lab.HV(t, "hv1", "ls /var/lib/microvms/orph1 2>/dev/null || echo gone"))
			}
			assert.Equal(t, "data.img", orphan(), "an orphan is only reported")
			// microvm_prune_orphans removes it with destroy's safety: confirmation first ...
			refusedPrune := lab.Playbook(t, ctrl, pb("deploy-microvms.yaml"), with("microvm_prune_orphans", true))
			assert.NotZero(t, refusedPrune.Recap().Failed(), "pruning without confirmation stops")
			assert.Contains(t, refusedPrune.Output, "Not confirmed")
			assert.Equal(t, "data.img", orphan())
			// ... volume images kept unless purged.
			pruned := lab.Playbook(t, ctrl, pb("deploy-microvms.yaml"), with("microvm_prune_orphans", true, "confirm", "yes", "microvm_destroy_purge_volumes", true))
			pruned.RequireOK(t)
			assert.Equal(t, "gone", orphan(), "the confirmed, purged orphan is removed")

			// A config change applied by restart (the default strategy).
			lab.SetVM(t, "hv1", "k0s-w1", "generation=2")
			before := bootID("k0s-w1")
			lab.Playbook(t, ctrl, pb("deploy-microvms.yaml"), vars).RequireOK(t)
			assert.Equal(t, "2", generation("k0s-w1"), "the restarted guest runs the new configuration")
			assert.NotEqual(t, before, bootID("k0s-w1"), "restart rebooted the guest")
			unchanged := lab.Playbook(t, ctrl, pb("deploy-microvms.yaml"), vars)
			unchanged.RequireOK(t)
			assert.Zero(t, unchanged.Recap().Changed())

			// A guest-only change applied by switch: no reboot.
			lab.SetVM(t, "hv1", "k0s-cp1", "generation=3")
			before = bootID("k0s-cp1")
			sw := lab.Playbook(t, ctrl, pb("deploy-microvms.yaml"), with("microvm_update_strategy", "switch"))
			sw.RequireOK(t)
			assert.Equal(t, "3", generation("k0s-cp1"), "the guest switched to the new configuration")
			assert.Equal(t, before, bootID("k0s-cp1"), "switch did not reboot the guest")
			unchanged = lab.Playbook(t, ctrl, pb("deploy-microvms.yaml"), with("microvm_update_strategy", "switch"))
			unchanged.RequireOK(t)
			assert.Zero(t, unchanged.Recap().Changed(), "a switched guest is not switched again")

			// stop / start with --limit, each twice.
			for i := 0; i < 2; i++ {
				r := lab.Playbook(t, ctrl, pb("stop-microvms.yaml"), vars, "--limit", "hv2")
				r.RequireOK(t)
				assert.Equal(t, i == 0, r.Recap().Changed() > 0, "stop run %d", i+1)
			}
			assert.Equal(t, "inactive", active("k0s-cp2"))
			assert.Equal(t, "active", active("k0s-cp1"), "--limit hv2 leaves hv1's VMs alone")
			for i := 0; i < 2; i++ {
				r := lab.Playbook(t, ctrl, pb("start-microvms.yaml"), vars, "--limit", "k0s-cp2")
				r.RequireOK(t)
				assert.Equal(t, i == 0, r.Recap().Changed() > 0, "start run %d", i+1)
			}
			assert.Equal(t, "k0s-cp2", strings.TrimSpace(lab.SSH(t, "k0s-cp2", "hostname")))

			// restart, limited to one VM, only-outdated twice (nothing outdated: no change).
			before = bootID("k0s-w1")
			lab.Playbook(t, ctrl, pb("restart-microvms.yaml"), vars, "--limit", "k0s-w1").RequireOK(t)
			assert.NotEqual(t, before, bootID("k0s-w1"), "restart rebooted k0s-w1")
			// A switched VM still boots its old runner (booted != current, as microvm -l shows
			// "stale"): restarting only outdated VMs restarts it once, then nothing.
			for i := 0; i < 2; i++ {
				r := lab.Playbook(t, ctrl, pb("restart-microvms.yaml"), with("microvm_restart_only_outdated", true))
				r.RequireOK(t)
				assert.Equal(t, i == 0, r.Recap().Changed() > 0, "restart only outdated, run %d", i+1)
			}
			assert.Equal(t, "3", strings.TrimSpace(lab.SSH(t, "k0s-cp1", "cat /run/bo-booted-generation")), "the restart booted the switched configuration")

			// destroy: without confirmation nothing changes; with it, twice.
			refused := lab.Playbook(t, ctrl, pb("destroy-microvms.yaml"), vars)
			require.NotZero(t, refused.RC, "destroy without confirmation fails")
			assert.Contains(t, refused.Output, "Not confirmed: nothing was changed")
			for _, vm := range vms {
				assert.Equal(t, "active", active(vm), "an unconfirmed destroy leaves %s running", vm)
			}
			for i := 0; i < 2; i++ {
				r := lab.Playbook(t, ctrl, pb("destroy-microvms.yaml"), with("confirm", "yes"))
				r.RequireOK(t)
				assert.Equal(t, i == 0, r.Recap().Changed() > 0, "destroy run %d", i+1)
			}
			for _, vm := range vms {
				assert.Equal(t, "inactive", active(vm))
				left := strings.Fields(lab.HV(t, lab.VMs[vm].Host, "ls /var/lib/microvms/"+vm+" 2>/dev/null || true"))
				// etc: the persistent /etc with the SSH host key, data as the volumes are (so a
				// redeploy is the same machine to SSH).
				assert.ElementsMatch(t, []string{"ceph.img", "etc", "var.img"}, left, "destroy keeps %s's volumes and persistent /etc and nothing else", vm)
				assert.True(t, knownAs(t, lab.KnownHosts(), lab.VMs[vm].IP), "destroy without purge keeps %s's host key in known_hosts", vm)
			}

			// destroy with purge: the persistent /etc (the SSH host key) goes too, and so do the
			// VMs' names in the known_hosts file the deploy wrote. A VM deployed again under its
			// name then gets its new key written, where the deploy would otherwise stop on a
			// changed key; its start waits for SSH with StrictHostKeyChecking=yes against it.
			purged := lab.Playbook(t, ctrl, pb("destroy-microvms.yaml"), with("confirm", "yes", "microvm_destroy_purge_volumes", true))
			purged.RequireOK(t)
			for _, vm := range vms {
				assert.False(t, dirExists(vm), "purge removed %s's directory", vm)
				for _, name := range []string{vm, lab.VMs[vm].IP} {
					assert.False(t, knownAs(t, lab.KnownHosts(), name), "purge took %s off known_hosts", name)
				}
			}
			redeploy := lab.Playbook(t, ctrl, pb("deploy-microvms.yaml"), vars, "--limit", "k0s-w1")
			redeploy.RequireOK(t)
			assert.True(t, knownAs(t, lab.KnownHosts(), lab.VMs["k0s-w1"].IP), "the new key of k0s-w1 is written")
		})
	}
}

// knownAs reports whether a line of the known_hosts file at path names host (plain, not hashed:
// the deploy writes plain names).
func knownAs(t *testing.T, path, host string) bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return false
	}
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 3 && slices.Contains(strings.Split(f[0], ","), host) {
			return true
		}
	}
	return false
}
