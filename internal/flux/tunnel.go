// How this module reaches Gitea by default: through the API server's port-forward, never over
// a Service port of the cluster's network (see the module docs' threat model).

package flux

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/business-operations/bo.microvm/internal/kube"
)

// tunnel listens on a loopback port of this machine and carries each accepted connection
// through its own port-forward WebSocket (kube.Client.PortForward: TLS to the API server, then
// the kubelet) to the HTTP port of a Ready pod of the Gitea Service, as `kubectl port-forward
// service/NAME` does. The Gitea client and git talk plain HTTP to the loopback port only; the
// admin password and the tokens leave this machine inside the API server's TLS, and (with
// gitea_tls, the default) inside a TLS connection to Gitea itself that the tunnel verifies
// against the Gitea CA (tls.go).
type tunnel struct {
	k      *kickoff
	l      net.Listener
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	lastErr error
}

// openTunnel starts the tunnel and returns its base URL (http://127.0.0.1:PORT).
func (k *kickoff) openTunnel(ctx context.Context) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("listen on loopback for the port-forward to Gitea: %w", err)
	}
	t := &tunnel{k: k, l: l, conns: map[net.Conn]struct{}{}}
	t.ctx, t.cancel = context.WithCancel(ctx)
	k.tunnel = t
	t.wg.Add(1)
	go t.accept()
	return "http://" + l.Addr().String(), nil
}

func (t *tunnel) accept() {
	defer t.wg.Done()
	for {
		c, err := t.l.Accept()
		if err != nil {
			return
		}
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			t.serve(c)
		}()
	}
}

func (t *tunnel) track(c net.Conn, add bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if add {
		t.conns[c] = struct{}{}
	} else {
		delete(t.conns, c)
	}
}

func (t *tunnel) serve(local net.Conn) {
	t.track(local, true)
	defer t.track(local, false)
	defer local.Close()
	pod, port, err := t.k.giteaEndpoint(t.ctx)
	if err == nil {
		var remote net.Conn
		if remote, err = t.k.kube.PortForward(t.ctx, t.k.o.GiteaNamespace, pod, port); err == nil && !t.k.o.GiteaPlainHTTP {
			remote, err = t.k.giteaTLSConn(t.ctx, remote)
		}
		if err == nil {
			t.track(remote, true)
			defer t.track(remote, false)
			defer remote.Close()
			done := make(chan struct{}, 2)
			go func() { _, _ = io.Copy(remote, local); done <- struct{}{} }()
			go func() { _, _ = io.Copy(local, remote); done <- struct{}{} }()
			<-done // either side ended: the WebSocket has no half-close, so end both
			return
		}
	}
	t.mu.Lock()
	t.lastErr = err
	t.mu.Unlock()
}

// giteaTLSConn runs TLS over a port-forwarded connection to Gitea's HTTPS port, verifying
// Gitea's certificate against the Gitea CA for the in-cluster host name: the pod's side of the
// kubelet (the runtime's connection inside the pod) then carries TLS too, and the plain HTTP
// stays on this machine's loopback port.
func (k *kickoff) giteaTLSConn(ctx context.Context, raw net.Conn) (net.Conn, error) {
	cfg, err := k.tlsClientConfig()
	if err != nil {
		raw.Close()
		return nil, err
	}
	c := tls.Client(raw, cfg)
	if err := c.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("TLS to Gitea (Service %s/%s) through the port-forward: %w", k.o.GiteaNamespace, k.giteaService(), err)
	}
	return c, nil
}

// err is the last failure to open a port-forward, for messages.
func (t *tunnel) err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lastErr
}

// close stops listening and ends every connection still open.
func (t *tunnel) close() {
	t.cancel()
	t.l.Close()
	t.mu.Lock()
	for c := range t.conns {
		c.Close()
	}
	t.mu.Unlock()
	t.wg.Wait()
}

// giteaService is the Service the tunnel resolves, as the in-cluster URL's default names it.
func (k *kickoff) giteaService() string { return k.o.GiteaRelease + "-http" }

