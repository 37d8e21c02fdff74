//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// firstTaskData is a ping argument whose JSON has what a framing by lines or shell words
// would get wrong: backslashes, quotes, $( ), backquotes, an escaped newline, leading and
// trailing blanks, non-ASCII (the same as tests/fastpath's trickyData).
const firstTaskData = `'  lead \ back \\ "dq" $(false) ` + "`false`" + ` nl\n ünï  '`

// TestTheFirstTaskOnAGuestAndAHypervisor runs the first bo.microvm task on a host with an
// empty module cache (the fast path's two-command install: the arguments, then the binary's
// compressed stream, on one stdin) on a lab guest whose shell is busybox's ash (gzip: busybox
// has no zstd), and on a hypervisor, whose tools are GNU's (zstd, a NixOS core package), with
// each controller; then a second task, which is a hit. Busybox's head -c over-reads a pipe: when the install cut the stream with it, the
// module on busybox targets got no arguments ("no module /proc/self/fd/3"). The lab's guests
// are Debian (systemd guest), so the test puts this machine's busybox-static into the guest
// and makes it the task's shell (ansible_shell_executable), as tests/fastpath does locally:
// Debian builds it with FEATURE_SH_STANDALONE, so every tool the install command runs is a
// busybox applet, over the real SSH connection to the guest.
func TestTheFirstTaskOnAGuestAndAHypervisor(t *testing.T) {
	lab := Lab(t)
	const hv, vm = "hv1", "k0s-w1"
	require.Equal(t, hv, lab.VMs[vm].Host, "the lab's vms.json puts %s on %s", vm, hv)
	lab.Claim(t, vm)
	unit := "microvm@" + vm
	// Removing the directory takes the VM's host key off the lab's known_hosts too (lab.HV).
	reset := func() {
		lab.ResetVM(t, hv, vm)
		lab.HV(t, hv, "systemctl stop "+unit+"; rm -rf /var/lib/microvms/"+vm+" /nix/var/nix/gcroots/microvm/*"+vm)
	}
	t.Cleanup(reset)
	reset()
	// The lab inventory checks host keys strictly: the guest is deployed as a user deploys it,
	// which writes its host key to the known_hosts beside the inventory before it starts.
	lab.Playbook(t, lab.Controllers()[0], filepath.Join(lab.Repo, "playbooks", "deploy-microvms.yaml"),
		Vars{"microvm_require_kvm": false}, "--limit", vm).RequireOK(t)
	lab.WaitSSH(t, vm, 3*time.Minute)
	busybox, err := exec.LookPath("busybox")
	require.NoError(t, err, "busybox (busybox-static, a host package of the lab)")
	push(t, lab, vm, busybox, guestBusybox, "0755")
	lab.SSH(t, vm, "ln -sfn busybox "+guestShell)
	assert.Equal(t, "|head|gzip", lab.SSH(t, vm, guestShell+` -c 'printf "|%s|%s" "$(command -v head)" "$(command -v gzip)"'`),
		"head and gzip are the guest shell's own applets")
	assert.Equal(t, "", lab.SSH(t, vm, guestShell+` -c 'printf ABCDEFGH | { head -c 2 >/dev/null; cat; }'`), "the guest shell's head -c over-reads a pipe")
	assert.Contains(t, lab.HV(t, hv, "head --version"), "GNU coreutils", "the hypervisor's head is GNU's")

	dir := t.TempDir()
	pb := filepath.Join(dir, "first-task.yaml")
	require.NoError(t, os.WriteFile(pb, []byte(fmt.Sprintf(`- hosts: %s,%s
  gather_facts: false
  vars:
    ansible_shell_executable: "{{ '%s' if inventory_hostname == '%s' else '/bin/sh' }}"
  tasks:
    - name: first
      bo.microvm.ping:
        data: %s
    - name: again
      bo.microvm.ping:
        data: %s
`, vm, hv, guestShell, vm, firstTaskData, firstTaskData)), 0o644))
	want := strings.Trim(strings.ReplaceAll(firstTaskData, `\n`, "\\n"), "'")

	for _, ctrl := range lab.Controllers() {
		t.Run("controller "+ctrl, func(t *testing.T) {
			for _, h := range []string{vm, hv} {
				lab.SSH(t, h, "rm -rf /root/.cache/bo-microvm")
			}
			r := lab.Playbook(t, ctrl, pb, nil, "-vvv")
			r.RequireOK(t)
			first := section(r.Output, "TASK [first]", "TASK [again]")
			again := section(r.Output, "TASK [again]", "PLAY RECAP")
			for _, h := range []string{vm, hv} {
				assert.Equal(t, want, r.Task(t, "first", h).Result["ping"], "%s: the first task's module got its arguments", h)
				assert.Equal(t, want, r.Task(t, "again", h).Result["ping"], "%s: the second task's too", h)
				exec := regexp.MustCompile(`(?m)^<` + regexp.QuoteMeta(lab.Addr(h)) + `> SSH: EXEC `)
				assert.Len(t, exec.FindAllString(first, -1), 2, "%s: the first task is the try and the install", h)
				unpack := map[string]string{vm: "gzip -dc", hv: "zstd -dcq"}[h]
				assert.Regexp(t, `(?m)^<`+regexp.QuoteMeta(lab.Addr(h))+`> SSH: EXEC .*\{ \{ `+unpack+` \|\| echo U`, first,
					"%s: the stream is unpacked by %s", h, unpack)
				assert.Len(t, exec.FindAllString(again, -1), 1, "%s: the second is a hit", h)
				assert.Regexp(t, `^bo_microvm-[0-9a-f]{64}\n`, lab.SSH(t, h, "cd /root/.cache/bo-microvm && ls bo_microvm-* | grep -v seal"), "%s: one cached copy", h)
			}
		})
	}
}

// guestBusybox and guestShell: where TestTheFirstTaskOnAGuestAndAHypervisor puts busybox in
// the guest, and its ash (busybox runs as the applet its name says).
const (
	guestBusybox = "/opt/bo-busybox/busybox"
	guestShell   = "/opt/bo-busybox/sh"
)

// section returns the text between two markers of the output (to the end without the second).
func section(out, from, to string) string {
	i := strings.Index(out, from)
	if i < 0 {
		return ""
	}
	rest := out[i:]
	if j := strings.Index(rest, to); j >= 0 {
		return rest[:j]
	}
	return rest
}
