//go:build e2e

package e2e

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestInfoNamesMissingUnits: microvm_info finds microvm.nix's unit files where the
// hypervisor's systemd loads units from (its UnitPath), and names the ones a host lacks.
// TestSmoke has the prepared host (nothing missing); here two units are taken away on hv2
// and put back, and microvm_info reports exactly those two, the template among them.
func TestInfoNamesMissingUnits(t *testing.T) {
	lab := Lab(t)
	const hv, dir = "hv2", "/etc/systemd/system/"
	missing := []string{"microvm@.service", "microvm-set-booted@.service"}
	restore := func() {
		for _, u := range missing {
			lab.HV(t, hv, "if [ -e /root/"+u+".away ]; then mv /root/"+u+".away "+dir+u+"; fi")
		}
	}
	t.Cleanup(restore)
	for _, u := range missing {
		lab.HV(t, hv, "mv "+dir+u+" /root/"+u+".away")
	}
	for _, ctrl := range lab.Controllers() {
		t.Run("controller "+ctrl, func(t *testing.T) {
			res := lab.Playbook(t, ctrl, "playbooks/info.yaml", nil, "--limit", hv)
			res.RequireOK(t)
			host := infoHost(t, res, hv)
			assert.Equal(t, false, host["unit_template"], "%s has no microvm@.service", hv)
			assert.ElementsMatch(t, []any{"microvm@.service", "microvm-set-booted@.service"}, host["units_missing"])
		})
	}
	restore()
	res := lab.Playbook(t, lab.Controllers()[0], "playbooks/info.yaml", nil, "--limit", hv)
	res.RequireOK(t)
	assert.Empty(t, infoHost(t, res, hv)["units_missing"], "the units are back")
}
