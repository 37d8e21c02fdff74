//go:build flux

package flux_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/business-operations/bo.microvm/internal/kube"
)

// The upgrade hazard of the chart's HTTP Service: a cluster bootstrapped with this role's
// earlier default (service.http.type NodePort, nodePort 30300, plain HTTP) upgraded to today's
// (the chart's own type: ClusterIP, rendered headless, clusterIP None; HTTPS).
func TestGiteaServiceUpgradeFromTheNodePortDefault(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()

	t.Run("the real API server refuses to make an allocated Service headless, and keeps one with its address", func(t *testing.T) {
		_, err := c.kube.Create(ctx, kube.Object{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "hazard"}})
		require.NoError(t, err)
		ref := kube.Ref{APIVersion: "v1", Kind: "Service", Namespace: "hazard", Name: "gitea-http"}
		svc, err := c.kube.Create(ctx, kube.Object{"apiVersion": "v1", "kind": "Service", "metadata": map[string]any{"name": ref.Name, "namespace": ref.Namespace},
			"spec": map[string]any{"type": "NodePort", "selector": map[string]any{"app": "gitea"},
				"ports": []any{map[string]any{"name": "http", "port": 3000, "targetPort": 3000, "nodePort": 30301}}}})
		require.NoError(t, err)
		ip := svc.Str("spec", "clusterIP")
		require.NotEmpty(t, ip)
		require.NotEqual(t, "None", ip)
		// What the chart renders by default, patched over it as Helm's upgrade does.
		_, err = c.kube.MergePatch(ctx, ref, "", map[string]any{"spec": map[string]any{"type": "ClusterIP", "clusterIP": "None",
			"ports": []any{map[string]any{"name": "http", "port": 3000, "targetPort": 3000}}}})
		require.Error(t, err)
		assert.True(t, kube.IsInvalid(err), "422: %v", err)
		assert.Contains(t, err.Error(), "may not change once set", "the API server's own words")
		t.Logf("headless over an allocated Service: %v", err)
		// With service.http.clusterIP = the live address (what flux_kickoff puts in the values).
		got, err := c.kube.MergePatch(ctx, ref, "", map[string]any{"spec": map[string]any{"type": "ClusterIP", "clusterIP": ip,
			"ports": []any{map[string]any{"name": "http", "port": 3000, "targetPort": 3000}}}})
		require.NoError(t, err)
		assert.Equal(t, "ClusterIP", got.Str("spec", "type"))
		assert.Equal(t, ip, got.Str("spec", "clusterIP"))
		// And the other way: a headless Service cannot become a NodePort one.
		_, err = c.kube.Create(ctx, kube.Object{"apiVersion": "v1", "kind": "Service", "metadata": map[string]any{"name": "headless", "namespace": ref.Namespace},
			"spec": map[string]any{"clusterIP": "None", "selector": map[string]any{"app": "gitea"}, "ports": []any{map[string]any{"name": "http", "port": 3000}}}})
		require.NoError(t, err)
		_, err = c.kube.MergePatch(ctx, kube.Ref{APIVersion: "v1", Kind: "Service", Namespace: "hazard", Name: "headless"}, "",
			map[string]any{"spec": map[string]any{"type": "NodePort"}})
		require.Error(t, err)
		assert.True(t, kube.IsInvalid(err), "422: %v", err)
		t.Logf("NodePort over a headless Service: %v", err)
	})

	useRealFlux(t, startStandIn(t, c))
	pathDir, _ := gitRecorder(t)
	old := with(baseArgs(c, site(t)), "gitea_tls", false,
		"gitea_chart", map[string]any{"values": map[string]any{"service": map[string]any{"http": map[string]any{"type": "NodePort", "nodePort": 30300}}}})
	svcRef := kube.Ref{APIVersion: "v1", Kind: "Service", Namespace: "gitea", Name: "gitea-http"}
	var ip string
	ok := t.Run("a cluster made with the old NodePort default", func(t *testing.T) {
		res, _ := runModule(t, pathDir, old)
		require.Equal(t, false, res["failed"], "%v", res["msg"])
		svc, err := c.kube.Get(ctx, svcRef)
		require.NoError(t, err)
		assert.Equal(t, "NodePort", svc.Str("spec", "type"))
		ip = svc.Str("spec", "clusterIP")
		require.NotEqual(t, "None", ip)
	})
	require.True(t, ok)

	t.Run("upgraded to today's defaults keeps the Service's address and works, then changes nothing", func(t *testing.T) {
		args := with(old, "gitea_tls", true, "gitea_chart", map[string]any{"values": map[string]any{}})
		res, _ := runModule(t, pathDir, args)
		require.Equal(t, false, res["failed"], "%v", res["msg"])
		st := stepStatus(t, res)
		for _, s := range []string{"Gitea TLS certificate", "Gitea chart", "Flux Git credentials", "Repository content", "Flux sync objects", "Flux reconciliation"} {
			assert.Equal(t, "changed", st[s], s)
		}
		svc, err := c.kube.Get(ctx, svcRef)
		require.NoError(t, err)
		assert.Equal(t, "ClusterIP", svc.Str("spec", "type"), "the chart's own type")
		assert.Equal(t, ip, svc.Str("spec", "clusterIP"), "the address is kept (it cannot become None)")
		assert.Empty(t, svc.Get("spec", "ports").([]any)[0].(map[string]any)["nodePort"], "nothing is exposed on the nodes any more")
		chart, err := c.kube.Get(ctx, kube.Ref{APIVersion: "helm.k0sproject.io/v1beta1", Kind: "Chart", Namespace: "kube-system", Name: "gitea"})
		require.NoError(t, err)
		assert.Empty(t, chart.Str("status", "error"), "the helm upgrade (stand-in, judged by the real API server) succeeded")
		repoRev, ksRev := fluxStatus(t, c)
		assert.Equal(t, res["revision"], repoRev, "source-controller fetched over HTTPS")
		assert.Equal(t, res["revision"], ksRev)
		res, _ = runModule(t, pathDir, args)
		require.Equal(t, false, res["failed"], "%v", res["msg"])
		assert.Equal(t, false, res["changed"], "%v", changedSteps(t, res))
	})
}
