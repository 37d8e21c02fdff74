package k0s

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/business-operations/bo.microvm/internal/step"
)

func cluster() ClusterConfig {
	return ClusterConfig{APIAddress: "198.18.0.101", Addons: Addons{
		Cilium:  Addon{Enabled: true, Version: "1.18.4"},
		OpenEBS: Addon{Enabled: true, Version: "4.4.0"},
		Rook:    Addon{Enabled: true, Version: "v1.18.7"}, DeviceFilter: "^vdb$",
	}}
}

func opts(role Role, bootstrap bool) Options {
	return Options{Role: role, Bootstrap: bootstrap, ManageConfig: true, NodeName: "k0s-cp1", Cluster: cluster()}
}

// writeCurrentConfig puts the module's own rendering of cc into k0s.yaml.
func writeCurrentConfig(t *testing.T, n *node, cc ClusterConfig) {
	t.Helper()
	b, err := cc.Render()
	require.NoError(t, err)
	n.file(DefaultConfigPath, string(b), 0o600)
}

func TestApply(t *testing.T) {
	ca := newCA(t)
	other := newCA(t)
	tok := joinToken(t, ca, "abc123")
	tests := []struct {
		name    string
		setup   func(t *testing.T, n *node) Options
		check   bool
		wantErr string
		changed bool
		acted   []string
		steps   map[string]step.Status
		verify  func(t *testing.T, n *node, r *Result)
	}{
		{
			name:    "the bootstrap controller+worker initialises a clean node once",
			setup:   func(t *testing.T, n *node) Options { return opts(ControllerWorker, true) },
			changed: true,
			acted: []string{
				"config validate --config=" + "ROOT/etc/k0s/k0s.yaml.bo-validate",
				"install controller --data-dir=/var/lib/k0s --config=/etc/k0s/k0s.yaml --enable-worker=true",
				"start",
			},
			steps: map[string]step.Status{
				"Write /etc/k0s/k0s.yaml":                          step.Changed,
				"Write the join token to /etc/k0s/k0stoken (0600)": step.OK,
				"Start k0s and initialise the cluster":             step.Changed,
				"Restart k0s to load the changed configuration":    step.OK,
				"Wait for the Kubernetes API (/readyz)":            step.Waited,
			},
			verify: func(t *testing.T, n *node, r *Result) {
				cfg := n.read(DefaultConfigPath)
				assert.Contains(t, cfg, "provider: custom")
				assert.Contains(t, cfg, "disabled: true")
				assert.Contains(t, cfg, "k8sServiceHost: 198.18.0.101")
				assert.Contains(t, cfg, "kubeletDirPath: /var/lib/k0s/kubelet")
				assert.Contains(t, cfg, "deviceFilter: ^vdb$")
				fi, err := os.Stat(filepath.Join(n.root, DefaultConfigPath))
				require.NoError(t, err)
				assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
				assert.False(t, n.exists(DefaultTokenFile), "the bootstrap controller gets no token file")
				assert.Equal(t, ca.FP, r.Facts.ClusterCA)
				assert.True(t, r.Facts.Running)
			},
		},
		{
			name: "a re-run on the bootstrapped controller changes nothing",
			setup: func(t *testing.T, n *node) Options {
				n.joined("controller", true, ca)
				writeCurrentConfig(t, n, cluster())
				return opts(ControllerWorker, true)
			},
			changed: false,
			acted:   nil,
			steps: map[string]step.Status{
				"Write /etc/k0s/k0s.yaml":                          step.OK,
				"Install the k0s controller service (k0s install)": step.OK,
				"Start k0s": step.OK,
				"Restart k0s to load the changed configuration": step.OK,
				"Wait for k0s to report running":                step.OK,
				"Wait for the Kubernetes API (/readyz)":         step.Waited,
			},
		},
		{
			name: "a changed add-on value rewrites k0s.yaml and restarts k0s without re-initialising",
			setup: func(t *testing.T, n *node) Options {
				n.joined("controller", true, ca)
				writeCurrentConfig(t, n, cluster())
				o := opts(ControllerWorker, true)
				o.Cluster.Addons.Cilium.Values = map[string]any{"hubble": map[string]any{"enabled": true}}
				return o
			},
			changed: true,
			acted:   []string{"config validate --config=ROOT/etc/k0s/k0s.yaml.bo-validate", "stop", "start"},
			steps: map[string]step.Status{
				"Write /etc/k0s/k0s.yaml":                          step.Changed,
				"Install the k0s controller service (k0s install)": step.OK,
				"Start k0s": step.OK,
				"Restart k0s to load the changed configuration": step.Changed,
			},
			verify: func(t *testing.T, n *node, r *Result) {
				assert.Contains(t, n.read(DefaultConfigPath), "hubble")
				assert.NotEqual(t, r.ConfigBefore, r.ConfigAfter)
			},
		},
		{
			name:    "a worker without a token fails and says where the token comes from",
			setup:   func(t *testing.T, n *node) Options { return opts(Worker, false) },
			wantErr: "has not joined a cluster (no /var/lib/k0s/pki/ca.crt or kubelet.conf) and no join token was given: pass token (created on the bootstrap controller with state: token, token_role: worker)",
		},
		{
			name: "a worker joins with the token written to a 0600 file, never on a command line",
			setup: func(t *testing.T, n *node) Options {
				n.api["/api/v1/nodes/k0s-cp1"] = `{"metadata":{"name":"k0s-cp1"}}`
				o := opts(Worker, false)
				o.Token = tok
				return o
			},
			changed: true,
			acted:   []string{"install worker --data-dir=/var/lib/k0s --token-file=/etc/k0s/k0stoken", "start"},
			steps: map[string]step.Status{
				"Write the join token to /etc/k0s/k0stoken (0600)": step.Changed,
				"Start k0s and join the cluster":                   step.Changed,
				"Wait for node k0s-cp1 to register":                step.Waited,
			},
			verify: func(t *testing.T, n *node, r *Result) {
				assert.Equal(t, []string{"https://198.18.0.101:6443"}, n.probed)
				assert.Equal(t, tok+"\n", n.read(DefaultTokenFile))
				fi, err := os.Stat(filepath.Join(n.root, DefaultTokenFile))
				require.NoError(t, err)
				assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
				assert.False(t, n.exists(DefaultConfigPath), "a worker gets no k0s.yaml")
			},
		},
		{
			name: "a joined worker given a new token is left alone",
			setup: func(t *testing.T, n *node) Options {
				n.joined("worker", false, ca)
				n.api["/api/v1/nodes/k0s-cp1"] = `{"metadata":{"name":"k0s-cp1"}}`
				o := opts(Worker, false)
				o.Token = tok
				return o
			},
			changed: false,
			steps:   map[string]step.Status{"Write the join token to /etc/k0s/k0stoken (0600)": step.OK},
		},
		{
			name: "a node holding another cluster's data is refused",
			setup: func(t *testing.T, n *node) Options {
				n.joined("worker", false, other)
				o := opts(Worker, false)
				o.Token = tok
				return o
			},
			wantErr: "holds data of another cluster",
		},
		{
			name: "a stopped node with another cluster's data named by cluster_ca_sha256 is refused without a token",
			setup: func(t *testing.T, n *node) Options {
				n.joined("worker", false, other)
				n.running = false
				o := opts(Worker, false)
				o.ClusterCA = ca.FP
				return o
			},
			wantErr: "Set force_reset: true",
		},
		{
			name: "force_reset wipes another cluster's data, then joins",
			setup: func(t *testing.T, n *node) Options {
				n.joined("worker", false, other)
				n.api["/api/v1/nodes/k0s-cp1"] = `{"metadata":{"name":"k0s-cp1"}}`
				o := opts(Worker, false)
				o.Token, o.ForceReset = tok, true
				return o
			},
			changed: true,
			acted:   []string{"stop", "reset --data-dir=/var/lib/k0s", "install worker --data-dir=/var/lib/k0s --token-file=/etc/k0s/k0stoken", "start"},
		},
		{
			name: "a worker whose node never registers times out with the last condition seen",
			setup: func(t *testing.T, n *node) Options {
				o := opts(Worker, false)
				o.Token = tok
				return o
			},
			wantErr: "Wait for node k0s-cp1 to register: node k0s-cp1 registering did not happen within 10m0s; last seen: node k0s-cp1 not registered yet",
		},
		{
			name: "a joining node that cannot reach the API fails before anything changes",
			setup: func(t *testing.T, n *node) Options {
				n.probeErr = errors.New("dial tcp 198.18.0.101:6443: connect: no route to host")
				o := opts(Worker, false)
				o.Token = tok
				return o
			},
			wantErr: "this node cannot reach the cluster API named in the join token: dial tcp 198.18.0.101:6443: connect: no route to host",
			verify: func(t *testing.T, n *node, r *Result) {
				assert.Empty(t, n.acted())
				assert.False(t, n.exists(DefaultTokenFile))
			},
		},
		{
			name: "a role change is refused",
			setup: func(t *testing.T, n *node) Options {
				n.joined("worker", false, ca)
				o := opts(Controller, false)
				o.Token = tok
				return o
			},
			wantErr: "k0s runs here as worker, the inventory asks for controller: changing a node's role is not supported",
		},
		{
			name: "an installed but stopped controller is started, not reinstalled",
			setup: func(t *testing.T, n *node) Options {
				n.joined("controller", false, ca)
				n.running = false
				writeCurrentConfig(t, n, cluster())
				o := opts(Controller, false)
				o.ClusterCA = ca.FP
				return o
			},
			changed: true,
			acted:   []string{"start"},
		},
		{
			name: "a controller running with other install flags is reinstalled with --force and restarted",
			setup: func(t *testing.T, n *node) Options {
				n.joined("controller", true, ca)
				writeCurrentConfig(t, n, cluster())
				o := opts(ControllerWorker, false)
				o.ClusterCA = ca.FP
				n.args = []string{bin, "controller", "--data-dir=/var/lib/k0s", "--config=/etc/k0s/k0s.yaml", "--enable-worker=true"}
				o.NoTaints = true
				return o
			},
			changed: true,
			acted: []string{
				"install controller --data-dir=/var/lib/k0s --config=/etc/k0s/k0s.yaml --enable-worker=true --no-taints=true --force",
				"stop", "start",
			},
		},
		{
			name: "a k0s.yaml that k0s rejects is not installed and the old one stays",
			setup: func(t *testing.T, n *node) Options {
				n.joined("controller", true, ca)
				n.file(DefaultConfigPath, "# hand-written\napiVersion: k0s.k0sproject.io/v1beta1\nkind: ClusterConfig\nspec:\n  network:\n    provider: custom\n", 0o600)
				n.rejectConfig = true
				return opts(ControllerWorker, true)
			},
			wantErr: "k0s rejected the new configuration, the old one stays",
			verify: func(t *testing.T, n *node, r *Result) {
				assert.Contains(t, n.read(DefaultConfigPath), "# hand-written")
			},
		},
		{
			name: "a cluster initialised with another network provider is not switched to Cilium",
			setup: func(t *testing.T, n *node) Options {
				n.joined("controller", true, ca)
				n.file(DefaultConfigPath, "apiVersion: k0s.k0sproject.io/v1beta1\nkind: ClusterConfig\nspec:\n  network:\n    provider: kuberouter\n", 0o600)
				return opts(ControllerWorker, true)
			},
			wantErr: "initialised with network provider kuberouter",
		},
		{
			name:    "check mode on a clean bootstrap node plans the first run's steps and does nothing",
			setup:   func(t *testing.T, n *node) Options { return opts(ControllerWorker, true) },
			check:   true,
			changed: true,
			acted:   nil,
			steps: map[string]step.Status{
				"Write /etc/k0s/k0s.yaml":                          step.WouldChange,
				"Install the k0s controller service (k0s install)": step.WouldChange,
				"Start k0s and initialise the cluster":             step.WouldChange,
				"Wait for the Kubernetes API (/readyz)":            step.WouldWait,
			},
			verify: func(t *testing.T, n *node, r *Result) {
				assert.False(t, n.exists(DefaultConfigPath))
				assert.NotEmpty(t, r.ConfigAfter, "diff mode shows the k0s.yaml it would write")
			},
		},
		{
			name:    "check mode on a worker without a token warns instead of failing",
			setup:   func(t *testing.T, n *node) Options { return opts(Worker, false) },
			check:   true,
			changed: true,
			steps:   map[string]step.Status{"Start k0s and join the cluster": step.WouldChange},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := newNode(t, ca)
			o := tc.setup(t, n)
			r, err := Apply(context.Background(), n.env(), o, tc.check)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				assert.NotContains(t, err.Error(), "s3cr3t")
				if tc.verify != nil {
					tc.verify(t, n, r)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.changed, r.Changed)
			if tc.acted != nil || tc.changed == false || tc.check {
				var want []string
				for _, a := range tc.acted {
					want = append(want, strings.ReplaceAll(a, "ROOT", n.root))
				}
				assert.Equal(t, want, n.acted())
			}
			got := statuses(r)
			for title, st := range tc.steps {
				assert.Equal(t, st, got[title], "step %q in %v", title, got)
			}
			if tc.verify != nil {
				tc.verify(t, n, r)
			}
		})
	}
}
