//go:build flux

package flux_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/business-operations/bo.microvm/internal/kube"
)

// controllerStandIn plays, through the API server, what cannot run here (no kubelet, no
// container runtime, no k0s). Each part does only what the real component is observed to do:
//
//   - k0s's helm controller: when Chart kube-system/gitea appears, "installs" the release: the
//     chart's init container creates the admin user from the existingSecret (here through
//     Gitea's admin API, as the test Gitea runs as a process outside the cluster), and the
//     chart's Deployment gitea/gitea appears and becomes Available;
//   - the kubelet and kube-controller-manager for Flux's Deployments: source-controller and
//     kustomize-controller are started as real processes (controllers_test.go) and their
//     Deployments become Available when the process's /readyz answers; helm-controller is not
//     run (no test makes a HelmRelease), its Deployment is only reported Available.
//
// Without useRealFlux (a test that never gets past the Gitea install) Flux's Deployments are
// reported Available at once.
type controllerStandIn struct {
	c         *cluster
	mu        sync.Mutex
	stop      chan struct{}
	done      chan struct{}
	adminMade bool
	errs      []string
	// chartError, when set, makes the helm controller stand-in fail the install with it.
	chartError string
	// real, when set, runs the real source- and kustomize-controller (useRealFlux).
	real *fluxControllers
	// appliedValues are the Chart values of the last successful "helm upgrade".
	appliedValues string
}

func startStandIn(t *testing.T, c *cluster) *controllerStandIn {
	s := &controllerStandIn{c: c, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			select {
			case <-s.stop:
				return
			case <-time.After(150 * time.Millisecond):
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			for _, f := range []func(context.Context) error{s.helm, s.deployments} {
				if err := f(ctx); err != nil {
					s.mu.Lock()
					if len(s.errs) == 0 || s.errs[len(s.errs)-1] != err.Error() {
						s.errs = append(s.errs, err.Error())
					}
					s.mu.Unlock()
				}
			}
			cancel()
		}
	}()
	t.Cleanup(func() {
		close(s.stop)
		<-s.done
		for _, e := range s.errs {
			t.Logf("controller stand-in: %s", e)
		}
	})
	return s
}

func (s *controllerStandIn) get(ctx context.Context, ref kube.Ref) (kube.Object, error) {
	o, err := s.c.kube.Get(ctx, ref)
	if kube.IsNotFound(err) || (err != nil && strings.Contains(err.Error(), "is its CRD installed")) {
		return nil, nil
	}
	return o, err
}

func available(o kube.Object) bool {
	st, _, _, _ := o.Condition("Available")
	return st == "True"
}

func (s *controllerStandIn) markAvailable(ctx context.Context, ref kube.Ref) error {
	now := time.Now().UTC().Format(time.RFC3339)
	_, err := s.c.kube.MergePatch(ctx, ref, "status", map[string]any{"status": map[string]any{
		"replicas": 1, "readyReplicas": 1, "availableReplicas": 1, "updatedReplicas": 1,
		"conditions": []any{map[string]any{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
			"message": "Deployment has minimum availability.", "lastUpdateTime": now, "lastTransitionTime": now}},
	}})
	return err
}

