//go:build flux

package flux_test

import (
	"context"
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/business-operations/bo.microvm/internal/kube"
)

// kube.Client.PortForward through the real kube-apiserver's pods/portforward to the kubelet's
// own port-forward code (the kubelet stand-in, node_test.go), here to an echo server as the
// pod's port 3000: bytes go both ways, and a port nothing listens on ends the stream with the
// kubelet's error text.
func TestPortForwardThroughTheRealAPIServerAndKubeletCode(t *testing.T) {
	c := startClusterWithChartCRD(t, "k0s-chart-crd-v1.35.yaml", false)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer conn.Close(); _, _ = io.Copy(conn, conn) }()
		}
	}()
	c.giteaURL = "http://" + l.Addr().String() // the pod's port 3000 (startNode connects it)
	c.node = startNode(t, c)
	ctx := context.Background()
	_, err = c.kube.Create(ctx, kube.Object{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "gitea"}})
	require.NoError(t, err)
	s := &controllerStandIn{c: c}
	require.NoError(t, s.giteaPod(ctx, "gitea", "gitea", map[string]any{"app": "gitea"}, ""))
	pod := "gitea-7d9c8b6f5-x2x4q"
	mk, err := kube.Load(c.moduleKubeconfig, "")
	require.NoError(t, err)

	conn, err := mk.PortForward(ctx, "gitea", pod, 3000)
	require.NoError(t, err)
	for _, msg := range []string{"hello through the API server", string(make([]byte, 100000))} {
		_, err = conn.Write([]byte(msg))
		require.NoError(t, err)
		buf := make([]byte, len(msg))
		_, err = io.ReadFull(conn, buf)
		require.NoError(t, err)
		assert.Equal(t, msg, string(buf))
	}
	require.NoError(t, conn.Close())

	conn, err = mk.PortForward(ctx, "gitea", pod, 3001)
	require.NoError(t, err, "the upgrade succeeds; the kubelet reports the port on the error channel")
	_, err = conn.Read(make([]byte, 10))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "port-forward to pod gitea/"+pod+" port 3001: error forwarding port 3001 to pod "+pod)
	conn.Close()

	_, err = mk.PortForward(ctx, "gitea", "absent", 3000)
	require.Error(t, err)
	assert.True(t, kube.IsNotFound(err), "a missing pod is the API server's 404: %v", err)
}
