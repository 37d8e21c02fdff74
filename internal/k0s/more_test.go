package k0s

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/business-operations/bo.microvm/internal/ansible"
	"github.com/business-operations/bo.microvm/internal/command"
)

func TestTokens(t *testing.T) {
	ca := newCA(t)
	tok := joinToken(t, ca, "wrk123")
	tests := []struct {
		name       string
		running    bool
		role       string
		invalidate []string
		check      bool
		wantErr    string
		wantID     string
		wantActed  []string
	}{
		{name: "a worker token is created on the running controller from stdout", running: true, role: "worker",
			wantID: "wrk123", wantActed: []string{"token create --data-dir=/var/lib/k0s --role=worker --expiry=10m0s"}},
		{name: "used tokens are invalidated by ID only", running: true, invalidate: []string{"wrk123"},
			wantActed: []string{"token invalidate --data-dir=/var/lib/k0s wrk123"}},
		{name: "a malformed token ID is refused before k0s runs", running: true, invalidate: []string{"wrk123.secret"},
			wantErr: "is not a join token ID"},
		{name: "tokens need a running controller", running: false, role: "worker", wantErr: "join tokens are made on a running controller"},
		{name: "check mode creates no token and names a placeholder ID", running: true, role: "controller", check: true, wantID: CheckModeTokenID},
		{name: "check mode on a controller that is not up yet plans the token", running: false, role: "worker", check: true, wantID: CheckModeTokenID},
		{name: "check mode plans invalidating a placeholder", running: false, invalidate: []string{CheckModeTokenID}, check: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := newNode(t, ca)
			if tc.running {
				n.joined("controller", true, ca)
			}
			n.fake.Expect(command.Expect{Match: bin + " token create --data-dir=/var/lib/k0s --role=", Prefix: true, Stdout: tok + "\n"})
			n.fake.Expect(command.Expect{Match: bin + " token invalidate --data-dir=/var/lib/k0s ", Prefix: true})
			n.fake.Expect(command.Expect{Match: bin + " token list --data-dir=/var/lib/k0s --role=worker", Stdout: tokenList(t, "wrk123")})
			n.fake.Expect(command.Expect{Match: bin + " token list --data-dir=/var/lib/k0s --role=controller", Stdout: capture(t, "token-list-role-none.stdout")})
			r, err := Tokens(context.Background(), n.env(), Options{Role: ControllerWorker}, tc.role, "", tc.invalidate, tc.check)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.wantID, r.Token.ID)
			if tc.check {
				assert.Empty(t, r.Token.Token)
				assert.True(t, r.Changed)
			} else if tc.wantID != "" {
				assert.Equal(t, tok, r.Token.Token)
			}
			assert.Equal(t, tc.wantActed, n.acted())
			for _, c := range n.fake.Calls() {
				assert.NotContains(t, c, "s3cr3t", "a token secret reached argv")
			}
			for _, s := range r.Steps {
				assert.Regexp(t, `^\S+( \S+)*$`, s.Title, "a step title without stray blanks (no role or no IDs given)")
			}
		})
	}
}

func TestTokenCreationFailureIsReportedNotWaitedForever(t *testing.T) {
	ca := newCA(t)
	n := newNode(t, ca).joined("controller", false, ca)
	n.fake.Expect(command.Expect{Match: bin + " token create", Prefix: true, Exit: 1, Stderr: "Error: failed to create join token: etcd not ready\n"})
	_, err := Tokens(context.Background(), n.env(), Options{Role: Controller}, "worker", "5m", nil, false)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "etcd not ready")
	creates := 0
	for _, c := range n.fake.Calls() {
		if strings.Contains(c, "token create") {
			creates++
			assert.Contains(t, c, "--expiry=5m0s")
		}
	}
	assert.Equal(t, 26, creates, "tries every 5 s until 2 minutes have passed, then gives up")
}

func TestParseTokenNeverEchoesTheToken(t *testing.T) {
	for _, bad := range []string{"not-base64-s3cr3t!!", "czNjcjN0", joinToken(t, newCA(t), "abc123")[:40]} {
		_, err := ParseToken(bad)
		require.Error(t, err)
		assert.NotContains(t, err.Error(), bad)
		assert.Contains(t, err.Error(), "k0s token create")
	}
}