// helm stands in for k0s's helm controller installing the Gitea chart.
func (s *controllerStandIn) helm(ctx context.Context) error {
	chart, err := s.get(ctx, kube.Ref{APIVersion: "helm.k0sproject.io/v1beta1", Kind: "Chart", Namespace: "kube-system", Name: "gitea"})
	if err != nil || chart == nil {
		return err
	}
	ns := chart.Str("spec", "namespace")
	s.mu.Lock()
	chartError := s.chartError
	s.mu.Unlock()
	if chartError != "" {
		_, err := s.c.kube.MergePatch(ctx, chart.Ref(), "status", map[string]any{"status": map[string]any{"error": chartError}})
		return err
	}
	var values chartValues
	if err := yaml.Unmarshal([]byte(chart.Str("spec", "values")), &values); err != nil {
		return fmt.Errorf("chart values: %w", err)
	}
	// A changed Chart is a helm upgrade: the Service first (Helm applies Services before
	// Deployments), then the pod restarts with the new pod template.
	if raw := chart.Str("spec", "values"); raw != s.appliedValues {
		if err := s.applyService(ctx, ns, chart.Str("spec", "releaseName"), values); err != nil {
			_, perr := s.c.kube.MergePatch(ctx, chart.Ref(), "status", map[string]any{"status": map[string]any{"error": "upgrade failed: " + err.Error()}})
			if perr != nil {
				return perr
			}
			return fmt.Errorf("helm upgrade of the Gitea chart: %w", err)
		}
		if err := s.startGiteaPod(ctx, ns, values); err != nil {
			return err
		}
		if _, err := s.c.kube.MergePatch(ctx, chart.Ref(), "status", map[string]any{"status": map[string]any{"error": nil}}); err != nil {
			return err
		}
		s.appliedValues = raw
	}
	if !s.adminMade {
		// The chart's init container: admin user from gitea.admin.existingSecret.
		sec, err := s.get(ctx, kube.Ref{APIVersion: "v1", Kind: "Secret", Namespace: ns, Name: values.Gitea.Admin.ExistingSecret})
		if err != nil || sec == nil {
			return err
		}
		user, pass := decode(sec, "username"), decode(sec, "password")
		if err := s.giteaAdmin(ctx, http.MethodPost, "/api/v1/admin/users", map[string]any{"username": user, "email": values.Gitea.Admin.Email, "password": pass, "must_change_password": false}, http.StatusCreated, http.StatusUnprocessableEntity); err != nil {
			return err
		}
		if err := s.giteaAdmin(ctx, http.MethodPatch, "/api/v1/admin/users/"+user, map[string]any{"admin": true, "login_name": user, "source_id": 0}, http.StatusOK); err != nil {
			return err
		}
		s.adminMade = true
	}
	ref := kube.Ref{APIVersion: "apps/v1", Kind: "Deployment", Namespace: ns, Name: chart.Str("spec", "releaseName")}
	d, err := s.get(ctx, ref)
	if err != nil {
		return err
	}
	if d == nil {
		labels := map[string]any{"app.kubernetes.io/name": "gitea", "app.kubernetes.io/instance": ref.Name}
		if _, err := s.c.kube.Create(ctx, kube.Object{"apiVersion": "apps/v1", "kind": "Deployment",
			"metadata": map[string]any{"name": ref.Name, "namespace": ns, "labels": labels},
			"spec": map[string]any{"replicas": 1, "selector": map[string]any{"matchLabels": labels},
				"template": map[string]any{"metadata": map[string]any{"labels": labels},
					"spec": map[string]any{"containers": []any{map[string]any{"name": "gitea", "image": "docker.gitea.com/gitea:1.26.0-rootless"}}}}},
		}); err != nil {
			return err
		}
		if err := s.giteaPod(ctx, ns, ref.Name, labels, ""); err != nil {
			return err
		}
		return s.markAvailable(ctx, ref)
	}
	if !available(d) {
		return s.markAvailable(ctx, ref)
	}
	return s.giteaPod(ctx, ns, ref.Name, d.Map("spec", "selector", "matchLabels"), "")
}

