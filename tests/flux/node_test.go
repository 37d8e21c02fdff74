//go:build flux

package flux_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/business-operations/bo.microvm/internal/kube"
	"github.com/business-operations/bo.microvm/tests/k8s/kubetest"
)

// The node the Gitea pod runs on, as far as the API server's pods/portforward needs one: a
// Node object whose kubelet endpoint is the kubelet stand-in (tests/flux/kubelet: the kubelet's
// own streaming code, k8s.io/kubelet pkg/cri/streaming/portforward), which connects the pod's
// port 3000 to the test Gitea. Each hop of the module's default path runs through a recorder
// that keeps every byte both ways:
//
//	module --(TLS)--> [apiHop] --> kube-apiserver --(TLS)--> [kubeletHop] --> kubelet stand-in
//	       --> [podHop] --> Gitea
//
// apiHop and kubeletHop are the hops that cross a network in a cluster; podHop is the
// connection inside the pod's network namespace (plain HTTP by design), recorded to show the
// recorders see the module's traffic: there the token is in clear, so a check that looked at
// the wrong bytes could not pass unnoticed.
const standInNode = "standin-node"

type node struct {
	apiHop, kubeletHop, podHop *recorder
	// cloneHop is source-controller's connection to Gitea over the pod network (the
	// controllers' /etc/hosts name for the Service leads there); insideHop is behind Gitea's
	// HTTPS listener (https), inside the Gitea process in a cluster.
	cloneHop, insideHop *recorder
	https               *giteaListener
	kubelet             *exec.Cmd
	kubeletLog          string
}

// giteaListener stands in for Gitea's own listener on its HTTP port: with the chart's
// PROTOCOL=https it serves TLS with the certificate and key the pod's CERT_FILE and KEY_FILE
// would hold (read from the Secret the chart values mount, parsed with tls.X509KeyPair as
// Gitea's runHTTPS does, once per pod start), else plain HTTP; either way it relays the
// decrypted stream to the test Gitea (through insideHop).
type giteaListener struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	pair   *tls.Certificate
}

func startGiteaListener(t *testing.T, target string) *giteaListener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	g := &giteaListener{l: l, target: target}
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			go g.serve(in)
		}
	}()
	t.Cleanup(func() { l.Close() })
	return g
}

// setPair is a pod start: nil serves plain HTTP.
func (g *giteaListener) setPair(p *tls.Certificate) {
	g.mu.Lock()
	g.pair = p
	g.mu.Unlock()
}

func (g *giteaListener) serve(in net.Conn) {
	defer in.Close()
	g.mu.Lock()
	pair := g.pair
	g.mu.Unlock()
	if pair != nil {
		tc := tls.Server(in, &tls.Config{Certificates: []tls.Certificate{*pair}})
		if err := tc.Handshake(); err != nil {
			return
		}
		in = tc
	}
	relay(in, g.target)
}

// relay dials target and copies both ways between it and in until either side ends.
func relay(in net.Conn, target string) {
	out, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer out.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(out, in); done <- struct{}{} }()
	go func() { _, _ = io.Copy(in, out); done <- struct{}{} }()
	<-done
}

// recorder relays TCP connections from its loopback port to target and keeps every byte.
type recorder struct {
	name   string
	l      net.Listener
	target string
	mu     sync.Mutex
	sent   bytes.Buffer // towards target
	got    bytes.Buffer // back from target
	conns  int
}

func startRecorder(t *testing.T, name, target string) *recorder {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	r := &recorder{name: name, l: l, target: target}
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			go r.relay(in)
		}
	}()
	t.Cleanup(func() { l.Close() })
	return r
}

func (r *recorder) addr() string { return r.l.Addr().String() }

func (r *recorder) port() int { return r.l.Addr().(*net.TCPAddr).Port }

type recordingWriter struct {
	r   *recorder
	buf *bytes.Buffer
	w   io.Writer
}

