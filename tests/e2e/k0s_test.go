//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/business-operations/bo.microvm/internal/k0s"
	"github.com/business-operations/bo.microvm/tests/k8s/kubetest"
)

// TestBootstrapExistingMachines deploys three VMs, puts the k0s contract fake (and an admin
// kubeconfig of a real kube-apiserver reachable on the lab bridge) into each guest, and runs bootstrap-existing-machines.yaml with each controller: one
// controller+worker that bootstraps, one controller, one worker. Check mode predicts the
// first run's changes per host, the second run changes nothing, and no join token reaches the
// -vvv output. A controller stand-in on this machine sets Chart status and Node Ready.
func TestBootstrapExistingMachines(t *testing.T) {
	lab := Lab(t)
	vms := []string{"k0s-cp1", "k0s-cp2", "k0s-w1"}
	lab.Claim(t, vms...)
	pb := func(name string) string { return filepath.Join(lab.Repo, "playbooks", name) }
	fake, kc := k0sFakeAndAPI(t, lab)

	deploy := lab.Playbook(t, "2.14", pb("deploy-microvms.yaml"), Vars{"microvm_require_kvm": false})
	deploy.RequireOK(t)
	for _, vm := range vms {
		lab.WaitSSH(t, vm, 3*time.Minute)
		// The fake talks to the API itself (internal/kube): no kubectl in the guests.
		lab.SSH(t, vm, "mkdir -p /usr/local/bin")
		push(t, lab, vm, fake, "/usr/local/bin/k0s", "0755")
		push(t, lab, vm, kc.guest, "/etc/k0s-fake/kubeconfig", "0600")
	}
	dir := t.TempDir()
	reset := func() {
		for _, vm := range vms {
			_, _ = lab.Run(vm, "k0s stop; k0s reset; rm -rf /etc/k0s /var/lib/k0s /var/lib/k0s-fake /etc/systemd/system/k0s*.service", time.Minute)
		}
		// Each subtest bootstraps a fresh cluster: its kubeconfig is new too.
		_ = os.Remove(filepath.Join(dir, "admin.kubeconfig"))
		resetAPI(kc.local)
	}
	overlay := filepath.Join(dir, "k0s.yaml")
	require.NoError(t, os.WriteFile(overlay, []byte(fmt.Sprintf(`all:
  children:
    microvms:
      vars:
        k0s_addons_wait_for: [api, charts, nodes]
        k0s_timeout: 300
        k0s_addons_timeout: 300
        k0s_admin_kubeconfig: %s
      hosts:
        k0s-cp2: {k0s_role: controller}
`, filepath.Join(dir, "admin.kubeconfig"))), 0o644))

	for _, ctrl := range lab.Controllers() {
		t.Run("controller "+ctrl, func(t *testing.T) {
			reset()
			run := func(args ...string) *Result {
				return lab.Playbook(t, ctrl, pb("bootstrap-existing-machines.yaml"), nil, append([]string{"-i", overlay, "-vvv"}, args...)...)
			}
			check := run("--check")
			check.RequireOK(t)
			first := run()
			first.RequireOK(t)
			for _, vm := range vms {
				assert.Equal(t, check.Recap()[vm].Changed, first.Recap()[vm].Changed, "check mode predicts %s's changes", vm)
			}
			assert.Positive(t, first.Recap()["k0s-w1"].Changed, "the worker joined")
			again := run()
			again.RequireOK(t)
			assert.Zero(t, again.Recap().Changed(), "a second run changes nothing")

			token := strings.TrimSpace(lab.SSH(t, "k0s-w1", "cat /etc/k0s/k0stoken"))
			require.NotEmpty(t, token)
			for _, r := range []*Result{check, first, again} {
				assert.NotContains(t, r.Output, token, "the join token reached the -vvv output")
			}
			argv := lab.SSH(t, "k0s-w1", "cat /var/lib/k0s-fake/argv.log")
			assert.NotContains(t, argv, token, "the join token reached a command line")
			fi, err := os.Stat(filepath.Join(dir, "admin.kubeconfig"))
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
		})
	}
	t.Cleanup(reset)
}

// k0sFakeAndAPI is what a k0s bootstrap test on the lab needs: the path of the k0s contract
// fake (build/k0s-fake/k0s), and a real kube-apiserver the guests reach with a controller
// stand-in running against it until the test ends.
func k0sFakeAndAPI(t *testing.T, lab *Env) (string, apiKubeconfigs) {
	t.Helper()
	fake := filepath.Join(lab.Repo, "build", "k0s-fake", "k0s")
	if _, err := os.Stat(fake); err != nil {
		t.Fatalf("no k0s contract fake at %s: run `make k0s-fake` first", fake)
	}
	_, err := exec.LookPath("kubectl")
	require.NoError(t, err, "the controller stand-in uses kubectl on this machine")
	kc := guestAPI(t, lab)
	t.Cleanup(standIn(t, kc.local))
	return fake, kc
}

