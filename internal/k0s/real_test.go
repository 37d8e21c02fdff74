package k0s

// Tests whose expectations come from what a real k0s printed (the captures under
// tests/k0sfake/testdata/<version>, see its README) or from k0s' source (cited per test).

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/business-operations/bo.microvm/internal/command"
	"github.com/business-operations/bo.microvm/internal/kube"
	"github.com/business-operations/bo.microvm/internal/step"
)

// captureVersions are the k0s versions captured (tests/k0sfake/testdata/<version>): the tests
// that replay captures run once per version (eachVersion), with captureVersion set.
var captureVersions = []string{"v1.35.3", "v1.34.10"}

// captureVersion is the version the running test replays.
var captureVersion = captureVersions[0]

// eachVersion runs f once per captured k0s version (not in parallel: captureVersion is
// shared).
func eachVersion(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	defer func() { captureVersion = captureVersions[0] }()
	for _, v := range captureVersions {
		captureVersion = v
		t.Run(v, f)
	}
}

// capture is one file a real k0s printed (tests/k0sfake/testdata/<version>/<name>).
func capture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "tests", "k0sfake", "testdata", captureVersion, name))
	require.NoError(t, err, "capture %s", name)
	return string(b)
}

// tokenList is the captured `k0s token list --role=worker` table with its token's ID
// replaced by id.
func tokenList(t *testing.T, id string) string {
	t.Helper()
	out := capture(t, "token-list-worker.stdout")
	rows := parseTokenList(out)
	require.Len(t, rows, 1, "the capture lists one worker token")
	return strings.Replace(out, rows[0].ID, id, 1)
}

func TestTokenListIsReadAsK0sPrintsIt(t *testing.T) {
	eachVersion(t, func(t *testing.T) {
		rows := parseTokenList(capture(t, "token-list-worker.stdout"))
		require.Len(t, rows, 1)
		assert.Equal(t, "worker", rows[0].Role)
		_, err := time.Parse(time.RFC3339, rows[0].ExpiresAt)
		assert.NoError(t, err, "EXPIRES AT is RFC 3339")
		assert.Empty(t, parseTokenList(capture(t, "token-list-empty.stdout")), "No k0s join tokens found")
		assert.Empty(t, parseTokenList(capture(t, "token-list-role-none.stdout")))
		never := parseTokenList(capture(t, "token-list-never.stdout"))
		require.Len(t, never, 1)
		assert.Empty(t, never[0].ExpiresAt, "a token made with a negative --expiry never expires: blank EXPIRES AT")
	})
}

func TestInvalidatingTokensIsIdempotent(t *testing.T) {
	eachVersion(t, func(t *testing.T) {
		ca := newCA(t)
		tests := []struct {
			name        string
			listed      string
			changed     bool
			acted       []string
			invalidated []string
		}{
			{name: "a token k0s still lists is invalidated", listed: tokenList(t, "wrk123"), changed: true,
				acted: []string{"token invalidate --data-dir=/var/lib/k0s wrk123"}, invalidated: []string{"wrk123"}},
			// k0s answers "token wrk123 deleted successfully" for IDs that never existed
			// (capture token-invalidate-unknown.stdout): only token list tells.
			{name: "a token k0s no longer lists is left alone", listed: capture(t, "token-list-empty.stdout"), changed: false},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				n := newNode(t, ca).joined("controller", false, ca)
				n.fake.Expect(command.Expect{Match: bin + " token list --data-dir=/var/lib/k0s --role=worker", Stdout: tc.listed})
				n.fake.Expect(command.Expect{Match: bin + " token list --data-dir=/var/lib/k0s --role=controller", Stdout: capture(t, "token-list-role-none.stdout")})
				n.fake.Expect(command.Expect{Match: bin + " token invalidate --data-dir=/var/lib/k0s wrk123", Stdout: capture(t, "token-invalidate-unknown.stdout")})
				r, err := Tokens(context.Background(), n.env(), Options{}, "", "", []string{"wrk123"}, false)
				require.NoError(t, err)
				assert.Equal(t, tc.changed, r.Changed)
				assert.Equal(t, tc.acted, n.acted())
				assert.Equal(t, tc.invalidated, r.Invalidated)
			})
		}
	})
}