func (w recordingWriter) Write(p []byte) (int, error) {
	w.r.mu.Lock()
	w.buf.Write(p)
	w.r.mu.Unlock()
	return w.w.Write(p)
}

func (r *recorder) relay(in net.Conn) {
	defer in.Close()
	out, err := net.Dial("tcp", r.target)
	if err != nil {
		return
	}
	defer out.Close()
	r.mu.Lock()
	r.conns++
	r.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(recordingWriter{r, &r.sent, out}, in); done <- struct{}{} }()
	go func() { _, _ = io.Copy(recordingWriter{r, &r.got, in}, out); done <- struct{}{} }()
	<-done
}

// bytes returns everything relayed so far, both ways, and the number of connections.
func (r *recorder) bytes() (sent, got []byte, conns int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.sent.Bytes()), bytes.Clone(r.got.Bytes()), r.conns
}

// startNode starts the recorders and the kubelet stand-in, registers the Node and writes the
// module's kubeconfig (the cluster's, with the server behind apiHop).
func startNode(t *testing.T, c *cluster) *node {
	t.Helper()
	out, err := exec.Command(filepath.Join(repoRoot(), "tests/flux/build"), "kubelet").CombinedOutput()
	require.NoError(t, err, "tests/flux/build kubelet: %s", out)
	bin := strings.TrimSpace(string(out))
	bin = bin[strings.LastIndex(bin, "\n")+1:]
	require.FileExists(t, bin)

	n := &node{}
	n.insideHop = startRecorder(t, "inside Gitea", strings.TrimPrefix(c.giteaURL, "http://"))
	n.https = startGiteaListener(t, n.insideHop.addr())
	n.podHop = startRecorder(t, "pod", n.https.l.Addr().String())
	n.cloneHop = startRecorder(t, "clone", n.https.l.Addr().String())
	dir := t.TempDir()
	cert, key := selfSignedServing(t, dir)
	kport := kubetest.FreePorts(t, 1) // below the ephemeral range: no connection takes it meanwhile
	n.kubeletLog = filepath.Join(dir, "kubelet.log")
	lf, err := os.Create(n.kubeletLog)
	require.NoError(t, err)
	n.kubelet = exec.Command(bin, "-listen", fmt.Sprintf("127.0.0.1:%d", kport), "-cert", cert, "-key", key, "-port", "3000", "-target", n.podHop.addr())
	n.kubelet.Stdout, n.kubelet.Stderr = lf, lf
	require.NoError(t, n.kubelet.Start())
	t.Cleanup(func() {
		_ = n.kubelet.Process.Kill()
		_ = n.kubelet.Wait()
		lf.Close()
		if t.Failed() || os.Getenv("BO_FLUX_TEST_VERBOSE") != "" {
			b, _ := os.ReadFile(n.kubeletLog)
			t.Logf("kubelet stand-in log:\n%s", tailLines(string(b), 30))
		}
	})
	require.Eventually(t, func() bool {
		conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", kport))
		if err == nil {
			conn.Close()
		}
		return err == nil
	}, 10*time.Second, 50*time.Millisecond, "kubelet stand-in listens")
	n.kubeletHop = startRecorder(t, "kubelet", fmt.Sprintf("127.0.0.1:%d", kport))
	n.apiHop = startRecorder(t, "apiserver", strings.TrimPrefix(c.k8sURL, "https://"))

	_, err = c.kube.Create(context.Background(), kube.Object{"apiVersion": "v1", "kind": "Node",
		"metadata": map[string]any{"name": standInNode},
		// Nodes keep status on create (k8s.io/kubernetes v1.35.3 pkg/registry/core/node/strategy.go
		// PrepareForCreate drops disabled fields only); the API server dials the InternalIP at the
		// kubelet endpoint's port (pkg/kubelet/client/kubelet_client.go GetConnectionInfo).
		"status": map[string]any{
			"addresses":       []any{map[string]any{"type": "InternalIP", "address": "127.0.0.1"}},
			"daemonEndpoints": map[string]any{"kubeletEndpoint": map[string]any{"Port": n.kubeletHop.port()}},
		}})
	require.NoError(t, err)

	kc, err := os.ReadFile(c.kubeconfig)
	require.NoError(t, err)
	require.Contains(t, string(kc), "server: "+c.k8sURL)
	c.moduleKubeconfig = filepath.Join(dir, "module.kubeconfig")
	require.NoError(t, os.WriteFile(c.moduleKubeconfig, []byte(strings.Replace(string(kc), "server: "+c.k8sURL, "server: https://"+n.apiHop.addr(), 1)), 0o600))
	return n
}

