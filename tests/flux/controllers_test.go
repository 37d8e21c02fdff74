//go:build flux

package flux_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/business-operations/bo.microvm/tests/k8s/kubetest"
)

// The real Flux controllers (tests/flux/build: source-controller and kustomize-controller
// v1.9.5, what flux2 v2.9.5 pins) run as processes against the test kube-apiserver:
//
//   - each with its own identity: a client certificate of the test cluster's CA for user
//     system:serviceaccount:flux-system:NAME in groups system:serviceaccounts and
//     system:serviceaccounts:flux-system, so the RBAC of the shipped gotk-components.yaml (which
//     the module applies) is what authorises them, as it does in a cluster;
//   - started once the module has applied Flux's components (their Deployment exists; the
//     module applies Deployments only after the CRDs are Established): the stand-in for the
//     kubelet starting the Deployment's pod;
//   - with leader election off, artifacts stored in a temp dir and served on loopback
//     (--storage-addr/--storage-adv-addr), KUBECONFIG and RUNTIME_NAMESPACE=flux-system as the
//     Deployment's env would give them (machine-facts.md "Real Flux controllers");
//   - in their own mount namespace with a private /etc/hosts in which the in-cluster name
//     gitea-http.gitea.svc.cluster.local is a loopback address where a forwarder listens on port
//     3000 and relays to the test Gitea: the GitRepository clones from the exact URL Flux uses in
//     a cluster, and nothing else on this machine sees that name.
type fluxControllers struct {
	t        *testing.T
	c        *cluster
	dir      string
	hostsIP  string
	fwd      *forwarder
	mu       sync.Mutex
	procs    map[string]*controllerProc
	bins     map[string]string
	stopOnce sync.Once
}

type controllerProc struct {
	cmd    *exec.Cmd
	exited chan struct{}
	health string // host:port of /readyz
	log    string
}

// inClusterGiteaHost is the Service name the module's default in-cluster URL uses.
const inClusterGiteaHost = "gitea-http.gitea.svc.cluster.local"

func controllerBinaries(t *testing.T) map[string]string {
	t.Helper()
	out, err := exec.Command(filepath.Join(repoRoot(), "tests/flux/build"), "source-controller", "kustomize-controller", "sops").CombinedOutput()
	require.NoError(t, err, "tests/flux/build: %s", out)
	bins := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		bins[filepath.Base(line)] = line
	}
	for _, name := range []string{"source-controller", "kustomize-controller", "sops"} {
		require.FileExists(t, bins[name], "tests/flux/build printed no %s", name)
	}
	return bins
}

func startFluxControllers(t *testing.T, c *cluster) *fluxControllers {
	t.Helper()
	for _, bin := range []string{"unshare", "mount"} {
		_, err := exec.LookPath(bin)
		require.NoError(t, err, "%s is needed to give the controllers their own /etc/hosts", bin)
	}
	f := &fluxControllers{t: t, c: c, dir: t.TempDir(), procs: map[string]*controllerProc{}, bins: controllerBinaries(t)}
	u, err := url.Parse(c.giteaURL)
	require.NoError(t, err)
	target := u.Host
	if c.node != nil { // over the pod network: recorded, and through Gitea's (HTTPS) listener
		target = c.node.cloneHop.addr()
	}
	// A loopback address of its own, so port 3000 is free whatever else runs here.
	for i := 0; ; i++ {
		f.hostsIP = fmt.Sprintf("127.%d.%d.1", 10+mrand.IntN(200), 1+mrand.IntN(250))
		f.fwd, err = listenForwarder(f.hostsIP+":3000", target)
		if err == nil || i > 20 {
			break
		}
	}
	require.NoError(t, err)
	hosts := fmt.Sprintf("127.0.0.1 localhost\n%s %s\n", f.hostsIP, inClusterGiteaHost)
	require.NoError(t, os.WriteFile(filepath.Join(f.dir, "hosts"), []byte(hosts), 0o644))
	t.Cleanup(f.stop)
	return f
}

// setGiteaReachable makes the in-cluster Gitea reachable for the controllers or not (the
// forwarder refuses connections), as a Gitea that is down.
func (f *fluxControllers) setGiteaReachable(ok bool) { f.fwd.setDown(!ok) }

