package kube

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func pod(t *testing.T, js string) Pod {
	t.Helper()
	var p Pod
	require.NoError(t, json.Unmarshal([]byte(js), &p))
	return p
}

// The expectations are kubectl drain's (kubernetes/kubectl dee3483a pkg/drain/filters.go):
// mirror pods skipped, emptyDir and controller-less running pods refused without the options,
// finished pods always evicted.
func TestPlanPodFollowsKubectlFilters(t *testing.T) {
	rs := `"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-1","uid":"u","controller":true}]`
	tests := []struct {
		name           string
		pod            string
		opts           DrainOptions
		evict, refused bool
		reason         string
	}{
		{name: "replicated pod", pod: `{"metadata":{"name":"a","namespace":"n",` + rs + `}}`, evict: true},
		{name: "mirror pod", pod: `{"metadata":{"name":"a","namespace":"n","annotations":{"kubernetes.io/config.mirror":"x"}}}`, reason: "mirror pod"},
		{name: "bare pod refused", pod: `{"metadata":{"name":"a","namespace":"n"},"status":{"phase":"Running"}}`, refused: true, reason: "declare no controller"},
		{name: "bare pod with force", pod: `{"metadata":{"name":"a","namespace":"n"}}`, opts: DrainOptions{Force: true}, evict: true, reason: "nothing recreates it"},
		{name: "finished bare pod", pod: `{"metadata":{"name":"a","namespace":"n"},"status":{"phase":"Succeeded"}}`, evict: true},
		{name: "emptyDir refused", pod: `{"metadata":{"name":"a","namespace":"n",` + rs + `},"spec":{"volumes":[{"name":"tmp","emptyDir":{}}]}}`, refused: true, reason: "local storage"},
		{name: "emptyDir allowed", pod: `{"metadata":{"name":"a","namespace":"n",` + rs + `},"spec":{"volumes":[{"name":"tmp","emptyDir":{}}]}}`, opts: DrainOptions{DeleteEmptyDirData: true}, evict: true, reason: "emptyDir data"},
		{name: "other volumes are no local storage", pod: `{"metadata":{"name":"a","namespace":"n",` + rs + `},"spec":{"volumes":[{"name":"c","configMap":{"name":"x"}}]}}`, evict: true},
		{name: "a non-controller owner is no controller", pod: `{"metadata":{"name":"a","namespace":"n","ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":"x","uid":"u"}]}}`, refused: true},
	}
	c := &Client{} // no DaemonSet pod here: the client is not called
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pp, err := c.planPod(context.Background(), pod(t, tt.pod), tt.opts)
			require.NoError(t, err)
			assert.Equal(t, tt.evict, pp.Evict, "evict")
			assert.Equal(t, tt.refused, pp.Refuse, "refused")
			assert.Contains(t, pp.Reason, tt.reason)
		})
	}
}

func TestDrainPlanErrGroupsRefusedPods(t *testing.T) {
	p := DrainPlan{Pods: []PodPlan{
		{Pod: pod(t, `{"metadata":{"name":"a","namespace":"n"}}`), Refuse: true, Reason: refuseUnmanaged},
		{Pod: pod(t, `{"metadata":{"name":"b","namespace":"n"}}`), Refuse: true, Reason: refuseUnmanaged},
		{Pod: pod(t, `{"metadata":{"name":"c","namespace":"n"}}`), Reason: "managed by DaemonSet x"},
	}}
	require.EqualError(t, p.Err(), "cannot evict "+refuseUnmanaged+": n/a, n/b")
	assert.Equal(t, []string{"n/c: managed by DaemonSet x"}, p.Skipped())
	assert.Empty(t, p.Evicted())
}

// Selector semantics of metav1.LabelSelectorAsSelector; the empty-selector rule is the
// eviction subresource's (kubernetes/kubernetes 01aa0f3f pkg/registry/core/pod/storage/eviction.go).
func TestPodDisruptionBudgetSelects(t *testing.T) {
	var b PodDisruptionBudget
	require.NoError(t, json.Unmarshal([]byte(`{"metadata":{"name":"b","namespace":"n"},"spec":{"selector":{"matchLabels":{"app":"web"},
		"matchExpressions":[{"key":"tier","operator":"In","values":["front","back"]},{"key":"canary","operator":"DoesNotExist"}]}}}`), &b))
	assert.True(t, b.Selects(&Pod{Metadata: ObjectMeta{Namespace: "n", Labels: map[string]string{"app": "web", "tier": "front"}}}))
	assert.False(t, b.Selects(&Pod{Metadata: ObjectMeta{Namespace: "other", Labels: map[string]string{"app": "web", "tier": "front"}}}), "other namespace")
	assert.False(t, b.Selects(&Pod{Metadata: ObjectMeta{Namespace: "n", Labels: map[string]string{"app": "web", "tier": "mid"}}}), "In")
	assert.False(t, b.Selects(&Pod{Metadata: ObjectMeta{Namespace: "n", Labels: map[string]string{"app": "web", "tier": "front", "canary": "1"}}}), "DoesNotExist")
	assert.False(t, b.Selects(&Pod{Metadata: ObjectMeta{Namespace: "n", Labels: map[string]string{"tier": "front"}}}), "matchLabels")
	var empty PodDisruptionBudget
	require.NoError(t, json.Unmarshal([]byte(`{"metadata":{"name":"e","namespace":"n"},"spec":{"selector":{}}}`), &empty))
	assert.False(t, empty.Selects(&Pod{Metadata: ObjectMeta{Namespace: "n", Labels: map[string]string{"app": "web"}}}), "an empty selector matches nothing")
}

// The 429 body is the Status kube-apiserver writes for errors.NewTooManyRequests with a
// DisruptionBudget cause (kubernetes/kubernetes 01aa0f3f pkg/registry/core/pod/storage/eviction.go
// checkAndDecrement); tests/node sees the real one.
func TestEvictReturnsTheDisruptionBudgetCause(t *testing.T) {
	var got string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = r.Method + " " + r.URL.Path + " " + string(b)
		w.WriteHeader(429)
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Cannot evict pod as it would violate the pod's disruption budget.","reason":"TooManyRequests","details":{"causes":[{"reason":"DisruptionBudget","message":"The disruption budget web needs 1 healthy pods and has 1 currently"}]},"code":429}`))
	}))
	t.Cleanup(srv.Close)
	c, err := Load(writeKubeconfig(t, srv), "")
	require.NoError(t, err)
	err = c.Evict(context.Background(), "n", "web-0", 30, false)
	assert.True(t, IsTooManyRequests(err))
	assert.Equal(t, "The disruption budget web needs 1 healthy pods and has 1 currently", DisruptionBudgetCause(err))
	assert.JSONEq(t, `{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"web-0","namespace":"n"},"deleteOptions":{"gracePeriodSeconds":30}}`,
		got[len("POST /api/v1/namespaces/n/pods/web-0/eviction "):])
	assert.Empty(t, DisruptionBudgetCause(&StatusError{Code: 404}))
}
