// The Gitea chart as a k0s helm.k0sproject.io/v1beta1 Chart, in the form the cluster's k0s
// reads (part of the Gitea bootstrap).

package flux

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/business-operations/bo.microvm/internal/kube"
)

// chartCRD is k0s's Chart CRD.
var chartCRD = kube.Ref{APIVersion: "apiextensions.k8s.io/v1", Kind: "CustomResourceDefinition", Name: "charts.helm.k0sproject.io"}

// chartHasRepository reads the cluster's Chart CRD and reports whether it declares
// spec.repository. k0s added that field in v1.35.1 (k0sproject/k0s e6b0222617, "Embed repo
// info to Chart CRD": pkg/apis/helm/v1beta1/chart_types.go ChartSpec.Repository); older k0s
// (v1.33.9 and v1.35.0 have the same ChartSpec without it) serves a structural schema without
// the field, so the API server prunes it and the helm controller can only resolve a
// "repo/chart" name through a repository of k0s.yaml. The answer is cached for the run.
func (k *kickoff) chartHasRepository(ctx context.Context) (bool, error) {
	if k.chartRepoField != nil {
		return *k.chartRepoField, nil
	}
	crd, err := k.getOptional(ctx, chartCRD)
	if err != nil {
		return false, err
	}
	if crd == nil {
		return false, fmt.Errorf("the cluster has no CustomResourceDefinition %s: the Gitea chart needs k0s's helm controller (a k0s cluster)", chartCRD.Name)
	}
	has := crdDeclaresRepository(crd)
	k.chartRepoField = &has
	return has, nil
}

// crdDeclaresRepository reports whether the Chart CRD's v1beta1 schema keeps spec.repository
// (declares it, or preserves unknown fields under spec).
func crdDeclaresRepository(crd kube.Object) bool {
	versions, _ := crd.Get("spec", "versions").([]any)
	for _, v := range versions {
		m, _ := v.(map[string]any)
		if m["name"] != "v1beta1" {
			continue
		}
		spec := kube.Object(m).Map("schema", "openAPIV3Schema", "properties", "spec")
		_, declared := kube.Object(spec).Map("properties")["repository"]
		preserve, _ := spec["x-kubernetes-preserve-unknown-fields"].(bool)
		return declared || preserve
	}
	return false
}

// chartURL is the chart archive's URL in a classic Helm repository laid out as
// dl.gitea.com/charts is (REPO_URL/NAME-VERSION.tgz), or the name itself when it is already a
// URL (https://..., oci://...).
func (k *kickoff) chartURL() string {
	c := k.o.GiteaChart
	if strings.Contains(c.Name, "://") {
		return c.Name
	}
	return strings.TrimRight(c.RepoURL, "/") + "/" + path.Base(c.Name) + "-" + c.Version + ".tgz"
}

// chartObject is the k0s helm.k0sproject.io/v1beta1 Chart that installs Gitea (k0s's helm
// controller reconciles Chart objects in kube-system; deleting it uninstalls the release).
//
// On k0s with spec.repository (v1.35.1+) the chart is NAME from spec.repository.url: the k0s
// ChartReconciler prefers an embedded repository over k0s.yaml's (k0s v1.35.2,
// pkg/component/controller/extensions_controller.go, "prefer embedded Repository over cache
// lookup"); a URL as chartName would not do there, as it looks the part before the first "/"
// up as a repository name. On older k0s chartName is the archive's URL: its helm controller
// hands chartName to Helm's ChartDownloader (k0s v1.33.9 pkg/helm/helm.go locateChart), which
// downloads an absolute URL directly when no configured repository owns it
// (helm/helm pkg/downloader/chart_downloader.go ResolveChartVersion, ErrNoOwnerRepo).
func (k *kickoff) chartObject(ctx context.Context) (kube.Object, error) {
	hasRepo, err := k.chartHasRepository(ctx)
	if err != nil {
		return nil, err
	}
	spec := map[string]any{
		"chartName":   k.o.GiteaChart.Name,
		"releaseName": k.o.GiteaRelease,
		"namespace":   k.o.GiteaNamespace,
		"version":     k.o.GiteaChart.Version,
		"timeout":     k.o.GiteaChart.Timeout,
		"values":      string(marshalYAML(k.giteaValues())),
	}
	if hasRepo {
		spec["repository"] = map[string]any{"url": k.o.GiteaChart.RepoURL}
	} else {
		spec["chartName"] = k.chartURL()
	}
	return kube.Object{
		"apiVersion": "helm.k0sproject.io/v1beta1",
		"kind":       "Chart",
		"metadata":   map[string]any{"name": k.o.GiteaRelease, "namespace": "kube-system", "labels": labels()},
		"spec":       spec,
	}, nil
}

// giteaValues are the chart values a bootstrap Gitea needs, under the user's values: sqlite,
// no PostgreSQL/Valkey sub-charts, the admin from the Secret this module keeps (kept updated on
// every pod start, never "must change password", which would make every API call 403), and
// ROOT_URL set to the in-cluster URL so that clone URLs point where Flux looks.
func (k *kickoff) giteaValues() map[string]any {
	base := map[string]any{
		"gitea": map[string]any{
			"admin": map[string]any{
				"existingSecret": k.o.GiteaAdminSecret,
				"email":          k.o.GiteaAdminEmail,
				"passwordMode":   "keepUpdated",
			},
			"config": map[string]any{
				"database": map[string]any{"DB_TYPE": "sqlite3"},
				"session":  map[string]any{"PROVIDER": "memory"},
				"cache":    map[string]any{"ADAPTER": "memory"},
				"queue":    map[string]any{"TYPE": "level"},
				"server":   map[string]any{"ROOT_URL": k.o.GiteaInClusterURL + "/", "DISABLE_SSH": true},
			},
		},
		"postgresql-ha":  map[string]any{"enabled": false},
		"postgresql":     map[string]any{"enabled": false},
		"valkey-cluster": map[string]any{"enabled": false},
		"valkey":         map[string]any{"enabled": false},
		"persistence":    map[string]any{"enabled": true},
	}
	return kube.Merge(base, k.o.GiteaChart.Values)
}
