//go:build flux

package flux_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/business-operations/bo.microvm/internal/kube"
)

// controllerStandIn plays, through the API server, the controllers this test cluster does not
// run. Each part does only what the real controller is observed to do, and nothing more:
//
//   - helm controller (k0s): when Chart kube-system/gitea appears, "installs" the release: the
//     chart's init container creates the admin user from the existingSecret (here through
//     Gitea's admin API, as the Gitea process runs outside the cluster), and the chart's
//     Deployment gitea/gitea appears and becomes Available;
//   - kube-controller-manager: Deployments in flux-system become Available;
//   - source-controller: on a new generation or reconcile.fluxcd.io/requestedAt, reads the
//     branch head from Gitea with real git and the Secret named by spec.secretRef, and reports
//     it as status.artifact.revision (or Ready=False with git's error);
//   - kustomize-controller: when the source has a new revision (or on request) and the
//     decryption Secret exists, reports Ready with lastAppliedRevision.
//
// Flux's in-cluster URL is mapped to the Gitea on 127.0.0.1 (mapTo); setting mapTo to a dead
// address makes the "source-controller" fail as the real one does when Gitea is unreachable.
type controllerStandIn struct {
	c         *cluster
	mu        sync.Mutex
	mapFrom   string
	mapTo     string
	stop      chan struct{}
	done      chan struct{}
	adminMade bool
	errs      []string
	// chartError, when set, makes the helm controller stand-in fail the install with it.
	chartError string
}