func TestTokenExpiry(t *testing.T) {
	eachVersion(t, func(t *testing.T) {
		ca := newCA(t)
		n := newNode(t, ca).joined("controller", false, ca)
		n.fake.Expect(command.Expect{Match: bin + " token create --data-dir=/var/lib/k0s --role=worker --expiry=10m0s", Stdout: joinToken(t, ca, "wrk123") + "\n"})
		n.fake.Expect(command.Expect{Match: bin + " token list --data-dir=/var/lib/k0s --role=worker", Stdout: tokenList(t, "wrk123")})
		n.fake.Expect(command.Expect{Match: bin + " token list --data-dir=/var/lib/k0s --role=controller", Stdout: capture(t, "token-list-role-none.stdout")})
		r, err := Tokens(context.Background(), n.env(), Options{}, "worker", "", nil, false)
		require.NoError(t, err)
		assert.Equal(t, parseTokenList(capture(t, "token-list-worker.stdout"))[0].ExpiresAt, r.Token.ExpiresAt, "the expiry k0s recorded")
		assert.Equal(t, 10*time.Minute, r.Token.Expiry)

		// k0s accepts a negative --expiry and makes a token that never expires (capture
		// token-list-never.stdout); the module refuses it.
		for _, bad := range []string{"-1h", "0s", "bogus"} {
			_, err := Tokens(context.Background(), n.env(), Options{}, "worker", bad, nil, false)
			require.Error(t, err, bad)
			assert.Contains(t, err.Error(), "is not a positive duration")
		}
	})
}

func TestResetOfTheLastController(t *testing.T) {
	eachVersion(t, func(t *testing.T) {
		ca := newCA(t)
		members := capture(t, "etcd-member-list.json")
		var doc struct{ Members map[string]string }
		require.NoError(t, json.Unmarshal([]byte(members), &doc))
		require.Len(t, doc.Members, 1, "the capture is of a single controller")
		two := map[string]any{"members": map[string]string{"cp1": "https://198.18.0.101:2380", "cp2": "https://198.18.0.102:2380"}}
		twoJSON, _ := json.Marshal(two)
		tests := []struct {
			name    string
			members string
			acted   []string
			reason  string
		}{
			// etcd refuses to remove its last member (capture etcd-leave-last.stderr); k0s' leave
			// asks etcd to delete this node's member (k0s v1.35.3+k0s.0 cmd/etcd/leave.go).
			{name: "the only etcd member does not leave", members: members,
				acted:  []string{"stop", "reset --data-dir=/var/lib/k0s"},
				reason: "the only etcd member: there is no cluster to leave"},
			{name: "one of several members leaves first", members: string(twoJSON),
				acted:  []string{"etcd leave --data-dir=/var/lib/k0s", "stop", "reset --data-dir=/var/lib/k0s"},
				reason: "a running controller and one of 2 etcd members"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				n := newNode(t, ca).joined("controller", false, ca)
				n.file("/var/lib/k0s/etcd/member/snap/db", "", 0o600)
				n.fake.Expect(command.Expect{Match: bin + " etcd member-list --data-dir=/var/lib/k0s", Stdout: tc.members})
				n.fake.Expect(command.Expect{Match: bin + " etcd leave --data-dir=/var/lib/k0s"})
				r, err := Reset(context.Background(), n.env(), Options{}, true, false)
				require.NoError(t, err)
				assert.Equal(t, tc.acted, n.acted())
				assert.Equal(t, step.Result{Title: "Leave etcd", Status: map[bool]step.Status{true: step.Changed, false: step.OK}[len(tc.acted) == 3], Reason: tc.reason}, r.Steps[0])
			})
		}
	})
}

