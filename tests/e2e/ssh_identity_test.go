//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSSHIdentity checks a VM's stable SSH identity (issue 18), with each controller, on a
// guest of the lab inventory (the systemd guest: OpenSSH's HostKey in the persistent /etc),
// whose host key checking is strict
// (StrictHostKeyChecking=yes, UserKnownHostsFile=<the known_hosts beside it>):
//   - a deploy from a known_hosts without the VM makes its host key on the hypervisor
//     (microvm_install ssh_host_key), writes it to known_hosts before the VM starts, keeps the
//     file's other lines byte for byte, and a playbook against the guest then connects;
//   - the guest presents that key (its persistent /etc over virtiofs), and the same key after a
//     restart and after a redeploy that restarts it for a new configuration;
//   - a changed (forged) key on the hypervisor stops the deploy, which names both fingerprints,
//     leaves known_hosts as it was and starts nothing; the guest started by hand with the forged
//     key is refused by the strict inventory; microvm_known_hosts_replace=true accepts it.
func TestSSHIdentity(t *testing.T) {
	lab := Lab(t)
	vm := "k0s-w1"
	hv := lab.VMs[vm].Host
	ip := lab.VMs[vm].IP
	lab.Claim(t, vm)
	pb := func(name string) string { return filepath.Join(lab.Repo, "playbooks", name) }
	vars := func(kv ...any) Vars {
		v := Vars{"microvm_require_kvm": false}
		for i := 0; i+1 < len(kv); i += 2 {
			v[kv[i].(string)] = kv[i+1]
		}
		return v
	}
	keyFile := "/var/lib/microvms/" + vm + "/etc/ssh/ssh_host_ed25519_key"
	reset := func() {
		lab.ResetVM(t, hv, vm)
		// Removing the directory takes the VM's lines off known_hosts too (lab.HV).
		lab.HV(t, hv, "systemctl stop microvm@"+vm+"; rm -rf /var/lib/microvms/"+vm+" /nix/var/nix/gcroots/microvm/*"+vm)
	}
	t.Cleanup(reset)
	known := func() string {
		data, err := os.ReadFile(lab.KnownHosts())
		require.NoError(t, err)
		return string(data)
	}
	// The fingerprint known_hosts has for the VM's address ("" when none).
	knownFP := func() string {
		out, _ := exec.Command("ssh-keygen", "-l", "-F", ip, "-f", lab.KnownHosts()).Output()
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) == 3 && !strings.HasPrefix(line, "#") {
				return f[2]
			}
		}
		return ""
	}
	hvFP := func() string {
		f := strings.Fields(lab.HV(t, hv, "ssh-keygen -lf "+keyFile+".pub"))
		require.GreaterOrEqual(t, len(f), 2)
		return f[1]
	}
	// The fingerprint of the host key the guest presents (ssh-keyscan, this machine to the lab).
	presentedFP := func() string {
		lab.WaitSSH(t, vm, 3*time.Minute)
		scan, err := exec.Command("ssh-keyscan", "-T", "30", "-t", "ed25519", ip).Output() // a systemd guest's sshd may be slow (presentedKey)
		require.NoError(t, err, "ssh-keyscan %s", ip)
		c := exec.Command("ssh-keygen", "-lf", "-")
		c.Stdin = strings.NewReader(string(scan))
		out, err := c.Output()
		require.NoError(t, err, "ssh-keygen -lf - of %q", scan)
		f := strings.Fields(string(out))
		require.GreaterOrEqual(t, len(f), 2, "%s", out)
		return f[1]
	}
	guestPlaybook := func(ctrl string) *Result {
		return lab.Playbook(t, ctrl, filepath.Join(lab.Repo, "tests", "e2e", "playbooks", "guest-hostname.yaml"), nil, "--limit", vm)
	}

	for _, ctrl := range lab.Controllers() {
		t.Run("controller "+ctrl, func(t *testing.T) {
			reset()
			require.Empty(t, knownFP(), "known_hosts starts without %s", vm)
			// Another line of the user's, which must stay byte for byte.
			f, err := os.OpenFile(lab.KnownHosts(), os.O_APPEND|os.O_WRONLY, 0)
			require.NoError(t, err)
			_, err = f.WriteString("# kept as it is\r\nexample.invalid ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDM5mvkBW0x8w9Plnl0k9p4avEIF1+EjA41YcB0mXNbT  two spaces")
			require.NoError(t, err)
			require.NoError(t, f.Close())
			before := known()

			start := time.Now()
			lab.Playbook(t, ctrl, pb("deploy-microvms.yaml"), vars(), "--limit", vm).RequireOK(t)
			t.Logf("fresh deploy with a new host key: %s", time.Since(start).Round(time.Second))
			fp := hvFP()
			assert.True(t, strings.HasPrefix(known(), before), "known_hosts keeps its other lines byte for byte:\n%s", known())
			assert.Equal(t, fp, knownFP(), "the deploy wrote the key made on the hypervisor")
			assert.Equal(t, fp, presentedFP(), "the guest presents the key made on the hypervisor")
			g := guestPlaybook(ctrl)
			g.RequireOK(t)
			assert.Equal(t, vm, strings.TrimSpace(g.Task(t, "Read the hostname", vm).Result["stdout"].(string)),
				"a playbook against the guest runs with StrictHostKeyChecking=yes from a known_hosts that did not know it")

			lab.Playbook(t, ctrl, pb("restart-microvms.yaml"), vars(), "--limit", vm).RequireOK(t)
			assert.Equal(t, fp, presentedFP(), "the same host key after a restart")

			lab.SetVM(t, hv, vm, "generation=5")
			boot := strings.TrimSpace(lab.SSH(t, vm, "cat /proc/sys/kernel/random/boot_id"))
			re := lab.Playbook(t, ctrl, pb("deploy-microvms.yaml"), vars(), "--limit", vm)
			re.RequireOK(t)
			assert.NotEqual(t, boot, strings.TrimSpace(lab.SSH(t, vm, "cat /proc/sys/kernel/random/boot_id")), "the redeploy restarted the guest")
			assert.Equal(t, fp, presentedFP(), "the same host key after a redeploy")
			assert.Equal(t, fp, knownFP())
			guestPlaybook(ctrl).RequireOK(t)

			// A forged key: another key where the VM's was, on the hypervisor.
			lab.HV(t, hv, "systemctl stop microvm@"+vm+" && rm -f "+keyFile+" "+keyFile+".pub && ssh-keygen -q -t ed25519 -N '' -C forged -f "+keyFile)
			forged := hvFP()
			require.NotEqual(t, fp, forged)
			kept := known()
			refused := lab.Playbook(t, ctrl, pb("deploy-microvms.yaml"), vars(), "--limit", vm)
			assert.NotZero(t, refused.RC, "a changed host key stops the deploy")
			assert.Contains(t, refused.Output, fp, "the message names the known fingerprint")
			assert.Contains(t, refused.Output, forged, "the message names the new fingerprint")
			assert.Equal(t, kept, known(), "known_hosts is left as it was")
			out, _ := lab.Run(hv, "systemctl is-active microvm@"+vm, 0)
			assert.Equal(t, "inactive", strings.TrimSpace(out), "the deploy stopped before starting the VM")

			// The guest with the forged key, started by hand: the strict inventory refuses it.
			lab.HV(t, hv, "systemctl start microvm@"+vm)
			assert.Equal(t, forged, presentedFP())
			spoofed := guestPlaybook(ctrl)
			assert.NotZero(t, spoofed.RC, "a playbook against a guest with a changed key does not run")
			assert.Regexp(t, `Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED`, spoofed.Output)

			lab.Playbook(t, ctrl, pb("deploy-microvms.yaml"), vars("microvm_known_hosts_replace", true), "--limit", vm).RequireOK(t)
			assert.Equal(t, forged, knownFP(), "microvm_known_hosts_replace accepts the new key")
			assert.True(t, strings.HasPrefix(known(), before), "and keeps the other lines")
			guestPlaybook(ctrl).RequireOK(t)
		})
	}
}
