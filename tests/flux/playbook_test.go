//go:build flux

package flux_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var recap = regexp.MustCompile(`(?m)^k0s-cp1\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)`)

// TestBootstrapClusterPlaybook runs playbooks/bootstrap-cluster.yaml through the real
// ansible-playbook (the collection from build/collections, `make build` first) against the
// real kube-apiserver and Gitea: check mode first, then twice; the second run changes nothing.
func TestBootstrapClusterPlaybook(t *testing.T) {
	requireSuite(t)
	root := repoRoot()
	_, err := exec.LookPath("ansible-playbook")
	require.NoError(t, err, "ansible-playbook (ansible-core) is needed")
	bin := filepath.Join(root, "plugins/modules/flux_kickoff_linux_"+runtime.GOARCH)
	_, err = os.Stat(bin)
	require.NoError(t, err, "run make build first (the module binary is missing)")
	collections := filepath.Join(root, "build/collections")
	_, err = os.Stat(filepath.Join(collections, "ansible_collections/bo/microvm/galaxy.yml"))
	require.NoError(t, err, "run make build first (build/collections is missing)")

	c := startCluster(t)
	useRealFlux(t, startStandIn(t, c))
	pathDir, argvLog := gitRecorder(t)

	siteDir := site(t)
	write := siteWriter(t, siteDir)
	write("inventory.yaml", "all:\n  children:\n    microvms:\n      hosts:\n        k0s-cp1: {ansible_host: 127.0.0.1}\n", 0o644)
	write("group_vars/all/main.yml", strings.Join([]string{
		"k0s_cluster_name: lab",
		"flux_kickoff_kubeconfig: " + c.moduleKubeconfig, // the role's default: Gitea through the port-forward
		"flux_kickoff_timeout: 180",
		"flux_kickoff_poll_interval: 0.2",
		"flux_kickoff_cluster_settings: {cluster_name: lab, domain: lab.example.org}",
	}, "\n")+"\n", 0o644)
	// The vaulted secrets file, as playbooks/vars/secrets.example.yml describes it.
	write("vault-password", "test-vault-password\n", 0o600)
	write("group_vars/all/vault.yml", strings.Join([]string{
		"flux_kickoff_gitea_admin_password: " + testAdminPassword,
		"flux_kickoff_age_key: " + testAgeKey,
		"flux_kickoff_cluster_secrets: {api_key: " + testClusterSecret + "}",
	}, "\n")+"\n", 0o600)
	enc := exec.Command("ansible-vault", "encrypt", "--vault-password-file", filepath.Join(siteDir, "vault-password"), filepath.Join(siteDir, "group_vars/all/vault.yml"))
	out, err := enc.CombinedOutput()
	require.NoError(t, err, "ansible-vault: %s", out)

	var captured []string
	play := func(extra ...string) (string, []string) {
		args := append([]string{"-i", filepath.Join(siteDir, "inventory.yaml"), "--vault-password-file", filepath.Join(siteDir, "vault-password"),
			filepath.Join(root, "playbooks/bootstrap-cluster.yaml")}, extra...)
		cmd := exec.Command("ansible-playbook", args...)
		cmd.Dir = siteDir
		cmd.Env = append(os.Environ(), "ANSIBLE_COLLECTIONS_PATH="+collections, "PATH="+pathDir+":"+os.Getenv("PATH"),
			"ANSIBLE_NOCOLOR=1", "ANSIBLE_FORCE_COLOR=0", "ANSIBLE_RETRY_FILES_ENABLED=0", "ANSIBLE_HOST_KEY_CHECKING=0")
		b, err := cmd.CombinedOutput()
		captured = append(captured, string(b))
		if os.Getenv("BO_FLUX_TEST_VERBOSE") != "" {
			t.Logf("ansible-playbook %v:\n%s", extra, b)
		}
		require.NoError(t, err, "ansible-playbook %v:\n%s", extra, b)
		m := recap.FindStringSubmatch(string(b))
		require.NotNil(t, m, "no recap for k0s-cp1 in:\n%s", b)
		return string(b), m[1:]
	}

	t.Run("check mode first reports changes and makes none", func(t *testing.T) {
		out, r := play("--check")
		assert.Equal(t, "1", r[1], "changed in check mode:\n%s", out)
		assert.Equal(t, "0", r[3])
		assert.Contains(t, out, "Gitea admin secret: would change")
		_, err := os.Stat(filepath.Join(siteDir, ".kube"))
		assert.True(t, os.IsNotExist(err))
	})

	t.Run("the first run kicks off Flux", func(t *testing.T) {
		out, r := play("-vvv")
		assert.Equal(t, "1", r[1], "changed on the first run:\n%s", out)
		assert.Contains(t, out, "Flux reconciliation: changed")
		repoRev, ksRev := fluxStatus(t, c)
		assert.NotEmpty(t, repoRev)
		assert.Equal(t, repoRev, ksRev)
	})

	t.Run("the second run changes nothing", func(t *testing.T) {
		out, r := play()
		assert.Equal(t, "0", r[1], "changed on the second run:\n%s", out)
		assert.Equal(t, "0", r[3])
		assert.Contains(t, out, "Flux reconciliation: ok")
	})

	t.Run("no secret value appears in ansible-playbook output (even -vvv) or git argv", func(t *testing.T) {
		argv, err := os.ReadFile(argvLog)
		require.NoError(t, err)
		all := strings.Join(captured, "\n")
		for what, v := range map[string]string{
			"admin password": testAdminPassword,
			"age key":        testAgeKey,
			"cluster secret": testClusterSecret,
			"API token":      secretValue(t, c, "gitea", "gitea-bootstrap-token", "token"),
			"sync token":     secretValue(t, c, "flux-system", "flux-system", "password"),
		} {
			assert.NotContains(t, all, v, "%s in ansible-playbook output", what)
			assert.NotContains(t, string(argv), v, "%s in git argv", what)
		}
	})

	t.Run("the role's default path carries no secret in clear text over a network hop", func(t *testing.T) {
		checkHops(t, c, hopSecrets(t, c))
	})
}
