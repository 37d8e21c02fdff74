//go:build playbooks

// Package playbooks tests the lifecycle playbooks through real ansible-playbook where no lab
// is needed: syntax, and preflight refusing a broken inventory before anything changes.
package playbooks

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func repo() string { r, _ := filepath.Abs("../.."); return r }

func ansiblePlaybook(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return ansiblePlaybookEnv(t, nil, args...)
}

// ansiblePlaybookEnv is ansiblePlaybook with more environment variables (KEY=VALUE).
func ansiblePlaybookEnv(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("ansible-playbook", args...)
	cmd.Env = append(append(os.Environ(), "ANSIBLE_COLLECTIONS_PATH="+filepath.Join(repo(), "build/collections"),
		"ANSIBLE_NOCOLOR=1", "ANSIBLE_HOST_KEY_CHECKING=False", "ANSIBLE_TIMEOUT=5"), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func TestEveryPlaybookPassesSyntaxCheck(t *testing.T) {
	playbooks, err := filepath.Glob(filepath.Join(repo(), "playbooks", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, playbooks)
	inv := filepath.Join(repo(), "inventory-examples", "inventory-microvm.yaml")
	for _, p := range playbooks {
		out, err := ansiblePlaybook(t, "-i", inv, "--syntax-check", p)
		assert.NoError(t, err, "%s:\n%s", filepath.Base(p), out)
	}
}

// brokenInventory has a VM without microvm_host, two VMs sharing a MAC and a 16-character VM
// name. Its hypervisor is 127.0.0.1 on port 1, where nothing listens: preflight must report it
// unreachable too, and nothing may be attempted after preflight.
const brokenInventory = `
all:
  children:
    microvm_hypervisors:
      hosts:
        hv1: {ansible_host: 127.0.0.1, ansible_port: 1, ansible_user: root}
    microvms:
      hosts:
        orphan: {ansible_host: 127.0.0.21, microvm_mac: "02:00:00:00:00:21"}
        twin-a: {microvm_host: hv1, ansible_host: 127.0.0.22, microvm_mac: "02:00:00:00:00:22"}
        twin-b: {microvm_host: hv1, ansible_host: 127.0.0.23, microvm_mac: "02:00:00:00:00:22"}
        sixteen-chars-vm: {microvm_host: hv1, ansible_host: 127.0.0.24, microvm_mac: "02:00:00:00:00:24"}
        stray: {microvm_host: hv9, ansible_host: 127.0.0.25, microvm_mac: "02:00:00:00:00:25"}
`

func TestPreflightListsEveryProblemBeforeAnyChange(t *testing.T) {
	inv := filepath.Join(t.TempDir(), "inventory.yaml")
	require.NoError(t, os.WriteFile(inv, []byte(brokenInventory), 0o644))
	for _, pb := range []string{"deploy-microvms.yaml", "start-microvms.yaml", "stop-microvms.yaml", "restart-microvms.yaml", "destroy-microvms.yaml", "rollback-microvms.yaml"} {
		t.Run(pb, func(t *testing.T) {
			out, err := ansiblePlaybook(t, "-i", inv, filepath.Join(repo(), "playbooks", pb), "-e", "microvm_flake=path:/srv/site confirm=yes")
			require.Error(t, err, out)
			for _, want := range []string{
				"orphan: microvm_host is not set",
				"MAC 02:00:00:00:00:22 is used by more than one VM: twin-a, twin-b",
				"sixteen-chars-vm: the VM name has 16 characters; at most 12 fit",
				"stray: microvm_host hv9 is not a host of group microvm_hypervisors",
				"hv1: unreachable",
				"nothing was changed",
			} {
				assert.Contains(t, out, want, pb)
			}
			// One failure lists every problem; no task after preflight ran.
			assert.Regexp(t, regexp.MustCompile(`Preflight found [6-9] problem\(s\)`), out)
			assert.NotRegexp(t, `(?m)^changed: `, out)
			for _, later := range []string{"Install the VMs", "Start the", "Stop the VMs", "Restart VMs in rolling", "Remove the VMs"} {
				assert.NotContains(t, out, "TASK [bo.microvm.microvm_"+later, pb)
				assert.NotRegexp(t, regexp.MustCompile(`TASK \[[^\]]*: `+regexp.QuoteMeta(later)), out, pb)
			}
		})
	}
}

// TestPreflightWithoutALeader limits every two-play playbook to a VM whose microvm_host is no
// hypervisor of the inventory: the plan has no leader for it, and the run must still fail with
// the problems named (not a second play that matches no host and succeeds).
func TestPreflightWithoutALeader(t *testing.T) {
	inv := filepath.Join(t.TempDir(), "inventory.yaml")
	require.NoError(t, os.WriteFile(inv, []byte(brokenInventory), 0o644))
	for _, pb := range []string{"deploy-microvms.yaml", "start-microvms.yaml", "stop-microvms.yaml", "restart-microvms.yaml", "destroy-microvms.yaml", "rollback-microvms.yaml"} {
		t.Run(pb, func(t *testing.T) {
			out, err := ansiblePlaybook(t, "-i", inv, filepath.Join(repo(), "playbooks", pb), "--limit", "stray", "-e", "microvm_flake=path:/srv/site confirm=yes")
			require.Error(t, err, out)
			assert.Contains(t, out, "stray: microvm_host hv9 is not a host of group microvm_hypervisors", pb)
			assert.Contains(t, out, "nothing was changed", pb)
			assert.NotRegexp(t, `(?m)^changed: `, out)
		})
	}
}
