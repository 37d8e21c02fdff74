//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/business-operations/bo.microvm/tests/hostnix"
)

// TestBootstrapNixOS runs bootstrap-existing-machines.yaml with the role's defaults
// (k0s_service_mode auto, no k0s_binary) against the lab's two systemd guests made to look
// to the module as the NixOS guests guest.nix configures: /etc/os-release says ID=nixos
// (nixpkgs writes it so on every NixOS system), the `k0s` unit is the one
// nixos/modules/microvm/guest.nix declares for the VM's role (evaluated by
// tests/e2e/nixos/k0s-unit.nix with tests/nix's module-system stand-in, written as NixOS writes a
// unit), and its package's bin/k0s (the k0s contract fake, at the store path the unit
// names) is linked into /run/current-system/sw/bin as environment.systemPackages is. So
// the module has to detect NixOS, drive the unit with systemctl (never `k0s install`), and
// the fake runs as the unit's ExecStart. With each controller: check mode predicts the
// first run, the second run changes nothing, and the join token is in no output, argv or
// task result.
//
// Placed by the test, not baked into the guest root: the unit and the binary depend on the
// VM's role and on this build of the fake, and the root is one cached image shared by every
// systemd VM. /etc is a fresh overlay on every boot, so the test places them after each boot,
// as NixOS's activation does on each boot.
func TestBootstrapNixOS(t *testing.T) {
	lab := Lab(t)
	const cp, w = "sysd", "sysdw" // controller+worker (bootstrap), worker
	roles := map[string]string{cp: "controller+worker", w: "worker"}
	vms := []string{cp, w}
	for _, vm := range vms {
		require.Equal(t, "systemd", lab.VMs[vm].Guest, "the lab's vms.json gives %s the systemd guest", vm)
	}
	lab.Claim(t, vms...)
	fake, kc := k0sFakeAndAPI(t, lab)

	stopVMs := func() {
		for _, vm := range vms {
			lab.HV(t, lab.VMs[vm].Host, "systemctl stop microvm@"+vm+"; systemctl reset-failed 'microvm*@"+vm+".service' 2>/dev/null; rm -rf /var/lib/microvms/"+vm+"; true")
		}
	}
	stopVMs()
	t.Cleanup(stopVMs)
	start := time.Now()
	for _, vm := range vms {
		lab.Runner(t, lab.VMs[vm].Host, vm)
		lab.HV(t, lab.VMs[vm].Host, "systemctl start microvm@"+vm)
	}
	for _, vm := range vms { // both boot at once; wait for one, then the other
		lab.WaitSSH(t, vm, 10*time.Minute)
	}
	t.Logf("two systemd guests: systemctl start -> both answer SSH: %s", time.Since(start).Round(100*time.Millisecond))

	for _, vm := range vms {
		unit, pkgs := nixosK0sUnit(t, lab, vm, roles[vm], vm == cp)
		require.Len(t, pkgs, 1, "guest.nix adds the k0s package to environment.systemPackages")
		push(t, lab, vm, fake, pkgs[0]+"/bin/k0s", "0555")
		push(t, lab, vm, kc.guest, "/etc/k0s-fake/kubeconfig", "0600")
		unitFile := filepath.Join(t.TempDir(), "k0s.service")
		require.NoError(t, os.WriteFile(unitFile, []byte(unit), 0o644))
		push(t, lab, vm, unitFile, "/etc/systemd/system/k0s.service", "0444")
		lab.SSH(t, vm, `set -e
mkdir -p /run/current-system/sw/bin /etc/systemd/system/multi-user.target.wants
ln -sfn `+pkgs[0]+`/bin/k0s /run/current-system/sw/bin/k0s
ln -sfn ../k0s.service /etc/systemd/system/multi-user.target.wants/k0s.service
rm -f /etc/os-release
printf 'NAME=NixOS\nID=nixos\nPRETTY_NAME="NixOS (bo.microvm lab stand-in)"\n' >/etc/os-release
systemctl daemon-reload`)
		t.Logf("%s: the k0s unit guest.nix declares, as NixOS writes it:\n%s", vm, lab.SSH(t, vm, "systemctl cat k0s.service"))
	}

	dir := t.TempDir()
	reset := func() {
		for _, vm := range vms {
			_, _ = lab.Run(vm, "systemctl stop k0s.service; systemctl reset-failed k0s.service; /run/current-system/sw/bin/k0s reset; rm -rf /etc/k0s /var/lib/k0s /var/lib/k0s-fake", 2*time.Minute)
		}
		_ = os.Remove(filepath.Join(dir, "admin.kubeconfig"))
		resetAPI(kc.local)
	}
	t.Cleanup(reset)
	inv := filepath.Join(dir, "inventory.yaml")
	var hosts strings.Builder
	for _, vm := range vms {
		fmt.Fprintf(&hosts, "        %s: {ansible_host: %s, k0s_role: %s, k0s_bootstrap: %t}\n", vm, lab.VMs[vm].IP, roles[vm], vm == cp)
	}
	require.NoError(t, os.WriteFile(inv, []byte(fmt.Sprintf(`all:
  vars:
    ansible_ssh_private_key_file: %s
    ansible_ssh_common_args: -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
  children:
    microvms:
      vars:
        ansible_user: root
        ansible_ssh_transfer_method: piped
        ansible_remote_tmp: /tmp/.ansible
        ansible_ssh_timeout: 60
        k0s_addons_wait_for: [api, charts, nodes]
        k0s_timeout: 300
        k0s_addons_timeout: 300
        k0s_admin_kubeconfig: %s
      hosts:
%s`, lab.Key, filepath.Join(dir, "admin.kubeconfig"), hosts.String())), 0o644))

	own := *lab // the playbooks see only this test's inventory
	own.Inventory = inv
	for _, ctrl := range lab.Controllers() {
		t.Run("controller "+ctrl, func(t *testing.T) {
			reset()
			run := func(args ...string) *Result {
				return own.Playbook(t, ctrl, filepath.Join(lab.Repo, "playbooks", "bootstrap-existing-machines.yaml"), nil,
					append([]string{"-vvv"}, args...)...)
			}
			check := run("--check")
			check.RequireOK(t)
			first := run()
			first.RequireOK(t)
			for _, vm := range vms {
				assert.Equal(t, check.Recap()[vm].Changed, first.Recap()[vm].Changed, "check mode predicts %s's changes", vm)
				assert.Positive(t, first.Recap()[vm].Changed, "%s was bootstrapped or joined", vm)
				assert.Equal(t, "active\n", lab.SSH(t, vm, "systemctl is-active k0s.service; true"), "%s: systemd runs the NixOS k0s unit", vm)
				argv := lab.SSH(t, vm, "cat /var/lib/k0s-fake/argv.log")
				assert.NotContains(t, argv, `"install"`, "%s: NixOS mode never runs k0s install", vm)
				assert.NotContains(t, argv, `"start"]`, "%s: NixOS mode starts the unit, not k0s start", vm)
				assert.Contains(t, argv, `["/nix/store/00000000000000000000000000000000-k0s/bin/k0s","`+strings.SplitN(roles[vm], "+", 2)[0]+`"`,
					"%s: the fake ran as the unit's ExecStart", vm)
				assert.Contains(t, argv, `["/run/current-system/sw/bin/k0s","status"`, "%s: the module ran the k0s on the system PATH", vm)
			}
			results, err := json.Marshal(first.Tasks)
			require.NoError(t, err)
			assert.Contains(t, string(results), `"service_mode":"nixos"`, "auto mode found NixOS")
			again := run()
			again.RequireOK(t)
			assert.Zero(t, again.Recap().Changed(), "a second run changes nothing")

			token := strings.TrimSpace(lab.SSH(t, w, "cat /etc/k0s/k0stoken"))
			require.NotEmpty(t, token)
			for _, r := range []*Result{check, first, again} {
				assert.NotContains(t, r.Output, token, "the join token reached the -vvv output")
				data, err := json.Marshal(r.Tasks)
				require.NoError(t, err)
				assert.NotContains(t, string(data), token, "the join token reached a task result")
			}
			for _, vm := range vms {
				assert.NotContains(t, lab.SSH(t, vm, "cat /var/lib/k0s-fake/argv.log"), token, "the join token reached a command line on %s", vm)
			}
		})
	}
}

