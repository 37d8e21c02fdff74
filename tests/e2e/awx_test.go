//go:build e2e && awx

package e2e

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAWXJobTemplates runs the job templates of awx/job_templates.yml through ansible-runner as
// AWX lays out a job (awx.go) against the lab, and checks each does what its playbook does
// from the command line (TestLifecyclePlaybooks): deploy in check mode changes nothing, deploy
// starts every VM, status reads them, rollback without a previous runner fails naming the VM,
// stop/start/restart with a limit act on the limit only,
// destroy with the survey's default answer stops before any change, a job sliced in two as
// AWX slices it touches disjoint hypervisors, destroy answered yes removes the VMs.
func TestAWXJobTemplates(t *testing.T) {
	lab := Lab(t)
	vms := []string{"k0s-cp1", "k0s-cp2", "k0s-w1"}
	lab.Claim(t, vms...)
	jts := lab.JobTemplates(t)
	tmpl := func(name string) JobTemplate {
		t.Helper()
		jt, ok := jts[name]
		require.True(t, ok, "awx/job_templates.yml has job template %q", name)
		return jt
	}
	// The lab's site setting, on the AWX inventory: there is no KVM here.
	site := AWXInv{Vars: map[string]any{"microvm_require_kvm": false}}
	reset := func() {
		for _, vm := range vms {
			lab.ResetVM(t, lab.VMs[vm].Host, vm)
			lab.HV(t, lab.VMs[vm].Host, "systemctl stop microvm@"+vm+"; rm -rf /var/lib/microvms/"+vm+" /nix/var/nix/gcroots/microvm/*"+vm)
		}
	}
	reset()
	t.Cleanup(reset)
	active := func(vm string) string {
		out, _ := lab.Run(lab.VMs[vm].Host, "systemctl is-active microvm@"+vm, 0)
		return strings.TrimSpace(out)
	}
	dirExists := func(vm string) bool {
		return strings.TrimSpace(lab.HV(t, lab.VMs[vm].Host, "test -e /var/lib/microvms/"+vm+" && echo yes || echo no")) == "yes"
	}
	bootID := func(vm string) string {
		return strings.TrimSpace(lab.SSH(t, vm, "cat /proc/sys/kernel/random/boot_id"))
	}
	ok := func(j *Job) {
		t.Helper()
		j.RequireOK(t)
		require.Equal(t, "successful", j.Status, "ansible-runner's status")
	}

	// deploy, job type check with diff (prompted): predicts, creates nothing.
	check := lab.RunJob(t, tmpl("microvm deploy"), Launch{JobType: "check", Diff: true}, site)
	ok(check)
	assert.Equal(t, "--check -u root --diff", check.Cmdline)
	assert.NotZero(t, check.Recap().Changed(), "check mode predicts the deploy's changes")
	for _, vm := range vms {
		assert.False(t, dirExists(vm), "a check job created nothing for %s", vm)
	}

	deploy := lab.RunJob(t, tmpl("microvm deploy"), Launch{}, site)
	ok(deploy)
	for _, vm := range vms {
		assert.Equal(t, vm, strings.TrimSpace(lab.SSH(t, vm, "hostname")), "the deploy job started %s", vm)
		// The template sets microvm_known_hosts "" (docs/awx.md "Host keys"): the keys are made
		// on the hypervisors and the job's output names each fingerprint; no file is written.
		// (ansible-runner's job events name a role's task without its role.)
		hv := lab.VMs[vm].Host
		r, _ := deploy.Task(t, "Install the VMs' NixOS configurations on their hypervisors", hv).Result["vms"].(map[string]any)
		v, _ := r[vm].(map[string]any)
		key, _ := v["ssh_host_key"].(map[string]any)
		fp := strings.Fields(lab.HV(t, hv, "ssh-keygen -lf /var/lib/microvms/"+vm+"/etc/ssh/ssh_host_ed25519_key.pub"))
		require.GreaterOrEqual(t, len(fp), 2)
		assert.Equal(t, fp[1], key["fingerprint"], "the deploy job's output names %s's host key", vm)
	}
	_, err := os.Stat(filepath.Join(deploy.Dir, "inventory", "known_hosts"))
	assert.True(t, os.IsNotExist(err), "the deploy job writes no known_hosts beside its inventory: %v", err)
	again := lab.RunJob(t, tmpl("microvm deploy"), Launch{}, site)
	ok(again)
	assert.Zero(t, again.Recap().Changed(), "a second deploy job changes nothing")

	status := lab.RunJob(t, tmpl("microvm status"), Launch{}, site)
	ok(status)
	assert.Zero(t, status.Recap().Changed(), "status changes nothing")
	for _, vm := range vms {
		assert.Contains(t, status.Output, vm, "status reports %s", vm)
	}

	// rollback: each VM was installed once, so there is no previous runner; the job fails
	// naming the VM and changes nothing (tests/e2e/rollback_test.go rolls back for real).
	rollback := lab.RunJob(t, tmpl("microvm rollback"), Launch{Limit: "k0s-w1"}, site)
	assert.Equal(t, "failed", rollback.Status)
	assert.Contains(t, rollback.Output, "VM k0s-w1 has no previous runner to roll back to")
	assert.Zero(t, rollback.Recap().Changed())

	// rollback for real: a deploy job of generation 2 (limit k0s-w1), then the rollback job
	// puts it back on its first runner and the restarted guest boots generation 1.
	link := func(vm, name string) string {
		return strings.TrimSpace(lab.HV(t, lab.VMs[vm].Host, "readlink /var/lib/microvms/"+vm+"/"+name+" || true"))
	}
	first := link("k0s-w1", "current")
	lab.SetVM(t, "hv1", "k0s-w1", "generation=2")
	ok(lab.RunJob(t, tmpl("microvm deploy"), Launch{Limit: "k0s-w1"}, site))
	require.Equal(t, "2", strings.TrimSpace(lab.SSH(t, "k0s-w1", "cat /run/bo-generation")), "the deploy job installed generation 2")
	require.NotEqual(t, first, link("k0s-w1", "current"))
	rolled := lab.RunJob(t, tmpl("microvm rollback"), Launch{Limit: "k0s-w1"}, site)
	ok(rolled)
	assert.NotZero(t, rolled.Recap().Changed(), "the rollback job changed k0s-w1")
	assert.Equal(t, first, link("k0s-w1", "current"), "the rollback job put k0s-w1 back on its first runner")
	assert.Equal(t, "1", strings.TrimSpace(lab.SSH(t, "k0s-w1", "cat /run/bo-booted-generation")), "the guest booted its previous generation")
	for h := range rolled.Recap() {
		assert.Contains(t, []string{"hv1", "k0s-w1"}, h, "the rollback job limited to k0s-w1 ran on its hypervisor's leader only")
	}
	lab.ResetVM(t, "hv1", "k0s-w1") // the site flake says generation 1 again, as installed

	// stop / start / restart with a limit.
	stop := lab.RunJob(t, tmpl("microvm stop"), Launch{Limit: "hv2"}, site)
	ok(stop)
	assert.NotZero(t, stop.Recap().Changed())
	assert.Equal(t, "inactive", active("k0s-cp2"))
	assert.Equal(t, "active", active("k0s-cp1"), "limit hv2 leaves hv1's VMs alone")
	start := lab.RunJob(t, tmpl("microvm start"), Launch{Limit: "k0s-cp2"}, site)
	ok(start)
	assert.NotZero(t, start.Recap().Changed())
	assert.Equal(t, "k0s-cp2", strings.TrimSpace(lab.SSH(t, "k0s-cp2", "hostname")))
	before, other := bootID("k0s-w1"), bootID("k0s-cp1")
	ok(lab.RunJob(t, tmpl("microvm restart"), Launch{Limit: "k0s-w1"}, site))
	assert.NotEqual(t, before, bootID("k0s-w1"), "restart rebooted k0s-w1")
	assert.Equal(t, other, bootID("k0s-cp1"), "restart limited to k0s-w1 left k0s-cp1 alone")

	// destroy with the survey's default answers (confirm: no): fails before any change.
	refused := lab.RunJob(t, tmpl("microvm destroy"), Launch{}, site)
	assert.NotZero(t, refused.RC, "destroy answered no fails")
	assert.Equal(t, "failed", refused.Status)
	assert.Contains(t, refused.Output, "Not confirmed: nothing was changed")
	assert.Zero(t, refused.Recap().Changed())
	for _, vm := range vms {
		assert.Equal(t, "active", active(vm), "a destroy answered no leaves %s running", vm)
	}

	// A sliced job: AWX runs one job per slice, each on its slice of the inventory's hosts
	// (sorted by name, round-robin). Each slice must hold whole hypervisors: a hypervisor and
	// every VM on it (docs/awx.md, "Job slicing").
	stopT := tmpl("microvm stop")
	slices := 2
	hvOf := map[int][]string{}
	for n := 1; n <= slices; n++ {
		hosts := SliceHosts(lab.AWXInventory(t, n, slices, site))
		for _, h := range hosts {
			if _, isHV := lab.Hypervisors[h]; isHV {
				hvOf[n] = append(hvOf[n], h)
				for vm, v := range lab.VMs {
					if v.Host == h && v.InInventory() {
						assert.Contains(t, hosts, vm, "slice %d/%d holds %s with its hypervisor %s", n, slices, vm, h)
					}
				}
			}
		}
		require.NotEmpty(t, hvOf[n], "slice %d/%d has a hypervisor", n, slices)
	}
	var all []string
	for n := 1; n <= slices; n++ {
		all = append(all, hvOf[n]...)
	}
	sort.Strings(all)
	assert.Equal(t, sortedKeys(lab.Hypervisors), all, "the slices cover every hypervisor, each once")

	touched := map[string][]int{} // hypervisor -> the slices whose job ran on it
	for n := 1; n <= slices; n++ {
		j := lab.RunJob(t, stopT, Launch{Slice: n, Slices: slices}, site)
		ok(j)
		for _, vm := range vms {
			inSlice := contains(hvOf[n], lab.VMs[vm].Host)
			stopped := active(vm) == "inactive"
			if inSlice {
				assert.True(t, stopped, "slice %d/%d stopped %s", n, slices, vm)
			} else if n == 1 {
				assert.False(t, stopped, "slice 1/%d left %s (on %s, slice 2) running", slices, vm, lab.VMs[vm].Host)
			}
		}
		sliceHosts := SliceHosts(lab.AWXInventory(t, n, slices, site))
		for h := range j.Recap() {
			assert.Contains(t, sliceHosts, h, "slice %d/%d ran only on its own hosts", n, slices)
			if _, isHV := lab.Hypervisors[h]; isHV {
				assert.Contains(t, hvOf[n], h, "slice %d/%d ran only on its hypervisors", n, slices)
				touched[h] = append(touched[h], n)
			}
		}
	}
	for h, ns := range touched {
		assert.Len(t, ns, 1, "hypervisor %s was touched by one slice only, not by slices %v", h, ns)
	}
	assert.Len(t, touched, len(lab.Hypervisors), "the two slices' stop jobs touched every hypervisor")
	for n := 1; n <= slices; n++ {
		ok(lab.RunJob(t, tmpl("microvm start"), Launch{Slice: n, Slices: slices}, site))
	}
	for _, vm := range vms {
		assert.Equal(t, vm, strings.TrimSpace(lab.SSH(t, vm, "hostname")), "the sliced start job started %s", vm)
	}

	// destroy answered yes (purge no): the VMs go, their volumes stay.
	for i := 0; i < 2; i++ {
		j := lab.RunJob(t, tmpl("microvm destroy"), Launch{Survey: map[string]any{"confirm": "yes"}}, site)
		ok(j)
		assert.Equal(t, i == 0, j.Recap().Changed() > 0, "destroy job %d", i+1)
	}
	for _, vm := range vms {
		assert.Equal(t, "inactive", active(vm))
		left := strings.Fields(lab.HV(t, lab.VMs[vm].Host, "ls /var/lib/microvms/"+vm+" 2>/dev/null || true"))
		// etc: the persistent /etc with the SSH host key, data as the volumes are (so a
		// redeploy is the same machine to SSH).
		assert.ElementsMatch(t, []string{"ceph.img", "etc", "var.img"}, left, "destroy keeps %s's volumes and persistent /etc and nothing else", vm)
	}
}