// selfSignedServing writes a serving certificate for 127.0.0.1 (the API server dials a kubelet
// without verifying it when no --kubelet-certificate-authority is set, as in the test cluster:
// k8s.io/kubernetes v1.35.3 pkg/kubelet/client/kubelet_client.go transportConfig).
func selfSignedServing(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: standInNode},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kb, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certFile, keyFile = filepath.Join(dir, "kubelet.crt"), filepath.Join(dir, "kubelet.key")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600))
	return certFile, keyFile
}

// giteaPod is what the Gitea chart's Deployment would run on the node: the pod behind Service
// gitea-http that the module's port-forward selects (labels as the Deployment's selector),
// Running and Ready, with the container port named http.
func (s *controllerStandIn) giteaPod(ctx context.Context, ns, release string, labels map[string]any, serviceType string) error {
	if sa, err := s.get(ctx, kube.Ref{APIVersion: "v1", Kind: "ServiceAccount", Namespace: ns, Name: "default"}); err != nil {
		return err
	} else if sa == nil { // kube-controller-manager's service account controller makes it
		if _, err := s.c.kube.Create(ctx, kube.Object{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": map[string]any{"name": "default", "namespace": ns}}); err != nil && !kube.IsConflict(err) {
			return err
		}
	}
	svcRef := kube.Ref{APIVersion: "v1", Kind: "Service", Namespace: ns, Name: release + "-http"}
	svc, err := s.get(ctx, svcRef)
	if err != nil {
		return err
	}
	if svc == nil {
		spec := map[string]any{"selector": labels, "ports": []any{map[string]any{"name": "http", "port": 3000, "targetPort": "http"}}}
		if serviceType == "" {
			spec["clusterIP"] = "None" // the chart's default HTTP Service is headless (k0s-flux.md 5.1)
		} else {
			spec["type"] = serviceType
		}
		if _, err := s.c.kube.Create(ctx, kube.Object{"apiVersion": "v1", "kind": "Service", "metadata": map[string]any{"name": svcRef.Name, "namespace": ns, "labels": labels}, "spec": spec}); err != nil {
			return err
		}
	}
	podRef := kube.Ref{APIVersion: "v1", Kind: "Pod", Namespace: ns, Name: release + "-7d9c8b6f5-x2x4q"}
	pod, err := s.get(ctx, podRef)
	if err != nil {
		return err
	}
	if pod == nil {
		if _, err := s.c.kube.Create(ctx, kube.Object{"apiVersion": "v1", "kind": "Pod",
			"metadata": map[string]any{"name": podRef.Name, "namespace": ns, "labels": labels},
			"spec": map[string]any{"nodeName": standInNode, "automountServiceAccountToken": false,
				"containers": []any{map[string]any{"name": "gitea", "image": "docker.gitea.com/gitea:1.26.0-rootless",
					"ports": []any{map[string]any{"name": "http", "containerPort": 3000}}}}},
		}); err != nil {
			return err
		}
		now := time.Now().UTC().Format(time.RFC3339)
		_, err = s.c.kube.MergePatch(ctx, podRef, "status", map[string]any{"status": map[string]any{
			"phase": "Running", "podIP": "127.0.0.1",
			"conditions": []any{map[string]any{"type": "Ready", "status": "True", "lastTransitionTime": now}},
		}})
		return err
	}
	return nil
}
