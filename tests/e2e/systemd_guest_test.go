//go:build e2e

package e2e

import (
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSystemdGuest boots the lab's VM with the systemd guest (`"guest": "systemd"` in
// vms.json: `sysd` on hv2, outside the inventory; tests/lab/README.md "The systemd guest")
// and checks what a microvm.nix NixOS guest is to its host: PID 1 is systemd and the system
// is running (or degraded, with the failed units named), SSH answers, and the host's
// microvm-virtiofsd@<vm> serves the guest's root while the VM runs and goes with it. The
// start-to-SSH time is logged, with the CPU time qemu used for it (the part that does not
// depend on the machine's load).
//
// Then the clean-stop oracle is the guest itself (its persistent journal on /var and its
// next boot's kernel log): with each controller, the user's restart-microvms.yaml and
// stop-microvms.yaml (then start-microvms.yaml), run as users run them (`--limit <vm>`),
// shut the guest down cleanly (its journal records the shutdown and its files closed; the
// next boot replays no ext4 journal on /var and finds no journal file left open), whatever
// the host's microvm-shutdown; a bare `systemctl stop` on a host with microvm.nix main's
// (71beea00, the lab's default) kills it, which the next boot shows. So the oracle can fail.
func TestSystemdGuest(t *testing.T) {
	lab := Lab(t)
	vm := systemdVM(t, lab)
	hv := lab.VMs[vm].Host
	lab.Claim(t, vm)
	lab.ResetVM(t, hv, vm)
	unit := "microvm@" + vm
	reset := func() {
		lab.HV(t, hv, "systemctl stop "+unit+"; systemctl reset-failed 'microvm*@"+vm+".service' 2>/dev/null; rm -rf /var/lib/microvms/"+vm+"; true")
	}
	reset()
	t.Cleanup(reset)

	runner := lab.Runner(t, hv, vm)
	start := time.Now()
	lab.HV(t, hv, "systemctl start "+unit)
	waitGuest(t, lab, hv, vm)
	logBoot(t, lab, hv, vm, "systemctl start", time.Since(start))

	assert.Equal(t, "systemd\n", lab.SSH(t, vm, "cat /proc/1/comm"), "PID 1 is systemd")
	assert.Equal(t, vm+"\n", lab.SSH(t, vm, "hostname"))
	requireSystemRunning(t, lab, vm)
	// Stage 1 powers the guest off when it cannot mount the share (tag guest-root) on /lower.
	assert.Regexp(t, `(?m)^overlay / overlay .*lowerdir=/lower,`, lab.SSH(t, vm, "cat /proc/mounts"),
		"the guest's root is an overlay on the virtiofs share")
	virtiofsd := "microvm-virtiofsd@" + vm
	assert.Equal(t, "active\n", lab.HV(t, hv, "systemctl is-active "+virtiofsd+"; true"), "%s serves the guest's root", virtiofsd)
	assert.Equal(t, runner+"\n", lab.HV(t, hv, "readlink /var/lib/microvms/"+vm+"/booted"))

	// The host key sshd made at the first boot is in the persistent /etc (the VM directory's
	// etc over a second virtiofs share, persist-etc, with a virtiofsd of its own) and is the
	// one the guest presents after every restart.
	hostKey := strings.TrimSpace(lab.HV(t, hv, "cut -d' ' -f1,2 /var/lib/microvms/"+vm+"/etc/ssh/ssh_host_ed25519_key.pub"))
	require.Equal(t, hostKey, presentedKey(t, lab, vm), "the guest presents the host key of its persistent /etc")

	// The user's playbooks stop and restart it cleanly, with each controller, on the lab's
	// default hypervisor semantics (71beea00: a bare stop kills): restart-microvms.yaml, then
	// stop-microvms.yaml and start-microvms.yaml, each `--limit <vm>` against the lab
	// inventory plus this VM (WithVMs: lab up keeps the systemd guests out of it).
	own := lab.WithVMs(t, vm)
	vars := Vars{"microvm_require_kvm": false, "microvm_wait_timeout": 600, "microvm_job_timeout": 600}
	pb := func(name string) string { return filepath.Join(lab.Repo, "playbooks", name) }
	boot := bootID(t, lab, vm)
	rebooted := func(t *testing.T, how string, start time.Time) {
		t.Helper()
		waitGuest(t, lab, hv, vm)
		logBoot(t, lab, hv, vm, how, time.Since(start))
		prev := boot
		boot = bootID(t, lab, vm)
		require.NotEqual(t, prev, boot, "%s rebooted the guest", how)
		requireCleanBoot(t, lab, vm, prev, true)
		assert.Equal(t, "active\n", lab.HV(t, hv, "systemctl is-active "+virtiofsd+"; true"))
		assert.Equal(t, hostKey, presentedKey(t, lab, vm), "the same host key after %s", how)
	}
	for _, ctrl := range lab.Controllers() {
		t.Run("controller "+ctrl+" restart-microvms.yaml", func(t *testing.T) {
			start := time.Now()
			res := own.Playbook(t, ctrl, pb("restart-microvms.yaml"), vars, "--limit", vm)
			res.RequireOK(t)
			items, _ := res.Task(t, restartTask, vm).Result["results"].([]any)
			require.Len(t, items, 1, "one batch, on %s", hv)
			item, _ := items[0].(map[string]any)
			r := mustVM(t, TaskResult{Result: item}, vm)
			assert.Equal(t, "restarted", r["action"])
			requireCleanShutdown(t, r, vm)
			rebooted(t, "restart-microvms.yaml", start)
		})
		t.Run("controller "+ctrl+" stop-microvms.yaml and start-microvms.yaml", func(t *testing.T) {
			start := time.Now()
			res := own.Playbook(t, ctrl, pb("stop-microvms.yaml"), vars, "--limit", vm)
			res.RequireOK(t)
			r := mustVM(t, res.Task(t, "bo.microvm.microvm_stop : Stop the VMs", vm), vm)
			requireCleanShutdown(t, r, vm)
			assert.Equal(t, "inactive\n", lab.HV(t, hv, "systemctl is-active "+unit+"; true"), "stop-microvms.yaml stopped %s", vm)
			t.Logf("stop-microvms.yaml: %s", time.Since(start).Round(100*time.Millisecond))
			start = time.Now()
			own.Playbook(t, ctrl, pb("start-microvms.yaml"), vars, "--limit", vm).RequireOK(t)
			rebooted(t, "stop-microvms.yaml, start-microvms.yaml", start)
		})
	}

	// A bare systemctl stop: on microvm.nix main's stop semantics a hard kill.
	kills := strings.Contains(lab.HV(t, hv, "cat /srv/site/host.json"), `"71beea00"`)
	lab.HV(t, hv, "systemctl stop "+unit)
	assert.Equal(t, "inactive\n", lab.HV(t, hv, "systemctl is-active "+virtiofsd+"; true"), "%s goes with %s (PartOf)", virtiofsd, unit)
	start = time.Now()
	lab.HV(t, hv, "systemctl start "+unit)
	waitGuest(t, lab, hv, vm)
	logBoot(t, lab, hv, vm, "systemctl start after a bare systemctl stop", time.Since(start))
	prev := boot
	boot = bootID(t, lab, vm)
	require.NotEqual(t, prev, boot)
	requireCleanBoot(t, lab, vm, prev, !kills)
}

// restartTask is the task of roles/microvm_common/tasks/restart_batch.yml that restarts a
// batch (a loop over the batch's hypervisors), as callbacks name a role's task.
const restartTask = "bo.microvm.microvm_common : Restart a batch of VMs and wait until they answer"

// waitGuest waits up to 10 minutes for the systemd guest vm to answer SSH; when it does
// not, the test fails with what the hypervisor's journal says of the VM's units.
func waitGuest(t *testing.T, lab *Env, hv, vm string) {
	t.Helper()
	if _, err := lab.TryWaitSSH(vm, 10*time.Minute); err != nil {
		journal, jerr := lab.Run(hv, "journalctl -u microvm@"+vm+" -u microvm-virtiofsd@"+vm+" --no-pager -n 300", time.Minute)
		t.Fatalf("%v\n%s: journalctl -u microvm@%s -u microvm-virtiofsd@%s (%v):\n%s", err, hv, vm, vm, jerr, journal)
	}
}

// systemdVM is the lab's VM with the systemd guest outside the inventory (the first by name: sysd).
func systemdVM(t *testing.T, lab *Env) string {
	t.Helper()
	var names []string
	for name, v := range lab.VMs {
		// Outside the inventory (sysd): every VM is a systemd guest now, and the inventory's
		// belong to the tests of the cluster VMs (and TestLifecyclePlaybooks' prune).
		if v.Guest == "systemd" && !v.InInventory() && name != "smoke" {
			names = append(names, name)
		}
	}
	require.NotEmpty(t, names, "the lab's VM list (tests/lab/site/vms.json) has a VM with \"guest\": \"systemd\" outside the inventory")
	sort.Strings(names)
	return names[0]
}

// logBoot logs how long a boot took to SSH and the CPU seconds the VM's qemu has used.
func logBoot(t *testing.T, lab *Env, hv, vm, how string, took time.Duration) {
	t.Helper()
	cpu := "?"
	// utime + stime of the hypervisor process (fields 14 and 15 of /proc/PID/stat, in ticks).
	out, err := lab.Run(hv, `pid=$(systemctl show -p MainPID --value microvm@`+vm+`) && awk '{ print $14 + $15 }' /proc/$pid/stat && getconf CLK_TCK`, time.Minute)
	if f := strings.Fields(out); err == nil && len(f) == 2 {
		ticks, _ := strconv.ParseFloat(f[0], 64)
		hz, _ := strconv.ParseFloat(f[1], 64)
		if hz > 0 {
			cpu = strconv.FormatFloat(ticks/hz, 'f', 1, 64) + " s"
		}
	}
	load, _ := lab.Run(hv, "cut -d' ' -f1 /proc/loadavg", time.Minute)
	t.Logf("systemd guest %s: %s -> SSH answers: %s; qemu CPU time %s; load %s", vm, how,
		took.Round(100*time.Millisecond), cpu, strings.TrimSpace(load))
}

// requireSystemRunning waits for the guest's boot to finish: running passes, degraded passes
// and logs the failed units, anything else fails.
func requireSystemRunning(t *testing.T, lab *Env, vm string) {
	t.Helper()
	state := strings.TrimSpace(lab.SSH(t, vm, "systemctl is-system-running --wait; true"))
	if state == "degraded" {
		t.Logf("%s is degraded; failed units:\n%s", vm, lab.SSH(t, vm, "systemctl --failed --no-legend --plain"))
	}
	assert.Contains(t, []string{"running", "degraded"}, state, "systemctl is-system-running on %s:\n%s",
		vm, lab.SSH(t, vm, "systemctl list-jobs --no-legend; systemctl --failed --no-legend --plain"))
}

func bootID(t *testing.T, lab *Env, vm string) string {
	t.Helper()
	return strings.TrimSpace(lab.SSH(t, vm, "cat /proc/sys/kernel/random/boot_id"))
}

// requireCleanBoot reads the guest's account of how its boot prev ended (clean: true for a
// clean shutdown, false for a kill): the persistent journal's entries of that boot, and the
// kernel log and journald messages of the boot running now.
func requireCleanBoot(t *testing.T, lab *Env, vm, prev string, clean bool) {
	t.Helper()
	prevID := strings.ReplaceAll(prev, "-", "")
	last := lab.SSH(t, vm, "journalctl -b "+prevID+" -o short-monotonic --no-pager | tail -n 25")
	dmesg := lab.SSH(t, vm, "dmesg")
	journald := lab.SSH(t, vm, "journalctl -b 0 -u systemd-journald --no-pager; journalctl -b 0 -t systemd-journald --no-pager")
	t.Logf("%s: the end of boot %s's journal:\n%s", vm, prevID, last)
	if clean {
		// Ctrl-Alt-Del (microvm_service, microvm-shutdown) starts reboot.target; with
		// -no-reboot qemu exits when the guest reboots.
		assert.Regexp(t, `Reached target (reboot|poweroff)\.target`, last, "%s: boot %s's journal records its shutdown", vm, prevID)
		assert.Contains(t, last, "Journal stopped", "%s: boot %s's journal was closed by journald at the end", vm, prevID)
		assert.NotContains(t, dmesg, "EXT4-fs (vda): recovery complete", "%s: a clean shutdown leaves /var's ext4 journal empty", vm)
		assert.NotContains(t, journald, "uncleanly shut down", "%s: a clean shutdown closes the journal files", vm)
	} else {
		t.Logf("%s: the kernel log and journald of the boot after the kill:\n%s\n%s", vm, grepLines(dmesg, "EXT4-fs (vda)"), grepLines(journald, "uncleanly"))
		assert.Contains(t, dmesg, "EXT4-fs (vda): recovery complete", "%s: the kill left /var's ext4 journal to replay", vm)
		assert.Contains(t, journald, "uncleanly shut down", "%s: the kill left the journal file open", vm)
	}
}

// grepLines is the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// presentedKey is the "ssh-ed25519 AAAA..." host key vm presents (ssh-keyscan from this
// machine to the lab address).
func presentedKey(t *testing.T, lab *Env, vm string) string {
	t.Helper()
	out, err := exec.Command("ssh-keyscan", "-T", "30", "-t", "ed25519", lab.VMs[vm].IP).Output()
	require.NoError(t, err, "ssh-keyscan %s", vm)
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 3 && !strings.HasPrefix(line, "#") {
			return f[1] + " " + f[2]
		}
	}
	t.Fatalf("ssh-keyscan %s: no key in %q", vm, out)
	return ""
}