// nixosK0sUnit evaluates the k0s unit guest.nix declares for vm (tests/e2e/nixos/k0s-unit.nix) and
// renders it as NixOS writes units (nixpkgs nixos/lib/systemd-lib.nix: one Key=value line
// per value, lists as repeated keys, booleans as true/false; description, wants and after in
// [Unit]; restartIfChanged = false as X-RestartIfChanged=false; the unit's path and the
// default service path as PATH, here Debian's /usr/bin:/usr/sbin for the store paths the
// lab guest does not have; wantedBy as a link in multi-user.target.wants, not [Install]).
// It returns the unit text and environment.systemPackages.
func nixosK0sUnit(t *testing.T, lab *Env, vm, role string, bootstrap bool) (string, []string) {
	t.Helper()
	v := lab.VMs[vm]
	cmd := exec.Command("nix-instantiate", "--eval", "--strict", "--json", filepath.Join(lab.Repo, "tests", "e2e", "nixos", "k0s-unit.nix"),
		"--argstr", "name", vm, "--argstr", "mac", v.MAC, "--argstr", "address", v.IP, "--argstr", "gateway", lab.NetAddr(1),
		"--argstr", "role", role, "--arg", "bootstrap", fmt.Sprint(bootstrap))
	cmd.Env = append(os.Environ(), hostnix.Env())
	out, err := cmd.Output()
	var stderr string
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = string(ee.Stderr)
	}
	require.NoError(t, err, "nix-instantiate tests/e2e/nixos/k0s-unit.nix (Debian: nix-bin): %s", stderr)
	var eval struct {
		Service struct {
			Description      string         `json:"description"`
			Wants            []string       `json:"wants"`
			After            []string       `json:"after"`
			WantedBy         []string       `json:"wantedBy"`
			RestartIfChanged *bool          `json:"restartIfChanged"`
			UnitConfig       map[string]any `json:"unitConfig"`
			ServiceConfig    map[string]any `json:"serviceConfig"`
		} `json:"service"`
		SystemPackages []string `json:"systemPackages"`
	}
	require.NoError(t, json.Unmarshal(out, &eval))
	s := eval.Service
	require.Equal(t, []string{"multi-user.target"}, s.WantedBy, "guest.nix's k0s unit is wanted by multi-user.target")
	var b strings.Builder
	section := func(name string, kv map[string]any) {
		fmt.Fprintf(&b, "[%s]\n", name)
		keys := make([]string, 0, len(kv))
		for k := range kv {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			vals, ok := kv[k].([]any)
			if !ok {
				vals = []any{kv[k]}
			}
			for _, val := range vals {
				fmt.Fprintf(&b, "%s=%v\n", k, val)
			}
		}
	}
	unit := map[string]any{"Description": s.Description}
	if len(s.Wants) > 0 {
		unit["Wants"] = strings.Join(s.Wants, " ")
	}
	if len(s.After) > 0 {
		unit["After"] = strings.Join(s.After, " ")
	}
	if s.RestartIfChanged != nil && !*s.RestartIfChanged {
		unit["X-RestartIfChanged"] = false
	}
	for k, val := range s.UnitConfig {
		unit[k] = val
	}
	section("Unit", unit)
	b.WriteString("\n")
	svc := map[string]any{"Environment": `"PATH=/usr/bin:/usr/sbin"`}
	for k, val := range s.ServiceConfig {
		svc[k] = val
	}
	section("Service", svc)
	return b.String(), eval.SystemPackages
}
