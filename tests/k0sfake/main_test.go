package main_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

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

// TestTheFakeIsLoud pins the other half of the fake's contract (TestTheFakeAnswersAsItsCaptures
// pins its answers): exit 2 and "k0s contract fake: unknown" for everything it does not know.
func TestTheFakeIsLoud(t *testing.T) {
	bin := build(t)
	dir := t.TempDir()
	good, err := k0s.ClusterConfig{APIAddress: "198.18.0.101", Addons: k0s.Addons{
		Cilium: k0s.Addon{Enabled: true, Version: "1.18.4"}, OpenEBS: k0s.Addon{Enabled: true, Version: "4.4.0"},
		Rook: k0s.Addon{Enabled: true, Version: "v1.18.7"}, DeviceFilter: "^vdb$"}}.Render()
	require.NoError(t, err)
	files := map[string]string{"good.yaml": string(good)}
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
		{name: "the module's rendered k0s.yaml validates", args: []string{"config", "validate", "--config=" + filepath.Join(dir, "good.yaml")}},
		{name: "start before install is an answer the fake has no capture of: loud", args: []string{"start"}, exit: 2, stderr: "k0s contract fake: unknown start without an installed service (the fake has no capture of that answer)\n"},
		{name: "a token on a node that runs no controller has no capture: loud", args: []string{"token", "create", "--role=worker", "--expiry=10m"}, exit: 2,
			stderr: "k0s contract fake: unknown token create on a node where k0s does not run as a controller (the fake has no capture of that answer)\n"},
		{name: "an unknown command is loud", args: []string{"airgap", "list-images"}, exit: 2, stderr: "k0s contract fake: unknown command \"airgap\"\n"},
		{name: "kubectl is not a command the module uses any more: loud", args: []string{"kubectl", "get", "nodes"}, exit: 2, stderr: "k0s contract fake: unknown command \"kubectl\"\n"},
		{name: "an unknown flag is loud", args: []string{"install", "worker", "--token=abc"}, exit: 2, stderr: "k0s contract fake: unknown flag \"--token=abc\" for \"install worker --token=abc\"\n"},
		{name: "a status format the fake does not know is loud", args: []string{"status", "-o", "yaml"}, exit: 2, stderr: "k0s contract fake: unknown status output format \"yaml\" (the fake knows json)\n"},
		{name: "k0s' flag is --out, not --output", args: []string{"status", "--output=json"}, exit: 2, stderr: "k0s contract fake: unknown flag \"--output=json\" for \"status --output=json\"\n"},
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

// TestTheFakeRunsInTheForeground runs `k0s controller` as a NixOS unit's ExecStart does:
// running (status with its own pid and argv, and empty SysInit and StubFile: k0s finds no
// service it installed) until SIGTERM, then stopped, exit 0.
func TestTheFakeRunsInTheForeground(t *testing.T) {
	bin := build(t)
	dir := t.TempDir()
	cfg, err := k0s.ClusterConfig{}.Render()
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "root", "etc", "k0s"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "root", "etc", "k0s", "k0s.yaml"), cfg, 0o600))
	env := append(os.Environ(), "K0S_FAKE_STATE="+filepath.Join(dir, "state"), "K0S_FAKE_ROOT="+filepath.Join(dir, "root"),
		"K0S_FAKE_KUBECONFIG=/nonexistent")
	k0sCmd := func(args ...string) *exec.Cmd {
		c := exec.Command(bin, args...)
		c.Env = env
		return c
	}
	daemon := k0sCmd("controller", "--config=/etc/k0s/k0s.yaml", "--enable-worker")
	require.NoError(t, daemon.Start())
	t.Cleanup(func() { _ = daemon.Process.Kill() })
	var status map[string]any
	require.Eventually(t, func() bool {
		out, err := k0sCmd("status", "-o", "json").Output()
		return err == nil && json.Unmarshal(out, &status) == nil
	}, 30*time.Second, 100*time.Millisecond, "k0s status answers once the foreground k0s runs")
	assert.Equal(t, "controller", status["Role"])
	assert.Equal(t, true, status["Workloads"])
	assert.Equal(t, float64(daemon.Process.Pid), status["Pid"])
	assert.Equal(t, []any{bin, "controller", "--config=/etc/k0s/k0s.yaml", "--enable-worker"}, status["Args"])
	assert.Equal(t, "", status["SysInit"])
	assert.Equal(t, "", status["StubFile"])
	again := k0sCmd("controller", "--config=/etc/k0s/k0s.yaml")
	out, err := again.CombinedOutput()
	require.Error(t, err, "a second foreground k0s while one runs has no capture: loud")
	assert.Contains(t, string(out), "k0s contract fake: unknown controller while the fake's state says k0s runs")

	require.NoError(t, daemon.Process.Signal(syscall.SIGTERM))
	require.NoError(t, daemon.Wait(), "k0s exits 0 when systemd stops it")
	_, err = k0sCmd("status", "-o", "json").Output()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 1, ee.ExitCode())
	assert.Contains(t, string(ee.Stderr), "can't get \"status\" via \"/run/k0s/status.sock\"")
}