// TestAWXK0sBootstrap runs the k0s bootstrap job template through ansible-runner against the
// k0s contract fake, set up as TestBootstrapExistingMachines sets it up (the fake in each
// guest, a real kube-apiserver on the lab bridge, a controller stand-in): job type check
// predicts each host's changes, the run bootstraps (the worker joins), a second job changes
// nothing, and no join token is in any of ansible-runner's artifacts (what AWX stores as the
// job's output and events). The role's settings are the AWX inventory's variables, k0s-cp2's
// role a host variable there. The flux kickoff job template runs for real in make flux-test
// (tests/flux/awx_test.go): it needs Gitea and the Flux controllers, which the lab has not.
func TestAWXK0sBootstrap(t *testing.T) {
	lab := Lab(t)
	vms := []string{"k0s-cp1", "k0s-cp2", "k0s-w1"}
	lab.Claim(t, vms...)
	jts := lab.JobTemplates(t)
	fake, kc := k0sFakeAndAPI(t, lab)
	dir := t.TempDir()
	site := AWXInv{
		Vars: map[string]any{
			"microvm_require_kvm":  false,
			"k0s_addons_wait_for":  []string{"api", "charts", "nodes"},
			"k0s_timeout":          300,
			"k0s_addons_timeout":   300,
			"k0s_admin_kubeconfig": filepath.Join(dir, "admin.kubeconfig"),
		},
		HostVars: map[string]map[string]any{"k0s-cp2": {"k0s_role": "controller"}},
	}
	resetVMs := func() {
		for _, vm := range vms {
			lab.ResetVM(t, lab.VMs[vm].Host, vm)
			lab.HV(t, lab.VMs[vm].Host, "systemctl stop microvm@"+vm+"; rm -rf /var/lib/microvms/"+vm+" /nix/var/nix/gcroots/microvm/*"+vm)
		}
	}
	resetVMs()
	t.Cleanup(resetVMs)
	deploy := lab.RunJob(t, jts["microvm deploy"], Launch{}, site)
	deploy.RequireOK(t)
	for _, vm := range vms {
		lab.WaitSSH(t, vm, 3*time.Minute)
		lab.SSH(t, vm, "mkdir -p /usr/local/bin")
		push(t, lab, vm, fake, "/usr/local/bin/k0s", "0755")
		push(t, lab, vm, kc.guest, "/etc/k0s-fake/kubeconfig", "0600")
	}
	t.Cleanup(func() { resetAPI(kc.local) })

	jt, found := jts["k0s bootstrap"]
	require.True(t, found, "awx/job_templates.yml has job template %q", "k0s bootstrap")
	check := lab.RunJob(t, jt, Launch{JobType: "check"}, site)
	check.RequireOK(t)
	assert.Equal(t, "--check -u root", check.Cmdline)
	first := lab.RunJob(t, jt, Launch{}, site)
	first.RequireOK(t)
	require.Equal(t, "successful", first.Status)
	for _, vm := range vms {
		assert.Equal(t, check.Recap()[vm].Changed, first.Recap()[vm].Changed, "job type check predicts %s's changes", vm)
	}
	assert.Positive(t, first.Recap()["k0s-w1"].Changed, "the worker joined")
	// The inventory file says controller+worker; the AWX host variable makes k0s-cp2 a controller.
	assert.NotContains(t, lab.SSH(t, "k0s-cp2", "cat /var/lib/k0s-fake/argv.log"), "--enable-worker=true", "k0s-cp2 installed as the AWX host variable says")
	assert.Contains(t, lab.SSH(t, "k0s-cp1", "cat /var/lib/k0s-fake/argv.log"), "--enable-worker=true", "k0s-cp1 (controller+worker) installed with a worker")
	again := lab.RunJob(t, jt, Launch{}, site)
	again.RequireOK(t)
	assert.Zero(t, again.Recap().Changed(), "a second job changes nothing")

	token := strings.TrimSpace(lab.SSH(t, "k0s-w1", "cat /etc/k0s/k0stoken"))
	require.NotEmpty(t, token)
	for _, j := range []*Job{check, first, again} {
		err := filepath.WalkDir(filepath.Join(j.Dir, "artifacts"), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			assert.NotContains(t, string(data), token, "the join token is in %s", p)
			return nil
		})
		require.NoError(t, err)
	}
	fi, err := os.Stat(filepath.Join(dir, "admin.kubeconfig"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
}

func sortedKeys[V any](m map[string]V) []string {
	out := keys(m)
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