func TestResetFactsInCheckModeAndOnFailure(t *testing.T) {
	ca := newCA(t)
	n := newNode(t, ca).joined("worker", false, ca)
	r, err := Reset(context.Background(), n.env(), Options{}, true, true)
	require.NoError(t, err)
	assert.Equal(t, Facts{Role: "worker", Version: "v1.33.4+k0s.0", Running: true, Joined: true, ClusterCA: ca.FP, Binary: DefaultBinary, ServiceMode: ServiceGeneric}, r.Facts, "check mode reports the node as it is")

	n = newNode(t, ca).joined("controller", false, ca)
	n.file("/var/lib/k0s/etcd/member/snap/db", "", 0o600)
	n.fake.Expect(command.Expect{Match: bin + " etcd member-list --data-dir=/var/lib/k0s", Exit: 1, Stderr: "Error: can't list etcd cluster members: context deadline exceeded\n"})
	r, err = Reset(context.Background(), n.env(), Options{}, true, false)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Leave etcd: list the etcd members")
	require.NotNil(t, r)
	assert.Equal(t, ca.FP, r.Facts.ClusterCA, "a failed reset still says what the node holds")
	assert.True(t, r.Facts.Joined)
}

// nixosNode is a NixOS machine: os-release says ID=nixos, and a k0s unit as guest.nix declares it
// (ExecStart = <k0s>/bin/k0s <role> <flags>, shown by systemctl as systemd prints it).
func nixosNode(t *testing.T, ca testCA, argv string) *node {
	n := newNode(t, ca)
	n.file(OSRelease, nixosRelease, 0o644)
	n.fake.Expect(command.Expect{Match: "systemctl show --property=LoadState --property=ExecStart k0s.service",
		Stdout: "LoadState=loaded\nExecStart={ path=/nix/store/h-k0s/bin/k0s ; argv[]=/nix/store/h-k0s/bin/k0s " + argv + " ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }\n"})
	n.fake.Expect(command.Expect{Match: "systemctl start k0s.service", Do: func(c command.Cmd) (command.Output, error) {
		n.role = strings.Fields(argv)[0]
		n.workers = strings.Contains(argv, "--enable-worker")
		return n.start(c)
	}})
	return n
}

