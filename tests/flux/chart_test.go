//go:build flux

package flux_test

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/business-operations/bo.microvm/internal/kube"
)

// k0sFindsChart says whether k0s's helm controller finds the chart of a stored Chart spec
// when k0s.yaml declares no Helm repository (the kick-off never edits k0s.yaml), as the k0s
// source decides it:
//   - k0s v1.35.1+ (the CRD has spec.repository): an embedded repository is used when set
//     (k0sproject/k0s v1.35.2+k0s.0 pkg/component/controller/extensions_controller.go, "prefer
//     embedded Repository over cache lookup"); without it a "repo/chart" name, and also an
//     https URL (whose part before the first "/" is taken as the repository name), is looked up
//     in k0s.yaml's repositories and fails; an oci:// name works anonymously;
//   - older k0s (v1.33.9): chartName goes to Helm's ChartDownloader (pkg/helm/helm.go
//     locateChart), which downloads an absolute http(s) or oci URL directly and needs a
//     k0s.yaml repository for "repo/chart" (helm pkg/downloader/chart_downloader.go
//     ResolveChartVersion).
func k0sFindsChart(crdHasRepository bool, spec map[string]any) bool {
	name, _ := spec["chartName"].(string)
	repo, _ := spec["repository"].(map[string]any)
	if crdHasRepository && repo != nil {
		u, _ := repo["url"].(string)
		return u != "" && name != ""
	}
	if strings.HasPrefix(name, "oci://") {
		return true
	}
	if crdHasRepository {
		return false
	}
	u, err := url.Parse(name)
	return err == nil && u.IsAbs() && u.Host != "" && u.Path != ""
}

func storedChart(t *testing.T, c *cluster) map[string]any {
	t.Helper()
	ch, err := c.kube.Get(context.Background(), kube.Ref{APIVersion: "helm.k0sproject.io/v1beta1", Kind: "Chart", Namespace: "kube-system", Name: "gitea"})
	require.NoError(t, err)
	return ch.Map("spec")
}

// TestGiteaChartResolvesOnEveryK0sChartCRD writes the Gitea Chart into a real API server that
// serves k0s's Chart CRD as k0s v1.33 and as v1.35 define it (the API server prunes what the
// CRD does not declare), checks that k0s's helm controller of that version would find the
// chart, and that a second run leaves the Chart alone (before, spec.repository was pruned on
// v1.33 and the step reported changed on every run). No Gitea runs (nor a helm controller):
// each run stops at "Wait for Gitea".
func TestGiteaChartResolvesOnEveryK0sChartCRD(t *testing.T) {
	for _, tc := range []struct {
		crd     string
		hasRepo bool
	}{{"k0s-chart-crd-v1.33.yaml", false}, {"k0s-chart-crd-v1.35.yaml", true}} {
		t.Run(tc.crd, func(t *testing.T) {
			c := startClusterWithChartCRD(t, tc.crd, false)
			pathDir, _ := gitRecorder(t)
			args := with(baseArgs(c, site(t)), "timeout", 1)
			res, _ := runModule(t, pathDir, args)
			require.Equal(t, true, res["failed"])
			require.Contains(t, res["msg"], "Wait for Gitea: timed out")
			assert.Equal(t, "changed", stepStatus(t, res)["Gitea chart"])
			spec := storedChart(t, c)
			assert.True(t, k0sFindsChart(tc.hasRepo, spec), "k0s of this CRD cannot find the chart of %v", spec)
			if tc.hasRepo {
				assert.Equal(t, "gitea/gitea", spec["chartName"])
				assert.Equal(t, map[string]any{"url": "https://dl.gitea.com/charts/"}, spec["repository"])
			} else {
				assert.Equal(t, "https://dl.gitea.com/charts/gitea-12.4.0.tgz", spec["chartName"])
				assert.NotContains(t, spec, "repository")
			}
			res, _ = runModule(t, pathDir, args)
			assert.Equal(t, "ok", stepStatus(t, res)["Gitea chart"], "the second run finds the Chart up to date")

			if !tc.hasRepo {
				// k0s upgraded to a version whose CRD has spec.repository: the Chart moves to it once.
				b, err := os.ReadFile(filepath.Join(repoRoot(), "internal/flux/testdata/k0s-chart-crd-v1.35.yaml"))
				require.NoError(t, err)
				objs, err := kube.DecodeManifests(b)
				require.NoError(t, err)
				_, err = c.kube.Apply(context.Background(), objs[0], "bo-test")
				require.NoError(t, err)
				// The API server serves a changed CRD schema a moment later: wait until a probe
				// Chart keeps spec.repository.
				probe := kube.Object{"apiVersion": "helm.k0sproject.io/v1beta1", "kind": "Chart",
					"metadata": map[string]any{"name": "probe", "namespace": "kube-system"},
					"spec":     map[string]any{"chartName": "x/y", "repository": map[string]any{"url": "https://probe.invalid/"}}}
				require.Eventually(t, func() bool {
					got, err := c.kube.Apply(context.Background(), probe, "bo-test")
					return err == nil && got.Map("spec", "repository") != nil
				}, 30*time.Second, 200*time.Millisecond)
				require.NoError(t, c.kube.Delete(context.Background(), probe.Ref()))
				res, _ = runModule(t, pathDir, args)
				assert.Equal(t, "changed", stepStatus(t, res)["Gitea chart"])
				assert.True(t, k0sFindsChart(true, storedChart(t, c)))
				res, _ = runModule(t, pathDir, args)
				assert.Equal(t, "ok", stepStatus(t, res)["Gitea chart"])
			}
		})
	}
}
