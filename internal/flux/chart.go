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
	values, err := k.keepServiceClusterIP(ctx, k.giteaValues())
	if err != nil {
		return nil, err
	}
	spec := map[string]any{
		"chartName":   k.o.GiteaChart.Name,
		"releaseName": k.o.GiteaRelease,
		"namespace":   k.o.GiteaNamespace,
		"version":     k.o.GiteaChart.Version,
		"timeout":     k.o.GiteaChart.Timeout,
		"values":      string(marshalYAML(values)),
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
//
// With gitea_tls (the default) Gitea serves HTTPS on its HTTP port, as the Gitea chart 12.4.0
// is configured for it (gitea/helm-gitea v12.4.0, as vendored in linode/apl-core 884f62a975:
// charts/gitea/values.yaml gitea.config.server goes to app.ini; extraVolumes and
// extraContainerVolumeMounts are added to the Deployment's pod and to the gitea container only;
// the liveness, readiness and startup probes are tcpSocket on port http, so HTTPS does not
// break them; gitea.podAnnotations go to the pod template): PROTOCOL=https, CERT_FILE and
// KEY_FILE from Secret gitea_tls_secret mounted at /etc/gitea-tls (tls.crt and tls.key only;
// the CA key is in another Secret that no pod mounts). Gitea reads the pair once, at start
// (go-gitea/gitea v1.26.0 cmd/web_https.go runHTTPS: os.ReadFile, tls.X509KeyPair), so the
// certificate's fingerprint is a pod annotation: a re-issued certificate changes the pod
// template and restarts Gitea. Gitea's own hooks call its internal API over LOCAL_ROOT_URL
// without verifying the certificate (modules/private/internal.go InsecureSkipVerify), so the
// push hooks keep working with a certificate for the Service names only.
func (k *kickoff) giteaValues() map[string]any {
	server := map[string]any{"ROOT_URL": k.o.GiteaInClusterURL + "/", "DISABLE_SSH": true}
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
				"server":   server,
			},
		},
		"postgresql-ha":  map[string]any{"enabled": false},
		"postgresql":     map[string]any{"enabled": false},
		"valkey-cluster": map[string]any{"enabled": false},
		"valkey":         map[string]any{"enabled": false},
		"persistence":    map[string]any{"enabled": true},
	}
	if k.o.GiteaPlainHTTP {
		return kube.Merge(base, k.o.GiteaChart.Values)
	}
	server["PROTOCOL"] = "https"
	server["CERT_FILE"] = tlsMountPath + "/tls.crt"
	server["KEY_FILE"] = tlsMountPath + "/tls.key"
	fp := "to be issued"
	if k.tls != nil {
		fp = k.tls.fingerprint
	}
	base["gitea"].(map[string]any)["podAnnotations"] = map[string]any{tlsPodAnnotation: fp}
	v := kube.Merge(base, k.o.GiteaChart.Values)
	// Lists are replaced by a merge: the TLS volume is added to the user's lists instead.
	appendNamed(v, "extraVolumes", map[string]any{"name": "bo-gitea-tls", "secret": map[string]any{
		"secretName": k.o.GiteaTLSSecret,
		"items":      []any{map[string]any{"key": "tls.crt", "path": "tls.crt"}, map[string]any{"key": "tls.key", "path": "tls.key"}},
	}})
	appendNamed(v, "extraContainerVolumeMounts", map[string]any{"name": "bo-gitea-tls", "mountPath": tlsMountPath, "readOnly": true})
	return v
}

// appendNamed appends item to the list values[key] unless an entry of its name is there.
func appendNamed(values map[string]any, key string, item map[string]any) {
	list, _ := values[key].([]any)
	for _, e := range list {
		if m, ok := e.(map[string]any); ok && m["name"] == item["name"] {
			return
		}
	}
	values[key] = append(list, item)
}

// keepServiceClusterIP handles the chart's HTTP Service as the cluster has it. The chart
// renders spec.clusterIP only for type ClusterIP, from service.http.clusterIP, default None
// (headless) (templates/gitea/http-svc.yaml and values.yaml of the chart, cited above). A
// Service's clusterIP is immutable once set (k8s.io/kubernetes pkg/apis/core/validation
// ValidateServiceUpdate, "may not change once set"), so Helm's upgrade of a release whose
// Service has an allocated address, e.g. one made with this role's earlier NodePort default,
// to the headless default fails on the Service and k0s reports the Chart failed. So:
//
//   - the live Service has an address and the values would render it headless (type
//     ClusterIP, no service.http.clusterIP of the user's): service.http.clusterIP is that
//     address, and Helm's patch keeps it (a ClusterIP Service with the same DNS name, which the
//     in-cluster URL, the certificate and the port-forward serve alike); a nodePort of the
//     earlier NodePort type is dropped by the API server with the type change
//     (pkg/registry/core/service/strategy.go dropTypeDependentFields);
//   - the live Service is headless and the values ask for a type that needs an address
//     (NodePort, LoadBalancer): an error that says to delete the Service first (Helm's upgrade
//     recreates it), as that cannot be patched either.
func (k *kickoff) keepServiceClusterIP(ctx context.Context, values map[string]any) (map[string]any, error) {
	svc, err := k.getOptional(ctx, k.ref("v1", "Service", k.o.GiteaNamespace, k.giteaService()))
	if err != nil || svc == nil {
		return values, err
	}
	live := svc.Str("spec", "clusterIP")
	http := kube.Object(values).Map("service", "http")
	typ, _ := http["type"].(string)
	if typ == "" {
		typ = "ClusterIP"
	}
	_, userIP := kube.Object(k.o.GiteaChart.Values).Map("service", "http")["clusterIP"]
	switch {
	case typ == "ClusterIP" && live != "" && live != "None" && !userIP:
		return kube.Merge(values, map[string]any{"service": map[string]any{"http": map[string]any{"clusterIP": live}}}), nil
	case live == "None" && (typ == "NodePort" || typ == "LoadBalancer"):
		return nil, fmt.Errorf("Service %s/%s is headless (clusterIP None, the chart's default) and gitea_chart.values service.http.type %s needs a cluster IP, which cannot be added to an existing Service (clusterIP is immutable): delete the Service (kubectl -n %s delete service %s) and run again; the chart's upgrade creates it anew",
			k.o.GiteaNamespace, k.giteaService(), typ, k.o.GiteaNamespace, k.giteaService())
	}
	return values, nil
}
