//go:build e2e

package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRollbackPlaybook deploys three generations of one VM (each deploy restarts it), checks
// that only the current and the previous runner stay GC roots and that nix's garbage collector
// keeps both and reclaims the first, then rolls back: current is the previous runner again and
// the restarted guest boots it; a second rollback changes nothing. A VM installed once has
// nothing to roll back to and the playbook says so, naming it.
func TestRollbackPlaybook(t *testing.T) {
	lab := Lab(t)
	const vm, hv = "k0s-w1", "hv1"
	lab.Claim(t, vm)
	require.Equal(t, hv, lab.VMs[vm].Host)
	pb := func(name string) string { return filepath.Join(lab.Repo, "playbooks", name) }
	vars := Vars{"microvm_require_kvm": false} // the lab has no KVM
	reset := func() {
		lab.ResetVM(t, hv, vm)
		lab.HV(t, hv, "systemctl stop microvm@"+vm+"; rm -rf /var/lib/microvms/"+vm+" /nix/var/nix/gcroots/microvm/*"+vm)
	}
	t.Cleanup(reset)
	link := func(name string) string {
		return strings.TrimSpace(lab.HV(t, hv, "readlink /var/lib/microvms/"+vm+"/"+name+" || true"))
	}
	generation := func() string { return strings.TrimSpace(lab.SSH(t, vm, "cat /run/bo-generation")) }
	bootedGeneration := func() string { return strings.TrimSpace(lab.SSH(t, vm, "cat /run/bo-booted-generation")) }
	exists := func(p string) bool {
		return strings.TrimSpace(lab.HV(t, hv, "test -e "+p+" && echo yes || echo no")) == "yes"
	}

	for _, ctrl := range lab.Controllers() {
		t.Run("controller "+ctrl, func(t *testing.T) {
			reset()
			deploy := func(gen string) string {
				t.Helper()
				lab.SetVM(t, hv, vm, "generation="+gen)
				lab.Playbook(t, ctrl, pb("deploy-microvms.yaml"), vars, "--limit", vm).RequireOK(t)
				require.Equal(t, gen, generation(), "the deployed guest runs generation %s", gen)
				return link("current")
			}
			a := deploy("1")
			none := lab.Playbook(t, ctrl, pb("rollback-microvms.yaml"), vars, "--limit", vm)
			assert.NotZero(t, none.Recap().Failed(), "a VM installed once has nothing to roll back to")
			assert.Contains(t, none.Output, "VM "+vm+" has no previous runner to roll back to")
			assert.Equal(t, a, link("current"), "the refused rollback changed nothing")

			b := deploy("2")
			c := deploy("3")
			require.NotEqual(t, a, b)
			require.NotEqual(t, b, c)
			assert.Equal(t, b, link("old"), "the previous runner is kept as old")

			// GC roots: of the three runners only the current and the previous one are rooted
			// (booted is current after the deploy's restart).
			roots := lab.HV(t, hv, "nix-store --gc --print-roots")
			assert.Contains(t, roots, c)
			assert.Contains(t, roots, b)
			assert.NotContains(t, roots, a, "the runner before the previous one is no GC root any more")
			lab.HV(t, hv, "nix-store --gc >/dev/null 2>&1")
			assert.True(t, exists(c), "nix-store --gc keeps the current runner")
			assert.True(t, exists(b), "nix-store --gc keeps the previous runner")
			assert.False(t, exists(a), "nix-store --gc reclaims the runner before it")

			check := lab.Playbook(t, ctrl, pb("rollback-microvms.yaml"), vars, "--limit", vm, "--check", "--diff")
			check.RequireOK(t)
			assert.NotZero(t, check.Recap().Changed(), "check mode predicts the rollback")
			assert.Equal(t, c, link("current"), "check mode changed nothing")

			bootID := strings.TrimSpace(lab.SSH(t, vm, "cat /proc/sys/kernel/random/boot_id"))
			rb := lab.Playbook(t, ctrl, pb("rollback-microvms.yaml"), vars, "--limit", vm)
			rb.RequireOK(t)
			assert.Equal(t, b, link("current"), "current is the previous runner again")
			assert.Equal(t, b, link("booted"), "the VM was restarted on it")
			assert.NotEqual(t, bootID, strings.TrimSpace(lab.SSH(t, vm, "cat /proc/sys/kernel/random/boot_id")), "the rollback restarted the guest")
			assert.Equal(t, "2", bootedGeneration(), "the guest booted the previous generation")
			assert.Equal(t, "2", generation())

			again := lab.Playbook(t, ctrl, pb("rollback-microvms.yaml"), vars, "--limit", vm)
			again.RequireOK(t)
			assert.Zero(t, again.Recap().Changed(), "a second rollback changes nothing")
			assert.Equal(t, b, link("current"))
		})
	}
}
