package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/business-operations/bo.microvm/internal/k0s"
)

func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "k0s")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}

// TestTheFakeIsLoudAndSpeaksK0s pins the fake's contract: k0s' answers where it implements a
// command, exit 2 and "k0s contract fake: unknown" for everything else.
func TestTheFakeIsLoudAndSpeaksK0s(t *testing.T) {
	bin := build(t)
	dir := t.TempDir()
	good, err := k0s.ClusterConfig{APIAddress: "198.18.0.101", Addons: k0s.Addons{
		Cilium: k0s.Addon{Enabled: true, Version: "1.18.4"}, OpenEBS: k0s.Addon{Enabled: true, Version: "4.4.0"},
		Rook: k0s.Addon{Enabled: true, Version: "v1.18.7"}, DeviceFilter: "^vdb$"}}.Render()
	require.NoError(t, err)
	files := map[string]string{
		"good.yaml":     string(good),
		"unknown.yaml":  "apiVersion: k0s.k0sproject.io/v1beta1\nkind: ClusterConfig\nspec:\n  netwrok: {}\n",
		"provider.yaml": "apiVersion: k0s.k0sproject.io/v1beta1\nkind: ClusterConfig\nspec:\n  network: {provider: flannel}\n",
		"chart.yaml":    "apiVersion: k0s.k0sproject.io/v1beta1\nkind: ClusterConfig\nspec:\n  extensions:\n    helm:\n      charts:\n      - name: x\n        namespace: y\n",
	}
	for name, content := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600))
	}
	tests := []struct {
		name   string
		args   []string
		exit   int
		stdout string
		stderr string
	}{
		{name: "version prints the k0s version", args: []string{"version"}, stdout: "v1.33.4+k0s.0\n"},
		{name: "status of a stopped node says k0s not running", args: []string{"status", "-o", "json"}, exit: 1, stderr: "Error: k0s not running\n"},
		{name: "the module's rendered k0s.yaml validates", args: []string{"config", "validate", "--config=" + filepath.Join(dir, "good.yaml")}},
		{name: "an unknown spec field is rejected", args: []string{"config", "validate", "--config", filepath.Join(dir, "unknown.yaml")}, exit: 1, stderr: "Error: spec.netwrok: unknown field\n"},
		{name: "an unknown network provider is rejected", args: []string{"config", "validate", "-c", filepath.Join(dir, "provider.yaml")}, exit: 1,
			stderr: "Error: spec.network.provider: Unsupported value: \"flannel\": supported values: \"kuberouter\", \"calico\", \"custom\"\n"},
		{name: "a chart without chartname is rejected", args: []string{"config", "validate", "--config=" + filepath.Join(dir, "chart.yaml")}, exit: 1,
			stderr: "Error: spec.extensions.helm.charts[0].chartname: Required value\n"},
		{name: "start before install fails as k0s does", args: []string{"start"}, exit: 1, stderr: "Error: failed to start k0s service: the service is not installed\n"},
		{name: "a token needs a running controller", args: []string{"token", "create", "--role=worker", "--expiry=10m"}, exit: 1,
			stderr: "Error: failed to create join token: k0s is not running (run it on a running controller)\n"},
		{name: "an unknown command is loud", args: []string{"airgap", "list-images"}, exit: 2, stderr: "k0s contract fake: unknown command \"airgap\"\n"},
		{name: "an unknown flag is loud", args: []string{"install", "worker", "--token=abc"}, exit: 2, stderr: "k0s contract fake: unknown flag \"--token=abc\" for \"install worker --token=abc\"\n"},
		{name: "a status format the fake does not know is loud", args: []string{"status", "-o", "yaml"}, exit: 2, stderr: "k0s contract fake: unknown status output format \"yaml\" (the fake knows json)\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, tc.args...)
			cmd.Env = append(os.Environ(), "K0S_FAKE_STATE="+filepath.Join(dir, "state"), "K0S_FAKE_KUBECONFIG=/nonexistent")
			var stdout, stderr []byte
			out, err := cmd.Output()
			stdout = out
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
				assert.Equal(t, tc.exit, ee.ExitCode())
			} else {
				require.NoError(t, err)
				assert.Equal(t, 0, tc.exit)
			}
			if tc.stdout != "" {
				assert.Equal(t, tc.stdout, string(stdout))
			}
			assert.Equal(t, tc.stderr, string(stderr))
		})
	}
	log, err := os.ReadFile(filepath.Join(dir, "state", "argv.log"))
	require.NoError(t, err)
	assert.Contains(t, string(log), `"install","worker","--token=abc"]`, "every argv is logged, the refused ones too")
}