// giteaEndpoint picks the pod and container port behind the Gitea Service's HTTP port, as
// kubectl port-forward service/NAME does (k8s.io/kubectl v0.35.3 pkg/util/service_port.go
// LookupContainerPortNumberByServicePort: a headless Service's port is the container port,
// else its targetPort, by number or by the container port's name): the first Ready, running,
// not terminating pod the Service's selector matches, by name.
func (k *kickoff) giteaEndpoint(ctx context.Context) (string, int, error) {
	ns, name := k.o.GiteaNamespace, k.giteaService()
	var svc struct {
		Spec struct {
			ClusterIP string            `json:"clusterIP"`
			Selector  map[string]string `json:"selector"`
			Ports     []struct {
				Name       string `json:"name"`
				Port       int    `json:"port"`
				TargetPort any    `json:"targetPort"`
			} `json:"ports"`
		} `json:"spec"`
	}
	if err := k.kube.Do(ctx, "GET", "/api/v1/namespaces/"+ns+"/services/"+name, "", nil, &svc); err != nil {
		if kube.IsNotFound(err) {
			return "", 0, fmt.Errorf("Service %s/%s (the Gitea chart's HTTP Service) does not exist yet", ns, name)
		}
		return "", 0, err
	}
	if len(svc.Spec.Selector) == 0 || len(svc.Spec.Ports) == 0 {
		return "", 0, fmt.Errorf("Service %s/%s has no selector or no port to forward to", ns, name)
	}
	sp := svc.Spec.Ports[0]
	for _, p := range svc.Spec.Ports {
		if p.Name == "http" {
			sp = p
		}
	}
	sel := make([]string, 0, len(svc.Spec.Selector))
	for key, v := range svc.Spec.Selector {
		sel = append(sel, key+"="+v)
	}
	sort.Strings(sel)
	var pods struct {
		Items []struct {
			Metadata struct {
				Name              string `json:"name"`
				DeletionTimestamp string `json:"deletionTimestamp"`
			} `json:"metadata"`
			Spec struct {
				Containers []struct {
					Ports []struct {
						Name          string `json:"name"`
						ContainerPort int    `json:"containerPort"`
					} `json:"ports"`
				} `json:"containers"`
			} `json:"spec"`
			Status struct {
				Phase      string `json:"phase"`
				Conditions []struct {
					Type   string `json:"type"`
					Status string `json:"status"`
				} `json:"conditions"`
			} `json:"status"`
		} `json:"items"`
	}
	q := "labelSelector=" + url.QueryEscape(strings.Join(sel, ","))
	if err := k.kube.Do(ctx, "GET", "/api/v1/namespaces/"+ns+"/pods?"+q, "", nil, &pods); err != nil {
		return "", 0, err
	}
	sort.Slice(pods.Items, func(i, j int) bool { return pods.Items[i].Metadata.Name < pods.Items[j].Metadata.Name })
	for _, p := range pods.Items {
		ready := false
		for _, c := range p.Status.Conditions {
			ready = ready || (c.Type == "Ready" && c.Status == "True")
		}
		if p.Status.Phase != "Running" || !ready || p.Metadata.DeletionTimestamp != "" {
			continue
		}
		port := sp.Port
		if svc.Spec.ClusterIP != "None" {
			switch tp := sp.TargetPort.(type) {
			case float64:
				if tp != 0 {
					port = int(tp)
				}
			case string:
				if n, err := strconv.Atoi(tp); err == nil {
					port = n
					break
				}
				port = 0
				for _, c := range p.Spec.Containers {
					for _, cp := range c.Ports {
						if cp.Name == tp {
							port = cp.ContainerPort
						}
					}
				}
				if port == 0 {
					return "", 0, fmt.Errorf("pod %s/%s has no container port named %q (Service %s/%s targetPort)", ns, p.Metadata.Name, tp, ns, name)
				}
			}
		}
		return p.Metadata.Name, port, nil
	}
	return "", 0, fmt.Errorf("Service %s/%s selects no Ready running pod (selector %s; %d pods)", ns, name, strings.Join(sel, ","), len(pods.Items))
}