func TestNixOSMode(t *testing.T) {
	ca := newCA(t)
	tok := joinToken(t, ca, "nix123")
	tests := []struct {
		name    string
		argv    string
		o       Options
		wantErr string
		acted   []string
	}{
		{name: "a worker whose unit guest.nix declares gets only the token file and a systemctl start",
			argv: "worker --token-file=/etc/k0s/k0stoken", o: Options{Role: Worker, Token: tok, NodeName: "k0s-w1"},
			acted: []string{"systemctl start k0s.service"}},
		{name: "a bootstrap controller+worker gets k0s.yaml and a start",
			argv: "controller --config=/etc/k0s/k0s.yaml --enable-worker", o: Options{Role: ControllerWorker, Bootstrap: true, ManageConfig: true, NodeName: "k0s-w1", Cluster: cluster(), Wait: []string{}},
			acted: []string{"systemctl start k0s.service"}},
		{name: "a unit of another role names the option to set",
			argv: "worker --token-file=/etc/k0s/k0stoken", o: Options{Role: ControllerWorker, Token: tok, ManageConfig: true, Cluster: cluster()},
			wantErr: "the k0s unit runs `k0s worker`, but role is controller+worker: set it in this machine's NixOS configuration (microvm-guest.k0s in guest.nix, or services.k0s) or change the inventory to match (microvm-guest.k0s.role = \"controller+worker\")"},
		{name: "no_taints is not ignored: the unit must carry --no-taints",
			argv: "controller --config=/etc/k0s/k0s.yaml --enable-worker", o: Options{Role: ControllerWorker, Bootstrap: true, NoTaints: true, ManageConfig: true, Cluster: cluster()},
			wantErr: "no_taints is true, but the k0s unit runs k0s without --no-taints"},
		{name: "extra_args the unit does not carry name microvm-guest.k0s.extraArgs",
			argv: "controller --config=/etc/k0s/k0s.yaml --disable-components=metrics-server", o: Options{Role: Controller, Bootstrap: true, ManageConfig: true, Cluster: cluster(), ExtraArgs: []string{"--disable-components=metrics-server,update-prober"}},
			wantErr: "extra_args has --disable-components=metrics-server,update-prober, but the k0s unit runs k0s with --disable-components=metrics-server"},
		{name: "extra_args the unit carries are accepted",
			argv: "controller --config=/etc/k0s/k0s.yaml --disable-components=metrics-server", o: Options{Role: Controller, Bootstrap: true, ManageConfig: true, NodeName: "k0s-w1", Cluster: cluster(), Wait: []string{}, ExtraArgs: []string{"--disable-components=metrics-server"}},
			acted: []string{"systemctl start k0s.service"}},
		{name: "a unit reading another config names k0s_config_path",
			argv: "controller --config=/etc/k0s/other.yaml", o: Options{Role: Controller, Bootstrap: true, ManageConfig: true, Cluster: cluster()},
			wantErr: "set k0s_config_path: /etc/k0s/other.yaml"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := nixosNode(t, ca, tc.argv)
			n.api["/api/v1/nodes/k0s-w1"] = `{"metadata":{"name":"k0s-w1"}}`
			o := tc.o
			o.Binary = bin // the stand-in node's binary (NixOS' default is tested below)
			r, err := Apply(context.Background(), n.env(), o, false)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				assert.Empty(t, n.acted())
				return
			}
			require.NoError(t, err)
			assert.True(t, r.Changed)
			var acted []string
			for _, c := range n.fake.Calls() {
				if strings.HasPrefix(c, "systemctl start") || strings.Contains(c, " install ") {
					acted = append(acted, c)
				}
			}
			assert.Equal(t, tc.acted, acted)
		})
	}
}

// nixosRelease is the start of a NixOS /etc/os-release (nixpkgs nixos/modules/misc/version.nix).
const nixosRelease = "NAME=NixOS\nID=nixos\nVERSION=\"25.11 (Xantusia)\"\n"

func TestServiceModeIsDetected(t *testing.T) {
	ca := newCA(t)
	n := newNode(t, ca)
	n.file(OSRelease, nixosRelease, 0o644)
	n.fake.Expect(command.Expect{Match: "systemctl show --property=LoadState --property=ExecStart k0s.service", Stdout: "LoadState=loaded\n"})
	_, err := Apply(context.Background(), n.env(), Options{Role: Worker}, false)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no k0s binary at "+NixOSBinary+": NixOS: the guest gets k0s from microvm-guest.k0s.package", "NixOS: nixos mode and the system PATH's k0s by default")

	_, err = Apply(context.Background(), n.env(), Options{Role: Worker, ServiceMode: ServiceGeneric}, false)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "service_mode generic on NixOS (/etc/os-release says ID=nixos)")
	assert.Contains(t, err.Error(), "set k0s_service_mode: nixos")

	plain := newNode(t, ca)
	plain.file(OSRelease, "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n", 0o644)
	r, err := Apply(context.Background(), plain.env(), Options{Role: Worker, Token: joinToken(t, ca, "abc123"), Wait: []string{}}, true)
	require.NoError(t, err, "elsewhere: generic mode with "+DefaultBinary)
	assert.Equal(t, step.WouldChange, statuses(r)["Install the k0s worker service (k0s install)"])
}