func startStandIn(t *testing.T, c *cluster) *controllerStandIn {
	s := &controllerStandIn{c: c, mapFrom: "http://gitea-http.gitea.svc.cluster.local:3000", mapTo: c.giteaURL, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			select {
			case <-s.stop:
				return
			case <-time.After(150 * time.Millisecond):
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			for _, f := range []func(context.Context) error{s.helm, s.deployments, s.source, s.kustomize} {
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

func (s *controllerStandIn) setMapTo(url string) {
	s.mu.Lock()
	s.mapTo = url
	s.mu.Unlock()
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
	if !s.adminMade {
		// The chart's init container: admin user from gitea.admin.existingSecret.
		var values struct {
			Gitea struct {
				Admin struct {
					ExistingSecret string `yaml:"existingSecret"`
					Email          string `yaml:"email"`
				} `yaml:"admin"`
			} `yaml:"gitea"`
		}
		if err := yaml.Unmarshal([]byte(chart.Str("spec", "values")), &values); err != nil {
			return fmt.Errorf("chart values: %w", err)
		}
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
		return s.markAvailable(ctx, ref)
	}
	if !available(d) {
		return s.markAvailable(ctx, ref)
	}
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

func generation(o kube.Object) float64 {
	g, _ := o.Get("metadata", "generation").(float64)
	return g
}

func observed(o kube.Object) float64 {
	g, _ := o.Get("status", "observedGeneration").(float64)
	return g
}

func condition(typ, status, reason, msg string) []any {
	return []any{map[string]any{"type": typ, "status": status, "reason": reason, "message": msg,
		"lastTransitionTime": time.Now().UTC().Format(time.RFC3339), "observedGeneration": 0}}
}

// source stands in for source-controller.
func (s *controllerStandIn) source(ctx context.Context) error {
	ref := kube.Ref{APIVersion: "source.toolkit.fluxcd.io/v1", Kind: "GitRepository", Namespace: "flux-system", Name: "flux-system"}
	repo, err := s.get(ctx, ref)
	if err != nil || repo == nil {
		return err
	}
	requested := repo.Str("metadata", "annotations", "reconcile.fluxcd.io/requestedAt")
	if generation(repo) == observed(repo) && requested == repo.Str("status", "lastHandledReconcileAt") {
		return nil
	}
	s.mu.Lock()
	url := strings.Replace(repo.Str("spec", "url"), s.mapFrom, s.mapTo, 1)
	s.mu.Unlock()
	sec, err := s.get(ctx, kube.Ref{APIVersion: "v1", Kind: "Secret", Namespace: "flux-system", Name: repo.Str("spec", "secretRef", "name")})
	if err != nil {
		return err
	}
	status := map[string]any{"observedGeneration": generation(repo), "lastHandledReconcileAt": requested}
	if sec == nil {
		status["conditions"] = condition("Ready", "False", "AuthenticationFailed", "secrets \"flux-system\" not found")
	} else {
		branch := repo.Str("spec", "ref", "branch")
		header := "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(decode(sec, "username")+":"+decode(sec, "password")))
		cmd := exec.CommandContext(ctx, "/usr/bin/git", "ls-remote", url, "refs/heads/"+branch)
		cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=http.extraHeader", "GIT_CONFIG_VALUE_0="+header)
		out, err := cmd.CombinedOutput()
		fields := strings.Fields(string(out))
		switch {
		case err != nil:
			status["conditions"] = condition("Ready", "False", "GitOperationFailed", "failed to checkout and determine revision: unable to list remote for '"+repo.Str("spec", "url")+"': "+strings.TrimSpace(string(out)))
		case len(fields) == 0:
			status["conditions"] = condition("Ready", "False", "GitOperationFailed", "failed to checkout and determine revision: couldn't find remote ref \"refs/heads/"+branch+"\"")
		default:
			rev := branch + "@sha1:" + fields[0]
			status["artifact"] = map[string]any{"revision": rev, "path": "gitrepository/flux-system/flux-system/" + fields[0] + ".tar.gz",
				"url":    "http://source-controller.flux-system.svc.cluster.local./gitrepository/flux-system/flux-system/" + fields[0] + ".tar.gz",
				"digest": "sha256:0000000000000000000000000000000000000000000000000000000000000000", "lastUpdateTime": time.Now().UTC().Format(time.RFC3339)}
			status["conditions"] = condition("Ready", "True", "Succeeded", "stored artifact for revision '"+rev+"'")
		}
	}
	_, err = s.c.kube.MergePatch(ctx, ref, "status", map[string]any{"status": status})
	return err
}

// pathExists fetches the revision as source-controller's artifact would hold it and checks that
// the Kustomization's path is a directory with a kustomization.yaml or manifests in it.
func (s *controllerStandIn) pathExists(ctx context.Context, repo kube.Object, path, rev string) (string, bool) {
	s.mu.Lock()
	url := strings.Replace(repo.Str("spec", "url"), s.mapFrom, s.mapTo, 1)
	s.mu.Unlock()
	sec, err := s.get(ctx, kube.Ref{APIVersion: "v1", Kind: "Secret", Namespace: "flux-system", Name: repo.Str("spec", "secretRef", "name")})
	if err != nil || sec == nil {
		return "source credentials not found", false
	}
	dir, err := os.MkdirTemp("", "standin-artifact-")
	if err != nil {
		return err.Error(), false
	}
	defer os.RemoveAll(dir)
	header := "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(decode(sec, "username")+":"+decode(sec, "password")))
	sha := rev[strings.LastIndex(rev, ":")+1:]
	for _, args := range [][]string{{"init", "-q"}, {"fetch", "-q", "--depth=1", url, "refs/heads/" + repo.Str("spec", "ref", "branch")}, {"checkout", "-q", sha}} {
		cmd := exec.CommandContext(ctx, "/usr/bin/git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=http.extraHeader", "GIT_CONFIG_VALUE_0="+header)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Sprintf("artifact for %s: git %s: %s", rev, args[0], out), false
		}
	}
	entries, err := os.ReadDir(filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(path, "./"))))
	if err != nil || len(entries) == 0 {
		return fmt.Sprintf("kustomization path not found: %s", path), false
	}
	return "", true
}

// kustomize stands in for kustomize-controller.
func (s *controllerStandIn) kustomize(ctx context.Context) error {
	ref := kube.Ref{APIVersion: "kustomize.toolkit.fluxcd.io/v1", Kind: "Kustomization", Namespace: "flux-system", Name: "flux-system"}
	ks, err := s.get(ctx, ref)
	if err != nil || ks == nil {
		return err
	}
	repo, err := s.get(ctx, kube.Ref{APIVersion: "source.toolkit.fluxcd.io/v1", Kind: "GitRepository", Namespace: "flux-system", Name: ks.Str("spec", "sourceRef", "name")})
	if err != nil || repo == nil {
		return err
	}
	rev := repo.Str("status", "artifact", "revision")
	requested := ks.Str("metadata", "annotations", "reconcile.fluxcd.io/requestedAt")
	if generation(ks) == observed(ks) && requested == ks.Str("status", "lastHandledReconcileAt") && rev == ks.Str("status", "lastAttemptedRevision") {
		return nil
	}
	status := map[string]any{"observedGeneration": generation(ks), "lastHandledReconcileAt": requested}
	st, _, msg, _ := repo.Condition("Ready")
	switch {
	case rev == "" || st != "True":
		status["conditions"] = condition("Ready", "False", "ArtifactFailed", "Source artifact not found, retrying in 30s")
		_ = msg
	default:
		status["lastAttemptedRevision"] = rev
		if name := ks.Str("spec", "decryption", "secretRef", "name"); name != "" {
			sec, err := s.get(ctx, kube.Ref{APIVersion: "v1", Kind: "Secret", Namespace: "flux-system", Name: name})
			if err != nil {
				return err
			}
			if sec == nil {
				status["conditions"] = condition("Ready", "False", "DecryptionFailed", fmt.Sprintf("decryption secret error: Secret %q not found", name))
				break
			}
		}
		if msg, ok := s.pathExists(ctx, repo, ks.Str("spec", "path"), rev); !ok {
			status["conditions"] = condition("Ready", "False", "BuildFailed", msg)
			break
		}
		status["lastAppliedRevision"] = rev
		status["conditions"] = condition("Ready", "True", "ReconciliationSucceeded", "Applied revision: "+rev)
	}
	_, err = s.c.kube.MergePatch(ctx, ref, "status", map[string]any{"status": status})
	return err
}
