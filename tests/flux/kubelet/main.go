// Command kubelet serves the kubelet's port-forward endpoint for the flux suite: the one part of
// a node the API server's pods/portforward needs. The API server connects to a Node's kubelet
// endpoint (status.daemonEndpoints.kubeletEndpoint.Port at an InternalIP) and proxies the
// client's upgrade to https://NODE:PORT/portForward/NAMESPACE/POD?ports=P (k8s.io/kubernetes
// v1.35.3 pkg/registry/core/pod/strategy.go PortForwardLocation). Here that request is served by
// the kubelet's own streaming code, k8s.io/kubelet v0.35.3 pkg/cri/streaming/portforward
// (ServePortForward: WebSocket v4.channel.k8s.io or SPDY portforward.k8s.io, exactly as the
// kubelet and the container runtime's streaming server answer), and the one stand-in part is
// what the runtime does inside the pod's network namespace: connect to the container port. Every
// pod's port -port is connected to -target (the test Gitea, through the suite's recorder); any
// other port fails the way a closed port does.
//
//	kubelet -listen 127.0.0.1:P -cert C -key K -port 3000 -target 127.0.0.1:G
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/kubelet/pkg/cri/streaming/portforward"
)

type forwarder struct {
	port   int32
	target string
}

// PortForward is the container runtime's part (portforward.PortForwarder): copy between the
// stream and the pod's port until either side ends.
func (f forwarder) PortForward(ctx context.Context, name string, uid types.UID, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	if port != f.port {
		return fmt.Errorf("pod %s: connection refused on port %d", name, port)
	}
	c, err := (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, "tcp", f.target)
	if err != nil {
		return err
	}
	defer c.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(c, stream); done <- struct{}{} }()
	go func() { _, _ = io.Copy(stream, c); done <- struct{}{} }()
	<-done
	return nil
}

func main() {
	listen := flag.String("listen", "127.0.0.1:10250", "address to serve on")
	cert := flag.String("cert", "", "TLS certificate")
	key := flag.String("key", "", "TLS key")
	port := flag.Int("port", 3000, "the pods' container port")
	target := flag.String("target", "", "host:port the container port is connected to")
	flag.Parse()
	fwd := forwarder{port: int32(*port), target: *target}
	mux := http.NewServeMux()
	mux.HandleFunc("/portForward/{namespace}/{pod}", func(w http.ResponseWriter, r *http.Request) {
		opts, err := portforward.NewV4Options(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		log.Printf("portForward %s/%s ports %v", r.PathValue("namespace"), r.PathValue("pod"), opts.Ports)
		portforward.ServePortForward(w, r, fwd, r.PathValue("pod"), "", opts, 4*time.Hour, 30*time.Second, portforward.SupportedProtocols)
	})
	srv := &http.Server{
		Addr:    *listen,
		Handler: mux,
		// HTTP/1.1 only, as an upgrade needs (the kubelet's server negotiates it for upgrades too).
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
	}
	log.Fatal(srv.ListenAndServeTLS(*cert, *key))
}
