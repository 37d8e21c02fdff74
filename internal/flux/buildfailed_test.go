package flux

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/business-operations/bo.microvm/internal/kube"
)

// buildFailed against a contract fake of the two API server reads it makes (discovery of
// kustomize.toolkit.fluxcd.io/v1 and the flux-system Kustomization); any other request fails
// the test. The statuses are the ones kustomize-controller v1.9.5 writes
// (internal/controller/kustomization_controller.go): reconcile marks Reconciling Progressing
// and sets lastAttemptedRevision before it builds, a failed build sets Ready False BuildFailed,
// and finalizeStatus sets lastHandledReconcileAt and turns Reconciling's reason into
// ProgressingWithRetry. The real controller's finished failure is tests/flux's "a broken
// kustomization fails the run" (kickoff_test.go).
func TestBuildFailedOnlyOnAFinishedReconciliationOfTheWantedRevision(t *testing.T) {
	const (
		wanted      = "main@sha1:38a580d3de9116993ea9491119ab635a6646ac6a"
		old         = "main@sha1:c0fce51d0a27c6670811b3ad87bbd508965b018d"
		requestedAt = "2026-12-07T22:51:25.9Z"
		buildMsg    = "kustomize build failed: accumulating resources: accumulation err='accumulating resources from 'missing.yaml': open missing.yaml: no such file or directory'"
	)
	status := func(attempted, handled, reconcilingReason string) map[string]any {
		return map[string]any{
			"lastAttemptedRevision":  attempted,
			"lastHandledReconcileAt": handled,
			"conditions": []any{
				map[string]any{"type": "Ready", "status": "False", "reason": "BuildFailed", "message": buildMsg},
				map[string]any{"type": "Reconciling", "status": "True", "reason": reconcilingReason, "message": "Building manifests for revision " + attempted + " with a timeout of 5m0s"},
			},
		}
	}
	for _, tc := range []struct {
		name   string
		status map[string]any
		failed bool
	}{
		{"finished: the wanted revision does not build", status(wanted, requestedAt, "ProgressingWithRetry"), true},
		// CI 2026-12-07: the old revision's Ready left on the server while the wanted one builds.
		{"running: the wanted revision is being built, Ready is the old revision's", status(wanted, requestedAt, "Progressing"), false},
		{"finished: the old revision does not build", status(old, requestedAt, "ProgressingWithRetry"), false},
		{"finished: another request's reconciliation", status(wanted, "2026-12-07T22:51:20Z", "ProgressingWithRetry"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ks, err := json.Marshal(map[string]any{"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
				"metadata": map[string]any{"name": "flux-system", "namespace": "flux-system"}, "status": tc.status})
			require.NoError(t, err)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/apis/kustomize.toolkit.fluxcd.io/v1":
					_, _ = w.Write([]byte(`{"kind":"APIResourceList","groupVersion":"kustomize.toolkit.fluxcd.io/v1","resources":[{"name":"kustomizations","singularName":"kustomization","namespaced":true,"kind":"Kustomization","verbs":["get","list","patch"]},{"name":"kustomizations/status","singularName":"","namespaced":true,"kind":"Kustomization","verbs":["get","patch"]}]}`))
				case "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations/flux-system":
					_, _ = w.Write(ks)
				default:
					t.Errorf("unexpected request %s", r.URL)
					w.WriteHeader(http.StatusTeapot)
				}
			}))
			defer srv.Close()
			o, err := validOptions().withDefaults()
			require.NoError(t, err)
			k := &kickoff{o: o, kube: &kube.Client{Server: srv.URL, HTTP: srv.Client()}, result: &Result{}}
			k.setRevision("38a580d3de9116993ea9491119ab635a6646ac6a")
			msg, err := k.buildFailed(context.Background(), requestedAt)
			require.NoError(t, err)
			if !tc.failed {
				assert.Empty(t, msg)
				return
			}
			assert.Equal(t, "Kustomization flux-system/flux-system cannot build "+wanted+": BuildFailed: "+buildMsg, msg)
		})
	}
}
