//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Env is the running lab as `tests/lab/lab up` described it in lab.json.
// Get it with Lab; its methods take the calling test so failures land there.
type Env struct {
	// Dir is the lab's runtime directory (BO_LAB_RUN, default /run/bo-lab).
	Dir string
	// Repo is the repository root (the collection root).
	Repo string
	// Inventory is the lab inventory in the shape of inventory-examples/.
	Inventory string
	// Key is the private SSH key that opens hypervisors and guests as root.
	Key string
	// Flake is the site flakeref as the hypervisors see it ("path:/srv/site").
	Flake string
	// Hypervisors maps hypervisor inventory names to their addresses.
	Hypervisors map[string]string
	// Net is the lab's /24 without its last part ("198.18.0"; BO_LAB_NET for a private lab):
	// the bridge is Net.1 on this machine. NetAddr builds addresses in it.
	Net string
	// VMs maps VM names to the data the site flake was built from (vms.json as
	// of `lab up`; `lab set-vm` changes a hypervisor's copy, not this one).
	// It includes VMs outside the inventory (VM.InInventory).
	VMs map[string]VM
}

// VM is one entry of the lab's vms.json.
type VM struct {
	Host    string   `json:"host"`
	IP      string   `json:"ip"`
	MAC     string   `json:"mac"`
	VCPU    int      `json:"vcpu"`
	Mem     int      `json:"mem"`
	Volumes []Volume `json:"volumes"`
	// Inventory is false for a VM the lab keeps out of the inventory (the
	// smoke test's own VM); see InInventory.
	Inventory *bool `json:"inventory"`
	// HostAutostart: the hypervisor's microvms.target wants this VM, as microvm.autostart
	// does (the lab writes the Wants= line).
	HostAutostart bool `json:"host_autostart"`
	// Guest is "systemd" for a VM with the systemd guest (tests/lab/README.md), else the
	// busybox guest.
	Guest string `json:"guest"`
}

// InInventory says whether the VM is in the lab inventory's microvms group.
func (v VM) InInventory() bool { return v.Inventory == nil || *v.Inventory }

// Volume is one volume of a VM in vms.json; FSType "none" is a raw disk the
// runner does not create (microvm_volume does).
type Volume struct {
	Path   string `json:"path"`
	Size   int    `json:"size"`
	FSType string `json:"fs_type"`
	Label  string `json:"label"`
}

const defaultControllers = "2.14 2.19"

// sshOptions are the options the lab inventory gives Ansible, plus a short
// connect timeout and no prompts.
var sshOptions = []string{
	"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
	"-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
}

// sshArgs are ssh's options for host: sshOptions, but for a systemd guest a connect timeout
// of 30 s. ConnectTimeout also bounds the banner exchange, and each login starts a new
// OpenSSH sshd in the guest, which under TCG on a busy machine took over 5 s (dropbear in
// the busybox guest answers at once).
func (l *Env) sshArgs(host string) []string {
	args := append([]string{"-i", l.Key}, sshOptions...)
	if vm, ok := l.VMs[host]; ok && vm.Guest == "systemd" {
		args[len(args)-1] = "ConnectTimeout=30"
	}
	return args
}

