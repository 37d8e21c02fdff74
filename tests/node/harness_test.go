//go:build node

// Package node_test runs the k8s_node module binary, exactly as Ansible runs it, against a
// real kube-apiserver (tests/k8s) holding Node, Pod and PodDisruptionBudget objects. Nothing but
// the API server runs: kubetest.StandIn does, through the API, what the kubelets and
// kube-controller-manager's disruption controller would. The restart role around the module
// is tested on the lab (tests/e2e/drain_test.go).
package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var moduleBin string

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "node-test-bins-")
	if err != nil {
		panic(err)
	}
	moduleBin = filepath.Join(dir, "k8s_node")
	cmd := exec.Command("go", "build", "-o", moduleBin, "./modules") // multi-call: _ansible_module_name picks k8s_node
	cmd.Dir, cmd.Env = repoRoot(), append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build k8s_node: %v\n%s", err, b)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runModule runs the module binary as Ansible would (args file, -vvv verbosity) and returns
// its JSON result.
func runModule(t *testing.T, check bool, args map[string]any) map[string]any {
	t.Helper()
	a := map[string]any{"_ansible_check_mode": check, "_ansible_diff": true, "_ansible_verbosity": 3,
		"_ansible_module_name": "k8s_node", "_ansible_version": "2.14.18", "_ansible_no_log": false}
	for k, v := range args {
		a[k] = v
	}
	data, err := json.Marshal(a)
	require.NoError(t, err)
	argsFile := filepath.Join(t.TempDir(), "args")
	require.NoError(t, os.WriteFile(argsFile, data, 0o600))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, moduleBin, argsFile)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	_ = cmd.Run()
	var res map[string]any
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &res), "module output %q, stderr %q", stdout.String(), stderr.String())
	return res
}