// k0sChart is a Chart as k0s' extensions controller creates it from a k0s.yaml entry (k0s
// v1.35.3+k0s.0 pkg/component/controller/extensions_controller.go chartCrdTemplate: spec
// chartName, releaseName = the entry's name, timeout, values as a block scalar, hence a
// leading newline, version, namespace), with the status its updateStatus writes on success
// (releaseName, version, namespace, valuesHash = ChartSpec.HashValues, error "").
func k0sChart(t *testing.T, c wantChart, status map[string]any) string {
	t.Helper()
	spec := map[string]any{"chartName": c.ChartName, "releaseName": c.Name, "timeout": "20m0s",
		"values": "\n" + c.Values, "version": c.Version, "namespace": c.Namespace}
	b, err := json.Marshal(map[string]any{"apiVersion": "helm.k0sproject.io/v1beta1", "kind": "Chart",
		"metadata": map[string]any{"name": c.objectName(), "namespace": "kube-system"}, "spec": spec, "status": status})
	require.NoError(t, err)
	return string(b)
}

func installed(c wantChart) map[string]any {
	return map[string]any{"releaseName": c.Name, "version": c.Version, "namespace": c.Namespace, "appVersion": c.Version,
		"revision": 1, "updated": "2026-12-01 23:00:00.000000001 +0000 UTC m=+15.1", "error": "",
		"valuesHash": ChartValuesHash(c.Name, "\n"+c.Values)}
}

func chartPath(name string) string {
	return "/apis/helm.k0sproject.io/v1beta1/namespaces/kube-system/charts/k0s-addon-chart-" + name
}

func TestChartWaitAgainstWhatK0sWrites(t *testing.T) {
	eachVersion(t, func(t *testing.T) {
		ca := newCA(t)
		cc := cluster()
		cc.Addons.Rook.Enabled = false
		charts, err := optionCharts(cc)
		require.NoError(t, err)
		cilium, openebs := charts[0], charts[1]
		failed := capture(t, "chart-failed.json")
		var failedObj struct {
			Spec   struct{ ReleaseName, Values string }
			Status struct{ Error, ValuesHash string }
		}
		require.NoError(t, json.Unmarshal([]byte(failed), &failedObj))
		require.NotEmpty(t, failedObj.Status.Error)
		assert.Equal(t, ChartValuesHash(failedObj.Spec.ReleaseName, failedObj.Spec.Values), failedObj.Status.ValuesHash,
			"the captured Chart's valuesHash is sha256(releaseName + values), the formula of chart_types.go HashValues")
		oldFormula := installed(cilium)
		oldFormula["valuesHash"] = ChartValuesHash("", "\n"+cilium.Values) // sha256(values): what k0s never writes

		tests := []struct {
			name     string
			objects  map[string]string
			wantErr  string
			maxPolls int
		}{
			{name: "charts whose status carries k0s' own hash are ready", objects: map[string]string{
				chartPath("cilium"): k0sChart(t, cilium, installed(cilium)), chartPath("openebs"): k0sChart(t, openebs, installed(openebs))}},
			{name: "a status hashed over the values alone is not k0s' and never completes", objects: map[string]string{
				chartPath("cilium"): k0sChart(t, cilium, oldFormula), chartPath("openebs"): k0sChart(t, openebs, installed(openebs))},
				wantErr: "last seen: Chart cilium: the new values are not installed yet", maxPolls: 120},
			{name: "every blocking chart is reported", objects: map[string]string{chartPath("cilium"): k0sChart(t, cilium, map[string]any{})},
				wantErr: "last seen: Chart cilium: not installed yet; Chart k0s-addon-chart-openebs not created yet", maxPolls: 120},
			{name: "k0s' error for the current spec fails at once, naming it", objects: map[string]string{
				chartPath("cilium"):  k0sChart(t, cilium, map[string]any{"error": failedObj.Status.Error, "updated": "x", "valuesHash": ChartValuesHash(cilium.Name, "\n"+cilium.Values)}),
				chartPath("openebs"): k0sChart(t, openebs, installed(openebs))},
				wantErr: "the Helm charts installing failed: Chart cilium: k0s reports: " + failedObj.Status.Error, maxPolls: 0},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				n := newNode(t, ca).joined("controller", true, ca)
				writeCurrentConfig(t, n, cc)
				for k, v := range tc.objects {
					n.api[k] = v
				}
				o := opts(ControllerWorker, true)
				o.Cluster = cc
				o.Wait = []string{WaitCharts}
				start := n.env().Now()
				r, err := Apply(context.Background(), n.env(), o, false)
				polls := int(n.clock.Sub(start) / DefaultPollInterval)
				if tc.wantErr != "" {
					require.Error(t, err)
					assert.Contains(t, err.Error(), tc.wantErr)
					assert.LessOrEqual(t, polls, tc.maxPolls)
					return
				}
				require.NoError(t, err)
				assert.False(t, r.Changed, "waiting is not a change")
				assert.Equal(t, step.Waited, statuses(r)["Wait for the Helm charts cilium, openebs"])
			})
		}
	})
}