// chartValues are the Gitea chart values the stand-in reads.
type chartValues struct {
	Gitea struct {
		Admin struct {
			ExistingSecret string `yaml:"existingSecret"`
			Email          string `yaml:"email"`
		} `yaml:"admin"`
		Config struct {
			Server struct {
				Protocol string `yaml:"PROTOCOL"`
				CertFile string `yaml:"CERT_FILE"`
				KeyFile  string `yaml:"KEY_FILE"`
			} `yaml:"server"`
		} `yaml:"config"`
		PodAnnotations map[string]string `yaml:"podAnnotations"`
	} `yaml:"gitea"`
	Service struct {
		HTTP struct {
			Type      string  `yaml:"type"`
			ClusterIP *string `yaml:"clusterIP"`
			NodePort  int     `yaml:"nodePort"`
		} `yaml:"http"`
	} `yaml:"service"`
	ExtraVolumes []struct {
		Name   string `yaml:"name"`
		Secret struct {
			SecretName string `yaml:"secretName"`
			Items      []struct {
				Key  string `yaml:"key"`
				Path string `yaml:"path"`
			} `yaml:"items"`
		} `yaml:"secret"`
	} `yaml:"extraVolumes"`
	ExtraContainerVolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"extraContainerVolumeMounts"`
}

// applyService renders the chart's HTTP Service as gitea/helm-gitea v12.4.0
// templates/gitea/http-svc.yaml does (type from service.http.type, default ClusterIP;
// clusterIP only for type ClusterIP, from service.http.clusterIP, default None; nodePort when
// set; targetPort the HTTP_PORT 3000) and creates it or patches it over the live one as Helm's
// upgrade does, so the real API server judges the change (an immutable clusterIP among them).
func (s *controllerStandIn) applyService(ctx context.Context, ns, release string, v chartValues) error {
	typ := v.Service.HTTP.Type
	if typ == "" {
		typ = "ClusterIP"
	}
	port := map[string]any{"name": "http", "port": 3000, "targetPort": 3000}
	if v.Service.HTTP.NodePort != 0 {
		port["nodePort"] = v.Service.HTTP.NodePort
	}
	spec := map[string]any{"type": typ, "ports": []any{port},
		"selector": map[string]any{"app.kubernetes.io/name": "gitea", "app.kubernetes.io/instance": release}}
	if typ == "ClusterIP" {
		ip := "None"
		if v.Service.HTTP.ClusterIP != nil {
			ip = *v.Service.HTTP.ClusterIP
		}
		if ip != "" {
			spec["clusterIP"] = ip
		}
	}
	ref := kube.Ref{APIVersion: "v1", Kind: "Service", Namespace: ns, Name: release + "-http"}
	have, err := s.get(ctx, ref)
	if err != nil {
		return err
	}
	if have == nil {
		_, err = s.c.kube.Create(ctx, kube.Object{"apiVersion": "v1", "kind": "Service", "metadata": map[string]any{"name": ref.Name, "namespace": ns,
			"labels": map[string]any{"app.kubernetes.io/name": "gitea", "app.kubernetes.io/instance": release}}, "spec": spec})
		return err
	}
	_, err = s.c.kube.MergePatch(ctx, ref, "", map[string]any{"spec": spec})
	return err
}

// startGiteaPod is the Gitea container starting with the chart's values: with PROTOCOL=https
// it reads CERT_FILE and KEY_FILE, which the pod has from the Secret volume mounted at their
// directory (extraContainerVolumeMounts -> extraVolumes), once.
func (s *controllerStandIn) startGiteaPod(ctx context.Context, ns string, v chartValues) error {
	if s.c.node == nil {
		return nil
	}
	srv := v.Gitea.Config.Server
	if srv.Protocol != "https" {
		s.c.node.https.setPair(nil)
		return nil
	}
	file := func(p string) ([]byte, error) {
		for _, m := range v.ExtraContainerVolumeMounts {
			if path.Dir(p) != path.Clean(m.MountPath) {
				continue
			}
			for _, vol := range v.ExtraVolumes {
				if vol.Name != m.Name || vol.Secret.SecretName == "" {
					continue
				}
				sec, err := s.get(ctx, kube.Ref{APIVersion: "v1", Kind: "Secret", Namespace: ns, Name: vol.Secret.SecretName})
				if err != nil || sec == nil {
					return nil, fmt.Errorf("pod cannot start: Secret %s/%s of volume %s: %v", ns, vol.Secret.SecretName, vol.Name, err)
				}
				key := path.Base(p)
				for _, it := range vol.Secret.Items {
					if it.Path == path.Base(p) {
						key = it.Key
					}
				}
				return []byte(decode(sec, key)), nil
			}
		}
		return nil, fmt.Errorf("pod: no volume is mounted at %s", path.Dir(p))
	}
	cert, err := file(srv.CertFile)
	if err != nil {
		return err
	}
	key, err := file(srv.KeyFile)
	if err != nil {
		return err
	}
	pair, err := tls.X509KeyPair(cert, key)
	if err != nil {
		return fmt.Errorf("gitea: CERT_FILE/KEY_FILE: %w", err)
	}
	s.c.node.https.setPair(&pair)
	return nil
}

func (s *controllerStandIn) giteaAdmin(ctx context.Context, method, path string, body any, ok ...int) error {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(ctx, method, s.c.giteaURL+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth("bootstrap", s.c.bootstrap)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	for _, c := range ok {
		if resp.StatusCode == c {
			return nil
		}
	}
	return fmt.Errorf("stand-in %s %s: %d", method, path, resp.StatusCode)
}

// deployments stands in for kube-controller-manager (and the kubelet) for Flux's controllers.
func (s *controllerStandIn) deployments(ctx context.Context) error {
	for _, name := range []string{"source-controller", "kustomize-controller", "helm-controller"} {
		ref := kube.Ref{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "flux-system", Name: name}
		d, err := s.get(ctx, ref)
		if err != nil {
			return err
		}
		if d != nil && !available(d) {
			ready, err := s.fluxDeploymentReady(name)
			if err != nil {
				return err
			}
			if !ready {
				continue
			}
			if err := s.markAvailable(ctx, ref); err != nil {
				return err
			}
		}
	}
	return nil
}

func decode(secret kube.Object, key string) string {
	b, _ := base64.StdEncoding.DecodeString(secret.Str("data", key))
	return string(b)
}