func TestAddonWaits(t *testing.T) {
	ca := newCA(t)
	avail := func(st string) string {
		return fmt.Sprintf(`{"status":{"conditions":[{"type":"Available","status":%q,"reason":"MinimumReplicasUnavailable","message":"0 of 1"}]}}`, st)
	}
	tests := []struct {
		name    string
		wait    string
		objects map[string]string
		wantErr string
	}{
		{name: "cilium is ready when every agent and the operator are", wait: WaitCilium, objects: map[string]string{
			"/apis/apps/v1/namespaces/kube-system/daemonsets/cilium":           `{"status":{"desiredNumberScheduled":3,"numberReady":3}}`,
			"/apis/apps/v1/namespaces/kube-system/deployments/cilium-operator": avail("True")}},
		{name: "cilium with agents not ready reports how many", wait: WaitCilium, objects: map[string]string{
			"/apis/apps/v1/namespaces/kube-system/daemonsets/cilium": `{"status":{"desiredNumberScheduled":3,"numberReady":1}}`},
			wantErr: "DaemonSet kube-system/cilium: 1 of 3 ready"},
		{name: "openebs is ready when its StorageClass exists", wait: WaitOpenEBS, objects: map[string]string{
			"/apis/storage.k8s.io/v1/storageclasses/openebs-hostpath": `{"metadata":{"name":"openebs-hostpath"}}`}},
		{name: "rook waits for the operator first", wait: WaitRook, objects: map[string]string{
			"/apis/apps/v1/namespaces/rook-ceph/deployments/rook-ceph-operator": avail("False")},
			wantErr: "Deployment rook-ceph/rook-ceph-operator Available=False: MinimumReplicasUnavailable 0 of 1"},
		{name: "rook reports the CephCluster phase on timeout", wait: WaitRook, objects: map[string]string{
			"/apis/apps/v1/namespaces/rook-ceph/deployments/rook-ceph-operator": avail("True"),
			"/apis/ceph.rook.io/v1/namespaces/rook-ceph/cephclusters":           `{"items":[{"metadata":{"name":"rook-ceph"},"status":{"phase":"Progressing","message":"Configuring Ceph OSDs","ceph":{"health":"HEALTH_ERR"}}}]}`},
			wantErr: `CephCluster rook-ceph: phase "Progressing", health "HEALTH_ERR", Configuring Ceph OSDs`},
		{name: "rook is ready when the CephCluster is Ready and healthy enough", wait: WaitRook, objects: map[string]string{
			"/apis/apps/v1/namespaces/rook-ceph/deployments/rook-ceph-operator": avail("True"),
			"/apis/ceph.rook.io/v1/namespaces/rook-ceph/cephclusters":           `{"items":[{"metadata":{"name":"rook-ceph"},"status":{"phase":"Ready","ceph":{"health":"HEALTH_WARN"}}}]}`}},
		{name: "nodes must all be Ready", wait: WaitNodes, objects: map[string]string{
			"/api/v1/nodes": `{"items":[{"metadata":{"name":"k0s-cp1"},"status":{"conditions":[{"type":"Ready","status":"True"}]}},{"metadata":{"name":"k0s-w1"},"status":{"conditions":[{"type":"Ready","status":"False","reason":"KubeletNotReady","message":"cni plugin not initialized"}]}}]}`},
			wantErr: "not ready: k0s-w1 (Ready=False: KubeletNotReady cni plugin not initialized), k0s-cp2 (not registered)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := newNode(t, ca).joined("controller", true, ca)
			writeCurrentConfig(t, n, cluster())
			for k, v := range tc.objects {
				n.api[k] = v
			}
			o := opts(ControllerWorker, true)
			o.Wait = []string{tc.wait}
			o.Nodes = []string{"k0s-cp1", "k0s-w1", "k0s-cp2"}
			_, err := Apply(context.Background(), n.env(), o, false)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				assert.Contains(t, err.Error(), "did not happen within 10m0s")
				return
			}
			require.NoError(t, err)
		})
	}
}

func TestSameConfig(t *testing.T) {
	base := "apiVersion: k0s.k0sproject.io/v1beta1\nkind: ClusterConfig\nspec:\n  api:\n    port: 6443\n  network:\n    provider: custom\n    kubeProxy:\n      disabled: true\n  extensions:\n    helm:\n      charts:\n      - name: cilium\n        values: |\n          a: 1\n          b: {c: true}\n"
	tests := []struct {
		name string
		a, b string
		same bool
	}{
		{name: "comments, key order and flow style do not count", a: base,
			b: "# header\nkind: ClusterConfig\napiVersion: \"k0s.k0sproject.io/v1beta1\"\nspec:\n  network: {kubeProxy: {disabled: true}, provider: custom}\n  api: {port: 6443}\n  extensions:\n    helm:\n      charts:\n      - values: \"b:\\n  c: true\\na: 1\\n\"\n        name: cilium\n", same: true},
		{name: "a changed chart value counts", a: base, b: strings.Replace(base, "a: 1", "a: 2", 1), same: false},
		{name: "a changed provider counts", a: base, b: strings.Replace(base, "provider: custom", "provider: calico", 1), same: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			same, err := SameConfig([]byte(tc.a), []byte(tc.b))
			require.NoError(t, err)
			assert.Equal(t, tc.same, same)
		})
	}
}