func TestReadyNeedsNeitherRoleNorAPIAddress(t *testing.T) {
	ca := newCA(t)
	n := newNode(t, ca).joined("controller", true, ca)
	n.api["/api/v1/namespaces/kube-system"] = `{"metadata":{"name":"kube-system","uid":"5f0c-cluster"}}`
	r, err := Ready(context.Background(), n.env(), Options{Wait: []string{WaitAPI}, Cluster: ClusterConfig{Addons: Addons{Cilium: Addon{Enabled: true}}}}, false)
	require.NoError(t, err)
	assert.Equal(t, step.Waited, statuses(r)["Wait for the Kubernetes API (/readyz)"])
	assert.Equal(t, "controller+worker", r.Facts.Role, "the running role")
	assert.Equal(t, "5f0c-cluster", r.Facts.ClusterID)

	_, err = Ready(context.Background(), newNode(t, ca).joined("controller", false, ca).env(), Options{Role: ControllerWorker, Wait: []string{WaitNode}}, false)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "k0s runs here as controller, but role is controller+worker")

	// A failed wait still names the cluster.
	n.readyz = ""
	r, err = Ready(context.Background(), n.env(), Options{Wait: []string{WaitAPI}, Timeout: time.Minute}, false)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "/readyz")
	assert.Equal(t, "5f0c-cluster", r.Facts.ClusterID, "cluster_id is there when a wait fails")
}

func TestConfigFromK0sSource(t *testing.T) {
	cc := cluster()
	cc.DataDir = "/srv/k0s"
	cc.Addons.MonCount = 3
	cc.Addons.OSDNodes = 2
	b, err := cc.Render()
	require.NoError(t, err)
	var doc struct {
		Spec struct {
			API struct {
				ExternalAddress string   `yaml:"externalAddress"`
				SANs            []string `yaml:"sans"`
			} `yaml:"api"`
			Extensions struct {
				Helm struct {
					Charts []struct {
						Name   string `yaml:"name"`
						Values string `yaml:"values"`
					} `yaml:"charts"`
				} `yaml:"helm"`
			} `yaml:"extensions"`
		} `yaml:"spec"`
	}
	require.NoError(t, yaml.Unmarshal(b, &doc))
	assert.Equal(t, "198.18.0.101", doc.Spec.API.ExternalAddress, "api_address is what join tokens name (APISpec.APIAddressURL)")
	assert.Contains(t, doc.Spec.API.SANs, "198.18.0.101")
	values := map[string]map[string]any{}
	for _, c := range doc.Spec.Extensions.Helm.Charts {
		var v map[string]any
		require.NoError(t, yaml.Unmarshal([]byte(c.Values), &v))
		values[c.Name] = v
	}
	assert.Equal(t, "/srv/k0s/kubelet", kube.Dig(values["rook-ceph"], "csi", "kubeletDirPath"), "k0s' kubelet root is <data-dir>/kubelet (cfgvars.go)")
	assert.Equal(t, "/srv/k0s/kubelet", kube.Dig(values["openebs"], "lvm-localpv", "lvmNode", "kubeletDir"))
	assert.Equal(t, false, kube.Dig(values["rook-ceph-cluster"], "cephClusterSpec", "mon", "allowMultiplePerNode"), "three mons never share a node")
	assert.Equal(t, false, kube.Dig(values["openebs"], "localpv-provisioner", "hostpathClass", "isDefaultClass"), "one default StorageClass: Ceph's")
	pools := values["rook-ceph-cluster"]["cephBlockPools"].([]any)
	require.Len(t, pools, 1)
	assert.Equal(t, 2, kube.Dig(pools[0], "spec", "replicated", "size"), "one replica per OSD host")
	assert.Equal(t, true, kube.Dig(pools[0], "storageClass", "isDefault"))

	cc.Addons.Rook.Enabled = false
	cc.Addons.MonCount, cc.Addons.OSDNodes = 1, 1
	b, err = cc.Render()
	require.NoError(t, err)
	assert.Contains(t, string(b), "isDefaultClass: true", "without Rook, OpenEBS' hostpath class is the default")
	one := blockPool(1)
	assert.Equal(t, map[string]any{"size": 1, "requireSafeReplicaSize": false}, kube.Dig(one, "spec", "replicated"), "Rook refuses size 1 unless told")
}