// resetAPI removes from the real kube-apiserver what a bootstrap made there (Charts, Nodes,
// join-token Secrets), so the next bootstrap starts from an empty cluster.
func resetAPI(kubeconfig string) {
	k := func(args ...string) []byte {
		out, _ := exec.Command("kubectl", append([]string{"--kubeconfig=" + kubeconfig}, args...)...).Output()
		return out
	}
	// No helm controller runs to honour the Charts' uninstall finalizer: drop it first.
	for _, c := range strings.Fields(string(k("get", "charts.helm.k0sproject.io", "--namespace=kube-system", "-o", "name"))) {
		k("patch", "--namespace=kube-system", c, "--type=merge", "-p", `{"metadata":{"finalizers":null}}`)
	}
	k("delete", "charts.helm.k0sproject.io", "--all", "--namespace=kube-system", "--wait=false")
	k("delete", "nodes", "--all", "--wait=false")
	k("delete", "secrets", "--namespace=kube-system", "--field-selector=type=bootstrap.kubernetes.io/token", "--wait=false")
}

type apiKubeconfigs struct {
	local string // for this machine
	guest string // for the guests: the bridge address, the server name the certificate has
}

// guestAPI starts a real kube-apiserver (tests/k8s) and forwards <lab net>.1:<port> on the lab
// bridge to it, so the guests reach it; their kubeconfig names the certificate's DNS name.
func guestAPI(t *testing.T, lab *Env) apiKubeconfigs {
	t.Helper()
	k := kubetest.StartAPIServer(t, lab.Repo)
	port, dir := k.Port, k.Dir
	bridge := lab.NetAddr(1) // the lab bridge's address on this machine
	fwd, err := net.Listen("tcp", fmt.Sprintf("%s:%d", bridge, port))
	require.NoError(t, err, "listen on the lab bridge")
	t.Cleanup(func() { fwd.Close() })
	go func() {
		for {
			c, err := fwd.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				u, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
				if err != nil {
					return
				}
				defer u.Close()
				go io.Copy(u, c)
				io.Copy(c, u)
			}()
		}
	}()
	local := filepath.Join(dir, "kubeconfig")
	data, err := os.ReadFile(local)
	require.NoError(t, err)
	guest := regexp.MustCompile(`(?m)^(\s*)server: .*$`).ReplaceAllString(string(data),
		fmt.Sprintf("${1}server: https://%s:%d\n${1}tls-server-name: localhost", bridge, port))
	guestPath := filepath.Join(dir, "guest-kubeconfig")
	require.NoError(t, os.WriteFile(guestPath, []byte(guest), 0o600))
	return apiKubeconfigs{local: local, guest: guestPath}
}

// push copies a local file into a guest over SSH (stdin), creating its directory.
func push(t *testing.T, lab *Env, vm, local, remote, mode string) {
	t.Helper()
	f, err := os.Open(local)
	require.NoError(t, err)
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args := append(lab.sshArgs(vm), "root@"+lab.Addr(vm), fmt.Sprintf("mkdir -p %s && cat > %s.tmp && chmod %s %s.tmp && mv %s.tmp %s",
		filepath.Dir(remote), remote, mode, remote, remote, remote))
	cmd := exec.CommandContext(ctx, "ssh", args...)
	cmd.Stdin = f
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "push %s to %s:%s: %s", local, vm, remote, out)
}

// standIn does what the controllers that do not run in the lab would (k0s' helm reconciler:
// Chart status; the kubelets: Node Ready), through the API, until stopped.
func standIn(t *testing.T, kubeconfig string) func() {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			standInOnce(kubeconfig)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	return func() { cancel(); wg.Wait() }
}

func standInOnce(kubeconfig string) {
	run := func(args ...string) []byte {
		out, _ := exec.Command("kubectl", append([]string{"--kubeconfig=" + kubeconfig}, args...)...).Output()
		return out
	}
	var charts struct {
		Items []struct {
			Metadata struct{ Name string }
			Spec     struct{ Version, Values, ReleaseName, Namespace string }
			Status   struct{ ValuesHash, Version, Namespace string }
		}
	}
	if json.Unmarshal(run("get", "charts.helm.k0sproject.io", "--namespace=kube-system", "-o", "json"), &charts) == nil {
		for _, c := range charts.Items {
			// What k0s' helm extension controller writes once it installed the spec: the formula
			// from its source, through the one shared place (k0s.ChartValuesHash).
			hash := k0s.ChartValuesHash(c.Spec.ReleaseName, c.Spec.Values)
			if c.Status.ValuesHash == hash && c.Status.Version == c.Spec.Version && c.Status.Namespace == c.Spec.Namespace {
				continue
			}
			patch, _ := json.Marshal(map[string]any{"status": map[string]any{"releaseName": c.Spec.ReleaseName,
				"version": c.Spec.Version, "valuesHash": hash, "error": "", "namespace": c.Spec.Namespace}})
			run("patch", "charts.helm.k0sproject.io", "--namespace=kube-system", c.Metadata.Name, "--subresource=status", "--type=merge", "-p", string(patch))
		}
	}
	now := time.Now().UTC().Format(time.RFC3339)
	for _, name := range strings.Fields(string(run("get", "nodes", "-o", "jsonpath={.items[*].metadata.name}"))) {
		run("patch", "node", name, "--subresource=status", "--type=merge", "-p",
			`{"status":{"conditions":[{"type":"Ready","status":"True","reason":"KubeletReady","message":"controller stand-in","lastHeartbeatTime":"`+now+`","lastTransitionTime":"`+now+`"}]}}`)
	}
}