func (f *fluxControllers) stop() {
	f.stopOnce.Do(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		for name, p := range f.procs {
			_ = p.cmd.Process.Signal(os.Interrupt)
			select {
			case <-p.exited:
			case <-time.After(10 * time.Second):
				_ = p.cmd.Process.Kill()
				<-p.exited
			}
			if f.t.Failed() || os.Getenv("BO_FLUX_TEST_VERBOSE") != "" {
				b, _ := os.ReadFile(p.log)
				f.t.Logf("%s log (last 40 lines):\n%s", name, tailLines(string(b), 40))
			}
		}
		f.fwd.close()
	})
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ensure starts the named controller when it is not running yet and reports whether it is
// ready (its /readyz answers 200).
func (f *fluxControllers) ensure(name string) (bool, error) {
	f.mu.Lock()
	p := f.procs[name]
	f.mu.Unlock()
	if p == nil {
		var err error
		if p, err = f.start(name); err != nil {
			return false, err
		}
		f.mu.Lock()
		f.procs[name] = p
		f.mu.Unlock()
	}
	select {
	case <-p.exited:
		b, _ := os.ReadFile(p.log)
		return false, fmt.Errorf("%s exited: %s", name, tailLines(string(b), 10))
	default:
	}
	resp, err := http.Get("http://" + p.health + "/readyz")
	if err != nil {
		return false, nil
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK, nil
}

func (f *fluxControllers) start(name string) (*controllerProc, error) {
	bins := f.bins
	kc, err := f.kubeconfig(name)
	if err != nil {
		return nil, err
	}
	// Three ports below the ephemeral range (kubetest.FindFreePorts): health, metrics, storage.
	port, err := kubetest.FindFreePorts(3)
	if err != nil {
		return nil, err
	}
	health := fmt.Sprintf("127.0.0.1:%d", port)
	args := []string{
		"--enable-leader-election=false",
		"--watch-all-namespaces=true",
		"--log-level=debug",
		"--log-encoding=console",
		"--events-addr=",
		fmt.Sprintf("--metrics-addr=127.0.0.1:%d", port+1),
		"--health-addr=" + health,
	}
	if name == "source-controller" {
		storage := fmt.Sprintf("127.0.0.1:%d", port+2)
		dir := filepath.Join(f.dir, "storage")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		args = append(args, "--storage-path="+dir, "--storage-addr="+storage, "--storage-adv-addr="+storage)
	}
	logFile := filepath.Join(f.dir, name+".log")
	lf, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	// Their own mount namespace (private propagation), with the private hosts file over /etc/hosts.
	script := `mount --bind "$1" /etc/hosts && shift && exec "$@"`
	cmd := exec.Command("unshare", append([]string{"--mount", "--propagation", "private", "--", "/bin/sh", "-c", script, "sh",
		filepath.Join(f.dir, "hosts"), bins[name]}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kc, "RUNTIME_NAMESPACE=flux-system", "HOME="+f.dir, "TMPDIR="+f.dir)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Dir = f.dir
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, err
	}
	p := &controllerProc{cmd: cmd, exited: make(chan struct{}), health: health, log: logFile}
	go func() { _ = cmd.Wait(); lf.Close(); close(p.exited) }()
	return p, nil
}

// kubeconfig writes a kubeconfig for the controller's service-account identity, with a client
// certificate signed by the test cluster's CA.
func (f *fluxControllers) kubeconfig(name string) (string, error) {
	caPEM, err := os.ReadFile(filepath.Join(f.c.k8sDir, "ca.crt"))
	if err != nil {
		return "", err
	}
	keyPEM, err := os.ReadFile(filepath.Join(f.c.k8sDir, "ca.key"))
	if err != nil {
		return "", err
	}
	cb, _ := pem.Decode(caPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return "", fmt.Errorf("test CA does not parse")
	}
	ca, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return "", err
	}
	var caKey any
	if caKey, err = x509.ParsePKCS8PrivateKey(kb.Bytes); err != nil {
		if caKey, err = x509.ParsePKCS1PrivateKey(kb.Bytes); err != nil {
			return "", err
		}
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject: pkix.Name{CommonName: "system:serviceaccount:flux-system:" + name,
			Organization: []string{"system:serviceaccounts", "system:serviceaccounts:flux-system"}},
		NotBefore:   time.Now().Add(-time.Minute),
		NotAfter:    time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return "", err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	kPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	b64 := base64.StdEncoding.EncodeToString
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: bo-test
  cluster: {server: %s, certificate-authority-data: %s}
contexts:
- name: %s
  context: {cluster: bo-test, user: %s, namespace: flux-system}
current-context: %s
users:
- name: %s
  user: {client-certificate-data: %s, client-key-data: %s}
`, f.c.k8sURL, b64(caPEM), name, name, name, name, b64(certPEM), b64(kPEM))
	p := filepath.Join(f.dir, name+".kubeconfig")
	return p, os.WriteFile(p, []byte(kc), 0o600)
}

// forwarder relays TCP connections from a loopback address to the test Gitea.
type forwarder struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	down   bool
	active map[net.Conn]bool // relayed connections, closed when the forwarder goes down
}

func listenForwarder(addr, target string) (*forwarder, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	f := &forwarder{l: l, target: target, active: map[net.Conn]bool{}}
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			go f.relay(in)
		}
	}()
	return f, nil
}

// setDown(true) refuses new connections and cuts the open ones (a kept-alive HTTP connection
// would otherwise still reach Gitea).
func (f *forwarder) setDown(down bool) {
	f.mu.Lock()
	f.down = down
	if down {
		for c := range f.active {
			c.Close()
		}
	}
	f.mu.Unlock()
}

func (f *forwarder) relay(in net.Conn) {
	defer in.Close()
	f.mu.Lock()
	down := f.down
	if !down {
		f.active[in] = true
	}
	f.mu.Unlock()
	if down {
		return // accepted and closed at once: the client sees the connection reset
	}
	defer func() {
		f.mu.Lock()
		delete(f.active, in)
		f.mu.Unlock()
	}()
	relay(in, f.target)
}

func (f *forwarder) close() { f.l.Close() }

// useRealFlux makes the cluster's Flux the real controllers: the stand-in's source and
// kustomize parts are off, and its kube-controller-manager part starts the controllers for
// their Deployments and reports them Available when their /readyz answers.
func useRealFlux(t *testing.T, s *controllerStandIn) *fluxControllers {
	f := startFluxControllers(t, s.c)
	s.mu.Lock()
	s.real = f
	s.mu.Unlock()
	return f
}

// fluxDeploymentReady is the stand-in for the kubelet and kube-controller-manager for one of
// Flux's Deployments: with real controllers, source- and kustomize-controller are started
// and Available when ready; helm-controller is not run here (nothing in these tests makes a
// HelmRelease), so its Deployment is only reported Available.
func (s *controllerStandIn) fluxDeploymentReady(name string) (bool, error) {
	s.mu.Lock()
	f := s.real
	s.mu.Unlock()
	if f == nil || name == "helm-controller" {
		return true, nil
	}
	return f.ensure(name)
}