// An error that is not the API's NotFound is never taken for "not there yet": the kube client's
// typed errors decide, not error text ("executable file not found" was once polled as NotFound).
func TestOnlyTheAPIsNotFoundMeansAbsent(t *testing.T) {
	ca := newCA(t)
	n := newNode(t, ca).joined("worker", false, ca)
	require.NoError(t, os.Remove(filepath.Join(n.root, "/var/lib/k0s/kubelet.conf")))
	o := opts(Worker, false)
	o.ClusterCA = ca.FP
	o.Wait = []string{WaitNode}
	_, err := Apply(context.Background(), n.env(), o, false)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "last seen: read kubeconfig: stat ")
	assert.NotContains(t, err.Error(), "not registered yet")

	n = newNode(t, ca).joined("worker", false, ca)
	n.api["/api/v1/nodes/k0s-cp1"] = `{"kind":"Node","metadata":{"name":"k0s-cp1"}}`
	_, err = Apply(context.Background(), n.env(), o, false)
	require.NoError(t, err, "a Node the API serves is registered")
}

// TestEveryCapturedVersionIsReplayed: a capture directory added without its version here
// would go untested.
func TestEveryCapturedVersionIsReplayed(t *testing.T) {
	entries, err := os.ReadDir(filepath.Join("..", "..", "tests", "k0sfake", "testdata"))
	require.NoError(t, err)
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	assert.ElementsMatch(t, dirs, captureVersions)
}

