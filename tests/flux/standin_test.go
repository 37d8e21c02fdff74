//go:build flux

package flux_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
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
	var values struct {
		Gitea struct {
			Admin struct {
				ExistingSecret string `yaml:"existingSecret"`
				Email          string `yaml:"email"`
			} `yaml:"admin"`
		} `yaml:"gitea"`
		Service struct {
			HTTP struct {
				Type string `yaml:"type"`
			} `yaml:"http"`
		} `yaml:"service"`
	}
	if err := yaml.Unmarshal([]byte(chart.Str("spec", "values")), &values); err != nil {
		return fmt.Errorf("chart values: %w", err)
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
		if err := s.giteaPod(ctx, ns, ref.Name, labels, values.Service.HTTP.Type); err != nil {
			return err
		}
		return s.markAvailable(ctx, ref)
	}
	if !available(d) {
		return s.markAvailable(ctx, ref)
	}
	return s.giteaPod(ctx, ns, ref.Name, d.Map("spec", "selector", "matchLabels"), values.Service.HTTP.Type)
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
