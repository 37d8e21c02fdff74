package k0s

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/business-operations/bo.microvm/internal/command"
	"github.com/business-operations/bo.microvm/internal/kube"
	"github.com/business-operations/bo.microvm/internal/step"
)

// testCA is a cluster CA: its PEM and the fingerprint the module computes.
type testCA struct {
	PEM []byte
	FP  string
}

func newCA(t *testing.T) testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kubernetes-ca"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	sum := sha256.Sum256(der)
	return testCA{PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), FP: hex.EncodeToString(sum[:])}
}

// joinToken makes a k0s join token as `k0s token create` prints it.
func joinToken(t *testing.T, ca testCA, id string) string {
	t.Helper()
	kc := fmt.Sprintf(`apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: %s
    server: https://198.18.0.101:6443
  name: k0s
contexts:
- context:
    cluster: k0s
    user: kubelet-bootstrap
  name: k0s
current-context: k0s
kind: Config
users:
- name: kubelet-bootstrap
  user:
    token: %s.s3cr3tpartofthetok
`, base64.StdEncoding.EncodeToString(ca.PEM), id)
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, err := zw.Write([]byte(kc))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

// node is a stateful stand-in for one machine's k0s, answering through command.Fake: the
// calls it knows change its state as k0s would; anything else fails the run loudly.
type node struct {
	t       *testing.T
	root    string
	fake    *command.Fake
	running bool
	role    string // running role: controller or worker
	workers bool   // controller with --enable-worker
	args    []string
	ca      testCA
	// api holds the objects the stand-in API serves, by REST path; a missing path is a
	// NotFound Status, as a kube-apiserver answers.
	api    map[string]string
	readyz string // /readyz body; "" = 500
	apiSrv *httptest.Server
	// rejectConfig makes `k0s config validate` fail.
	rejectConfig bool
	clock        time.Time
	probed       []string // API URLs the join's reachability check tried
	probeErr     error
}

const bin = "/usr/local/bin/k0s"

func newNode(t *testing.T, ca testCA) *node {
	t.Helper()
	n := &node{t: t, root: t.TempDir(), fake: &command.Fake{}, ca: ca, api: map[string]string{}, readyz: "ok"}
	n.apiSrv = httptest.NewTLSServer(http.HandlerFunc(n.serveAPI))
	t.Cleanup(n.apiSrv.Close)
	n.file(bin, "#!fake k0s\n", 0o755)
	n.fake.Expect(command.Expect{Match: bin + " version", Stdout: "v1.33.4+k0s.0\n"})
	n.fake.Expect(command.Expect{Match: bin + " status -o json", Do: n.status})
	n.fake.Expect(command.Expect{Match: bin + " install ", Prefix: true, Do: n.install})
	n.fake.Expect(command.Expect{Match: bin + " start", Do: n.start})
	n.fake.Expect(command.Expect{Match: bin + " stop", Do: n.stop})
	n.fake.Expect(command.Expect{Match: bin + " config validate --config=", Prefix: true, Do: n.validate})
	n.fake.Expect(command.Expect{Match: bin + " reset --data-dir=/var/lib/k0s", Do: n.reset})
	return n
}

func (n *node) env() Env {
	if n.clock.IsZero() {
		n.clock = time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC)
	}
	return Env{Run: n.fake, Root: n.root, Now: func() time.Time { return n.clock },
		// The module reads the cluster with the node's kubeconfig: it must be there.
		Kube: func(kubeconfig string) (*kube.Client, error) {
			if _, err := os.Stat(kubeconfig); err != nil {
				return nil, fmt.Errorf("read kubeconfig: %w", err)
			}
			return &kube.Client{Server: n.apiSrv.URL, HTTP: n.apiSrv.Client()}, nil
		},
		Probe: func(_ context.Context, url string) error { n.probed = append(n.probed, url); return n.probeErr },
		Sleep: func(_ context.Context, d time.Duration) error { n.clock = n.clock.Add(d); return nil }}
}

func (n *node) file(p, content string, mode os.FileMode) {
	n.t.Helper()
	full := filepath.Join(n.root, p)
	require.NoError(n.t, os.MkdirAll(filepath.Dir(full), 0o755))
	require.NoError(n.t, os.WriteFile(full, []byte(content), mode))
}

func (n *node) exists(p string) bool {
	_, err := os.Stat(filepath.Join(n.root, p))
	return err == nil
}

func (n *node) read(p string) string {
	n.t.Helper()
	b, err := os.ReadFile(filepath.Join(n.root, p))
	require.NoError(n.t, err)
	return string(b)
}

// joined makes the node look like one that joined (or initialised) the cluster of ca and runs.
func (n *node) joined(role string, workers bool, ca testCA) *node {
	n.file("/var/lib/k0s/pki/ca.crt", string(ca.PEM), 0o644)
	if role == "controller" {
		n.file("/var/lib/k0s/pki/admin.conf", "admin", 0o600)
		n.file("/etc/systemd/system/k0scontroller.service", "unit", 0o644)
	} else {
		n.file("/var/lib/k0s/kubelet.conf", "kubelet", 0o600)
		n.file("/etc/systemd/system/k0sworker.service", "unit", 0o644)
	}
	n.running, n.role, n.workers = true, role, workers
	n.args = []string{bin, role, "--data-dir=/var/lib/k0s"}
	if role == "controller" {
		n.args = append(n.args, "--config=/etc/k0s/k0s.yaml")
		if workers {
			n.args = append(n.args, "--enable-worker=true")
		}
	}
	return n
}