// TestAChartStatusOfAnOlderSpecIsNotK0sVerdict replays the Charts a real k0s v1.35.3 left in
// hK's by-hand run (tests/k0sfake/testdata/v1.35.3/README.md, "By-hand run"): after k0s.yaml
// changed a chart's repository or version and k0s restarted, the Chart kept the old spec and
// its status.error, with the same valuesHash (the values had not changed), until k0s' applier
// rewrote the spec; k0s then reconciled at once. The module failed on that stale error; the
// wait must poll on, and still fail at once on an error written for the current spec.
func TestAChartStatusOfAnOlderSpecIsNotK0sVerdict(t *testing.T) {
	captureVersion = "v1.35.3"
	defer func() { captureVersion = captureVersions[0] }()
	load := func(name string) kube.Object {
		var ob map[string]any
		require.NoError(t, json.Unmarshal([]byte(capture(t, name)), &ob))
		return kube.Object(ob)
	}
	installedObj := load("chart-installed.json")
	// k0s.yaml's entry as the module rendered it in that run (its values, leading newline off).
	want := wantChart{Name: "cilium", Version: "1.18.4", Namespace: "kube-system", ChartName: "cilium/cilium",
		RepoURL: "http://127.0.0.1:8879/", Values: strings.TrimPrefix(installedObj.Str("spec", "values"), "\n")}

	ok, cond, err := chartState(installedObj, want, true)
	require.NoError(t, err)
	assert.True(t, ok, "the chart k0s installed from the loopback repository: %s", cond)
	reinstalled := load("chart-reinstalled.json")
	old := want
	old.Values = strings.TrimPrefix(reinstalled.Str("spec", "values"), "\n")
	ok, cond, err = chartState(reinstalled, old, true)
	require.NoError(t, err)
	assert.True(t, ok, "the chart k0s reinstalled after the failed version: %s", cond)

	// The Chart while k0s.yaml already said 1.18.4 again: spec 1.18.5 and its error.
	stale := load("chart-stale-version.json")
	old.Values = strings.TrimPrefix(stale.Str("spec", "values"), "\n")
	ok, cond, err = chartState(stale, old, true)
	require.NoError(t, err, "an error for spec version 1.18.5 is not k0s' verdict on 1.18.4")
	assert.False(t, ok)
	assert.Contains(t, cond, "has not taken the new version yet (spec says \"1.18.5\", k0s.yaml 1.18.4)")

	// The same object is k0s' verdict while k0s.yaml says 1.18.5: status.updated
	// (20:42:27.27) is after the spec's write (managedFields 20:42:25Z).
	current := old
	current.Version = "1.18.5"
	_, _, err = chartState(stale, current, true)
	var p permanent
	require.ErrorAs(t, err, &p)
	assert.Contains(t, err.Error(), "Chart cilium: k0s reports: can't reconcile upgrade for \"k0s-addon-chart-cilium\": can't locate chart `cilium/cilium-1.18.5`")

	// The window after the applier rewrote the spec and before k0s reconciled it: the spec
	// says 1.18.4, the status is still the error of 1.18.5, written before the spec.
	raced := load("chart-stale-version.json")
	raced["spec"].(map[string]any)["version"] = "1.18.4"
	for _, e := range raced["metadata"].(map[string]any)["managedFields"].([]any) {
		if m := e.(map[string]any); m["subresource"] == nil {
			m["time"] = "2026-12-02T20:42:28Z"
		}
	}
	ok, cond, err = chartState(raced, old, true)
	require.NoError(t, err, "a status written before the current spec is not its verdict")
	assert.False(t, ok)
	assert.Contains(t, cond, "Chart cilium: can't reconcile upgrade")

	// The Chart after the repository moved from 127.0.0.1:1 to the loopback repository: the
	// old spec.repository and the old error.
	failedRepo := load("chart-failed-repository.json")
	old.Values = strings.TrimPrefix(failedRepo.Str("spec", "values"), "\n")
	ok, cond, err = chartState(failedRepo, old, true)
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Contains(t, cond, "has not taken the new repository yet (spec says http://127.0.0.1:1/, k0s.yaml http://127.0.0.1:8879/)")

	ts, err := parseGoTime(stale.Str("status", "updated"))
	require.NoError(t, err)
	assert.Equal(t, "2026-12-02T20:42:27.272921033Z", ts.UTC().Format(time.RFC3339Nano))
}

// TestConfigChartsNameTheirRepository: the wait knows each chart's repository URL from
// k0s.yaml (spec.extensions.helm.repositories by the chartname's prefix), as k0s v1.35 copies
// it into spec.repository (capture chart-installed.json).
func TestConfigChartsNameTheirRepository(t *testing.T) {
	captureVersion = "v1.35.3"
	defer func() { captureVersion = captureVersions[0] }()
	charts, err := configCharts([]byte(capture(t, "config-validate-role-default.yaml")))
	require.NoError(t, err)
	got := map[string]string{}
	for _, c := range charts {
		got[c.Name] = c.ChartName + " " + c.RepoURL
	}
	assert.Equal(t, map[string]string{"cilium": "cilium/cilium https://helm.cilium.io/", "openebs": "openebs/openebs https://openebs.github.io/openebs",
		"rook-ceph": "rook-release/rook-ceph https://charts.rook.io/release", "rook-ceph-cluster": "rook-release/rook-ceph-cluster https://charts.rook.io/release"}, got)
}