func TestRenderIsStable(t *testing.T) {
	a, err := cluster().Render()
	require.NoError(t, err)
	b, err := cluster().Render()
	require.NoError(t, err)
	assert.Equal(t, string(a), string(b))
	assert.True(t, strings.HasPrefix(string(a), ConfigHeader+"\n"))
	same, err := SameConfig(a, b)
	require.NoError(t, err)
	assert.True(t, same)
}

func TestFlagsDiffer(t *testing.T) {
	cw := Options{Role: ControllerWorker}.withDefaults()
	tests := []struct {
		name string
		args []string
		o    Options
		want bool
	}{
		{name: "the flags k0s install wrote match", args: []string{bin, "controller", "--config=/etc/k0s/k0s.yaml", "--data-dir=/var/lib/k0s", "--enable-worker=true"}, o: cw, want: false},
		{name: "space-separated values match too", args: []string{bin, "controller", "--config", "/etc/k0s/k0s.yaml", "--enable-worker"}, o: cw, want: false},
		{name: "a missing --enable-worker differs", args: []string{bin, "controller", "--config=/etc/k0s/k0s.yaml"}, o: cw, want: true},
		{name: "another data dir differs", args: []string{bin, "controller", "--data-dir=/srv/k0s", "--enable-worker=true"}, o: cw, want: true},
		// k0s install writes a stringSlice flag as --name=a,b (k0s v1.35.3+k0s.0, 364369c9,
		// cmd/install/util.go cmdFlagsToArgs); status Args is that argv.
		{name: "extra_args the running k0s has match", args: []string{bin, "controller", "--config=/etc/k0s/k0s.yaml", "--data-dir=/var/lib/k0s", "--disable-components=autopilot,update-prober"},
			o: Options{Role: Controller, ExtraArgs: []string{"--disable-components=autopilot,update-prober"}}.withDefaults(), want: false},
		{name: "an extra arg with another value differs", args: []string{bin, "controller", "--disable-components=autopilot"},
			o: Options{Role: Controller, ExtraArgs: []string{"--disable-components=autopilot,update-prober"}}.withDefaults(), want: true},
		{name: "an extra arg the running k0s lacks differs", args: []string{bin, "controller"},
			o: Options{Role: Controller, ExtraArgs: []string{"--labels=a=b"}}.withDefaults(), want: true},
		{name: "a worker's token file is not compared", args: []string{bin, "worker", "--token-file=/tmp/x"}, o: Options{Role: Worker}.withDefaults(), want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, flagsDiffer(tc.args, tc.o))
		})
	}
}

func TestExtraArgsGoToK0sInstall(t *testing.T) {
	o := Options{Role: Controller, ExtraArgs: []string{"--disable-components=metrics-server", "--labels=a=b"}}.withDefaults()
	assert.Equal(t, []string{"install", "controller", "--data-dir=/var/lib/k0s", "--config=/etc/k0s/k0s.yaml", "--disable-components=metrics-server", "--labels=a=b"}, installArgs(o, false))
}

func TestAddonRepositoryOverride(t *testing.T) {
	cc := cluster()
	cc.Addons.Cilium.Repository = "http://127.0.0.1:8879/"
	cc.Addons.Rook.Repository = "https://mirror.example/rook"
	repos := map[string]string{}
	for _, c := range cc.Charts() {
		repos[c.Name] = c.RepoURL
	}
	assert.Equal(t, map[string]string{"cilium": "http://127.0.0.1:8879/", "openebs": "https://openebs.github.io/openebs",
		"rook-ceph": "https://mirror.example/rook", "rook-ceph-cluster": "https://mirror.example/rook"}, repos)
	out, err := cc.Render()
	require.NoError(t, err)
	assert.Contains(t, string(out), "- name: cilium\n          url: http://127.0.0.1:8879/\n")
}

// TestOnlyATokenResultIsHidden: the whole result is hidden only when it holds the join token;
// a failed create shows its error (by-hand run against k0s v1.34.10: a hidden failure said
// nothing but "the output has been hidden").
func TestOnlyATokenResultIsHidden(t *testing.T) {
	made := &ansible.Result{}
	setTokenResult(made, &TokenResult{Token: CreatedToken{Token: "SECRET", ID: "abc123"}})
	assert.Equal(t, true, made.Values[ansible.NoLogResult])
	assert.Equal(t, "SECRET", made.Values["token"])

	for name, tr := range map[string]*TokenResult{
		"failed create":     {},
		"invalidation only": {Invalidated: []string{"abc123"}},
		"check mode":        {Token: CreatedToken{ID: CheckModeTokenID, Role: "worker"}},
	} {
		out := &ansible.Result{}
		setTokenResult(out, tr)
		assert.NotContains(t, out.Values, ansible.NoLogResult, name)
		assert.NotContains(t, out.Values, "token", name)
	}
}