func (n *node) status(command.Cmd) (command.Output, error) {
	if !n.running {
		return command.Output{Stderr: []byte("Error: k0s not running\n")}, &command.Error{Cmd: "k0s status", ExitCode: 1, Stderr: "Error: k0s not running\n"}
	}
	b, _ := json.Marshal(map[string]any{"Version": "v1.33.4+k0s.0", "Pid": 42, "Role": n.role, "SysInit": "linux-systemd",
		"StubFile": "/etc/systemd/system/k0s" + n.role + ".service", "Workloads": n.workers || n.role == "worker", "Args": n.args})
	return command.Output{Stdout: b}, nil
}

func (n *node) install(c command.Cmd) (command.Output, error) {
	role := c.Args[1]
	n.role = role
	n.args = append([]string{bin}, c.Args[1:]...)
	n.workers = strings.Contains(strings.Join(c.Args, " "), "--enable-worker=true")
	n.file("/etc/systemd/system/k0s"+role+".service", "unit", 0o644)
	return command.Output{}, nil
}

func (n *node) start(command.Cmd) (command.Output, error) {
	if n.running {
		return command.Output{}, &command.Error{Cmd: "k0s start", ExitCode: 1, Stderr: "already running"}
	}
	n.running = true
	n.file("/var/lib/k0s/pki/ca.crt", string(n.ca.PEM), 0o644)
	if n.role == "controller" {
		n.file("/var/lib/k0s/pki/admin.conf", "admin", 0o600)
	} else {
		n.file("/var/lib/k0s/kubelet.conf", "kubelet", 0o600)
	}
	return command.Output{}, nil
}

func (n *node) validate(c command.Cmd) (command.Output, error) {
	if n.rejectConfig {
		msg := "Error: spec.extensions.helm.charts[0].chartname: Required value\n"
		return command.Output{Stderr: []byte(msg)}, &command.Error{Cmd: c.String(), ExitCode: 1, Stderr: msg}
	}
	return command.Output{}, nil
}

func (n *node) stop(command.Cmd) (command.Output, error) {
	n.running = false
	return command.Output{}, nil
}

func (n *node) reset(command.Cmd) (command.Output, error) {
	require.False(n.t, n.running, "k0s reset while running")
	require.NoError(n.t, os.RemoveAll(filepath.Join(n.root, "/var/lib/k0s")))
	_ = os.Remove(filepath.Join(n.root, "/etc/systemd/system/k0scontroller.service"))
	_ = os.Remove(filepath.Join(n.root, "/etc/systemd/system/k0sworker.service"))
	return command.Output{}, nil
}

// discovery is what the stand-in API serves per group version (as a kube-apiserver's
// /api/v1 and /apis/<group>/<version> list their resources).
var discovery = map[string]string{
	"/api/v1":                          `{"resources":[{"name":"nodes","kind":"Node","namespaced":false},{"name":"namespaces","kind":"Namespace","namespaced":false},{"name":"secrets","kind":"Secret","namespaced":true}]}`,
	"/apis/apps/v1":                    `{"resources":[{"name":"deployments","kind":"Deployment","namespaced":true},{"name":"daemonsets","kind":"DaemonSet","namespaced":true}]}`,
	"/apis/storage.k8s.io/v1":          `{"resources":[{"name":"storageclasses","kind":"StorageClass","namespaced":false}]}`,
	"/apis/helm.k0sproject.io/v1beta1": `{"resources":[{"name":"charts","kind":"Chart","namespaced":true},{"name":"charts/status","kind":"Chart","namespaced":true}]}`,
	"/apis/ceph.rook.io/v1":            `{"resources":[{"name":"cephclusters","kind":"CephCluster","namespaced":true}]}`,
}

func (n *node) serveAPI(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "the stand-in API only serves GET", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path == "/readyz" {
		if n.readyz == "" {
			http.Error(w, "[-]etcd failed: reason withheld\nreadyz check failed", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, n.readyz)
		return
	}
	body, ok := discovery[r.URL.Path]
	if !ok {
		body, ok = n.api[r.URL.Path]
	}
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"%s not found","reason":"NotFound","code":404}`, r.URL.Path)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, body)
}

// acted are the calls that change something.
func (n *node) acted() []string {
	var out []string
	for _, c := range n.fake.Calls() {
		rest := strings.TrimPrefix(c, bin+" ")
		if strings.HasPrefix(rest, "systemctl show") || strings.HasPrefix(rest, "version") || strings.HasPrefix(rest, "status") || strings.HasPrefix(rest, "token list") || strings.HasPrefix(rest, "etcd member-list") {
			continue
		}
		out = append(out, rest)
	}
	return out
}

func statuses(r *Result) map[string]step.Status {
	out := map[string]step.Status{}
	for _, s := range r.Steps {
		out[s.Title] = s.Status
	}
	return out
}