// Lab returns the running lab, or fails the test when the lab is not up (the
// suite is compiled only with -tags e2e: asked for, a missing lab is an error).
func Lab(t testing.TB) *Env {
	t.Helper()
	dir := os.Getenv("BO_LAB_RUN")
	if dir == "" {
		dir = "/run/bo-lab"
	}
	data, err := os.ReadFile(filepath.Join(dir, "lab.json"))
	if err != nil {
		t.Fatalf("the lab is not up (%v): run `sudo tests/lab/lab up` first", err)
	}
	var raw struct {
		Key         string            `json:"key"`
		Inventory   string            `json:"inventory"`
		Flake       string            `json:"flake"`
		Hypervisors map[string]string `json:"hypervisors"`
		Net         string            `json:"net"`
		VMs         map[string]VM     `json:"vms"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatalf("read %s/lab.json: %v", dir, err)
	}
	for hv := range raw.Hypervisors {
		if err := running(filepath.Join(dir, hv+".pid")); err != nil {
			t.Fatalf("the lab in %s is not fully up: %s: %v (run `sudo tests/lab/lab up`)", dir, hv, err)
		}
	}
	if raw.Net == "" { // a lab.json of before "net": the hypervisors are Net.11, Net.12
		if hv1 := raw.Hypervisors["hv1"]; strings.Count(hv1, ".") == 3 {
			raw.Net = hv1[:strings.LastIndex(hv1, ".")]
		} else {
			t.Fatalf("%s/lab.json names no net and no hv1 address", dir)
		}
	}
	return &Env{
		Dir: dir, Repo: repoRoot(), Inventory: raw.Inventory, Key: raw.Key, Flake: raw.Flake,
		Hypervisors: raw.Hypervisors, Net: raw.Net, VMs: raw.VMs,
	}
}

// NetAddr is the address Net.host in the lab's network, e.g. NetAddr(1) the bridge.
func (l *Env) NetAddr(host int) string { return fmt.Sprintf("%s.%d", l.Net, host) }

// running says whether the process in pidFile lives.
func running(pidFile string) error {
	data, err := os.ReadFile(pidFile)
	if err != nil {
		return err
	}
	pid := strings.TrimSpace(string(data))
	if _, err := os.Stat("/proc/" + pid); err != nil {
		return fmt.Errorf("process %s is gone", pid)
	}
	return nil
}

// repoRoot is two directories above this file.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Controllers lists the Ansible controllers to run playbooks with, from
// BO_CONTROLLERS (space separated; default "2.14 2.19").
func (l *Env) Controllers() []string {
	v := os.Getenv("BO_CONTROLLERS")
	if strings.TrimSpace(v) == "" {
		v = defaultControllers
	}
	return strings.Fields(v)
}

// Addr is the address of a hypervisor or VM by inventory name; a name that is
// neither is returned as it is (an address).
func (l *Env) Addr(host string) string {
	if a, ok := l.Hypervisors[host]; ok {
		return a
	}
	if vm, ok := l.VMs[host]; ok {
		return vm.IP
	}
	return host
}

// Run runs a command on a lab host (hypervisor or VM, by inventory name)
// over SSH as root and returns its stdout. The error carries the exit code
// and stderr. It gives up after timeout (0: 5 minutes).
func (l *Env) Run(host, cmd string, timeout time.Duration) (string, error) {
	if timeout == 0 {
		timeout = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args := append(l.sshArgs(host), "root@"+l.Addr(host), cmd)
	c := exec.CommandContext(ctx, "ssh", args...)
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	err := c.Run()
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("timed out after %s", timeout)
		}
		return stdout.String(), fmt.Errorf("ssh %s %q: %w: %s", host, cmd, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// RunShared is Run over one SSH connection kept open per host (ControlMaster, closed 60 s
// after its last use), for a caller that polls a guest several times a second: a systemd
// guest's OpenSSH forks and authenticates a new sshd per connection, which under TCG costs
// the guest's one CPU a second or more each, so polling with Run kept the guest busy. A
// connection to a guest that went down fails (ServerAlive, or the rebooted guest's reset),
// and the next call opens a new one.
func (l *Env) RunShared(host, cmd string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args := append(l.sshArgs(host), "-o", "ControlMaster=auto", "-o", "ControlPersist=60",
		"-o", "ControlPath="+filepath.Join(os.TempDir(), "bo-e2e-%C"), "-o", "ServerAliveInterval=2", "-o", "ServerAliveCountMax=2",
		"root@"+l.Addr(host), cmd)
	c := exec.CommandContext(ctx, "ssh", args...)
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	// The master ssh forks into the background holding stdout/stderr: without WaitDelay,
	// Wait would wait for it.
	c.WaitDelay = time.Second
	if err := c.Run(); err != nil && !errors.Is(err, exec.ErrWaitDelay) {
		if ctx.Err() != nil {
			err = fmt.Errorf("timed out after %s", timeout)
		}
		return stdout.String(), fmt.Errorf("ssh %s %q: %w: %s", host, cmd, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// HV runs cmd on hypervisor hv as root and returns its stdout; the test fails
// when the command does.
func (l *Env) HV(t testing.TB, hv, cmd string) string {
	t.Helper()
	if _, ok := l.Hypervisors[hv]; !ok {
		t.Fatalf("no hypervisor %q in the lab (have %v)", hv, keys(l.Hypervisors))
	}
	out, err := l.Run(hv, cmd, 0)
	if err != nil {
		t.Fatalf("on %s: %v", hv, err)
	}
	l.forgetRemovedVMs(t, cmd)
	return out
}

// KnownHosts is the known_hosts file beside the lab inventory: the deploy writes the VMs'
// host keys there (microvm_known_hosts' default) and the inventory checks them strictly.
func (l *Env) KnownHosts() string { return filepath.Join(filepath.Dir(l.Inventory), "known_hosts") }

// forgetRemovedVMs takes the known_hosts lines of the VMs whose directory cmd removed
// (`rm -rf /var/lib/microvms/<vm>`, how tests reset a VM) off the lab's known_hosts, as
// `ssh-keygen -R` would: the VM's host key went with its directory, so its next deploy
// makes a new identity, which the deploy would rightly refuse as a changed key.
func (l *Env) forgetRemovedVMs(t testing.TB, cmd string) {
	t.Helper()
	if !strings.Contains(cmd, "rm -rf") {
		return
	}
	for name, vm := range l.VMs {
		dir := "/var/lib/microvms/" + name
		i := strings.Index(cmd, dir)
		if i < 0 || (i+len(dir) < len(cmd) && !strings.ContainsRune(" ;'\"/", rune(cmd[i+len(dir)]))) {
			continue
		}
		l.ForgetHostKey(t, name, vm.IP)
	}
}

// ForgetHostKey removes the lines of names from the lab's known_hosts (ssh-keygen -R).
func (l *Env) ForgetHostKey(t testing.TB, names ...string) {
	t.Helper()
	if _, err := os.Stat(l.KnownHosts()); err != nil {
		return
	}
	for _, n := range names {
		if out, err := exec.Command("ssh-keygen", "-R", n, "-f", l.KnownHosts()).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen -R %s -f %s: %v: %s", n, l.KnownHosts(), err, out)
		}
	}
	_ = os.Remove(l.KnownHosts() + ".old")
}

// SSH runs cmd on a VM (or any host by inventory name) as root and returns its
// stdout; the test fails when the command does or the host does not answer.
func (l *Env) SSH(t testing.TB, host, cmd string) string {
	t.Helper()
	out, err := l.Run(host, cmd, 0)
	if err != nil {
		t.Fatalf("on %s: %v", host, err)
	}
	return out
}

// WaitSSH waits until host answers SSH (runs `true`), polling every second,
// and returns how long that took. The test fails after timeout.
func (l *Env) WaitSSH(t testing.TB, host string, timeout time.Duration) time.Duration {
	t.Helper()
	took, err := l.TryWaitSSH(host, timeout)
	if err != nil {
		t.Fatal(err)
	}
	return took
}

// TryWaitSSH is WaitSSH that returns its failure (the host did not answer within timeout,
// with the last SSH error) instead of failing the test, for callers that add what the
// hypervisor knows to the message.
func (l *Env) TryWaitSSH(host string, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	var err error
	try := 10 * time.Second
	if vm, ok := l.VMs[host]; ok && vm.Guest == "systemd" {
		try = 45 * time.Second // sshArgs: a systemd guest's sshd may take over 5 s to answer
	}
	for time.Since(start) < timeout {
		if _, err = l.Run(host, "true", try); err == nil {
			return time.Since(start), nil
		}
		time.Sleep(time.Second)
	}
	return 0, fmt.Errorf("%s (%s) did not answer SSH within %s: %v", host, l.Addr(host), timeout, err)
}

// WithVMs is a copy of the lab whose Inventory is the lab inventory plus the named VMs of
// the lab's VM list that `lab up` keeps out of it (`"inventory": false`, e.g. the systemd
// guests), in group microvms with the variables `lab up` writes for the others. It is an
// inventory directory, as a site keeps one: a link to the lab's inventory.yaml and a file
// that adds the VMs, which Ansible merges into the same groups. So a playbook reaches such
// a VM as a user's does, `-i <inventory> --limit <vm>`.
func (l *Env) WithVMs(t testing.TB, vms ...string) *Env {
	t.Helper()
	dir := t.TempDir()
	if err := os.Symlink(l.Inventory, filepath.Join(dir, "00-lab.yaml")); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("# Written by the e2e test: lab VMs outside the lab inventory.\nmicrovms:\n  hosts:\n")
	for _, vm := range vms {
		v, ok := l.VMs[vm]
		if !ok {
			t.Fatalf("no VM %q in the lab's VM list (have %v)", vm, keys(l.VMs))
		}
		fmt.Fprintf(&b, "    %s:\n      microvm_host: %s\n      ansible_host: %s\n      microvm_mac: %q\n      microvm_vcpu: %d\n      microvm_mem: %d\n",
			vm, v.Host, v.IP, v.MAC, max(v.VCPU, 1), max(v.Mem, 256))
		if v.Guest == "systemd" {
			b.WriteString("      ansible_ssh_timeout: 60\n") // sshArgs: OpenSSH in the guest may take seconds to answer
		}
		if len(v.Volumes) > 0 {
			b.WriteString("      microvm_volumes:\n")
		}
		for _, vol := range v.Volumes {
			fs := vol.FSType
			if fs == "" {
				fs = "ext4"
			}
			fmt.Fprintf(&b, "        - {path: %s, size: %d, fs_type: %s", vol.Path, vol.Size, fs)
			if vol.Label != "" {
				fmt.Fprintf(&b, ", label: %s", vol.Label)
			}
			b.WriteString("}\n")
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "10-outside.yaml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	own := *l
	own.Inventory = dir
	return &own
}

// WaitNoSSH waits until host stops answering SSH and returns how long that
// took. The test fails if it still answers after timeout.
func (l *Env) WaitNoSSH(t testing.TB, host string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < timeout {
		if _, err := l.Run(host, "true", 3*time.Second); err != nil {
			return time.Since(start)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("%s (%s) still answers SSH after %s", host, l.Addr(host), timeout)
	return 0
}

// SetVM changes VM vm in hypervisor hv's site flake (/srv/site/vms.json) with
// `tests/lab/lab set-vm`: each kv is KEY=VALUE, VALUE JSON if it parses, else
// a string. "generation=2" makes a new runner; "broken=true" makes its build
// fail. When the test ends the entry is put back as `lab up` wrote it
// (ResetVM), so later tests find the lab's configuration.
func (l *Env) SetVM(t testing.TB, hv, vm string, kv ...string) {
	t.Helper()
	t.Cleanup(func() { l.ResetVM(t, hv, vm) })
	l.lab(t, append([]string{"set-vm", hv, vm}, kv...)...)
}

// ResetVM puts VM vm's entry in hypervisor hv's site flake back as `lab up`
// wrote it (`tests/lab/lab reset-vm`). Tests that need the lab's
// configuration of a VM call it first: another test may have changed it.
func (l *Env) ResetVM(t testing.TB, hv, vm string) {
	t.Helper()
	l.lab(t, "reset-vm", hv, vm)
}

func (l *Env) lab(t testing.TB, args ...string) {
	t.Helper()
	out, err := exec.Command(filepath.Join(l.Repo, "tests", "lab", "lab"), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("tests/lab/lab %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// Runner builds VM vm's runner on hypervisor hv with nix, as `microvm -c`
// does but without starting anything: the VM directory (root:kvm 0775), the
// `current` link, the `flake` file, and each raw ("none") volume image that
// microvm_volume would make. It returns the runner's store path.
func (l *Env) Runner(t testing.TB, hv, vm string) string {
	t.Helper()
	dir := "/var/lib/microvms/" + vm
	var raw strings.Builder
	for _, v := range l.VMs[vm].Volumes {
		if v.FSType == "none" {
			fmt.Fprintf(&raw, "[ -e %[1]s ] || { truncate -s %[2]dM %[1]s && chown microvm:kvm %[1]s; }\n", v.Path, v.Size)
		}
	}
	script := fmt.Sprintf(`set -e
mkdir -p %[1]s && cd %[1]s
nix build -L '%[2]s#nixosConfigurations.%[3]s.config.microvm.declaredRunner' -o current
printf '%%s' '%[2]s' > flake
chown -h root:kvm . current flake && chmod 0775 .
%[4]s
readlink current`, dir, l.Flake, vm, raw.String())
	return strings.TrimSpace(l.HV(t, hv, script))
}

// Claim makes this test the only user of the named VMs among the tests that
// claim them, across processes (engineers share one lab): it waits for an
// exclusive lock per VM under <Dir>/claims, for up to 15 minutes, and releases
// it when the test ends. Claim VMs in a fixed order (the lab's names sorted)
// when a test needs several.
func (l *Env) Claim(t testing.TB, vms ...string) {
	t.Helper()
	dir := filepath.Join(l.Dir, "claims")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, vm := range vms {
		f, err := os.OpenFile(filepath.Join(dir, vm+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		start, logged := time.Now(), false
		for {
			err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
			if err == nil {
				break
			}
			if time.Since(start) > 15*time.Minute {
				f.Close()
				t.Fatalf("claim %s: another test holds it for over 15 minutes: %v", vm, err)
			}
			if !logged {
				t.Logf("claim %s: waiting for another test to release it", vm)
				logged = true
			}
			time.Sleep(time.Second)
		}
		t.Cleanup(func() { f.Close() })
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// errNoJSON says the playbook ended before the callback wrote its result.
var errNoJSON = errors.New("no JSON result from the bo_json callback")
