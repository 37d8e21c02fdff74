package kube

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecodeManifests(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		kinds   []string
		wantErr string
	}{
		{name: "documents are split and empty ones skipped", in: "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n# only a comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: a}\n", kinds: []string{"Namespace", "ConfigMap"}},
		{name: "a List is expanded", in: "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Secret, metadata: {name: s}}\n", kinds: []string{"Secret"}},
		{name: "a document without a name is refused", in: "apiVersion: v1\nkind: ConfigMap\n", wantErr: "document 1 lacks apiVersion, kind or metadata.name"},
		{name: "a scalar document is refused", in: "just text\n", wantErr: "is not a mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := DecodeManifests([]byte(tt.in))
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			var kinds []string
			for _, o := range objs {
				kinds = append(kinds, o.Str("kind"))
			}
			assert.Equal(t, tt.kinds, kinds)
		})
	}
}

func TestDecodeManifestsKeepsTimestampsAndNumbersAsKubernetesWantsThem(t *testing.T) {
	objs, err := DecodeManifests([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, creationTimestamp: 2024-01-02T03:04:05Z}\ndata: {a: \"1\"}\nspec: {replicas: 3, ratio: 0.5, on: true, off: null}\n"))
	require.NoError(t, err)
	b, err := json.Marshal(objs[0])
	require.NoError(t, err)
	assert.JSONEq(t, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","creationTimestamp":"2024-01-02T03:04:05Z"},"data":{"a":"1"},"spec":{"replicas":3,"ratio":0.5,"on":true,"off":null}}`, string(b))
}

// fakeAPI is a TLS server answering discovery and one object, recording requests.
func fakeAPI(t *testing.T) (*httptest.Server, *[]string) {
	var seen []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		seen = append(seen, r.Method+" "+r.URL.RequestURI()+" "+r.Header.Get("Content-Type")+" "+string(body))
		switch r.URL.Path {
		case "/api/v1":
			_, _ = w.Write([]byte(`{"resources":[{"name":"secrets","kind":"Secret","namespaced":true},{"name":"namespaces","kind":"Namespace","namespaced":false},{"name":"namespaces/status","kind":"Namespace","namespaced":false}]}`))
		case "/api/v1/namespaces/a/secrets/s":
			_, _ = w.Write([]byte(`{"kind":"Secret","metadata":{"name":"s"}}`))
		case "/api/v1/namespaces/missing":
			w.WriteHeader(404)
			_, _ = w.Write([]byte(`{"kind":"Status","reason":"NotFound","message":"namespaces \"missing\" not found"}`))
		default:
			w.WriteHeader(404)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &seen
}

func writeKubeconfig(t *testing.T, srv *httptest.Server) string {
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	kc := "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: k\n  cluster:\n    server: " + srv.URL +
		"\n    certificate-authority-data: " + base64.StdEncoding.EncodeToString(ca) +
		"\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\nusers:\n- name: u\n  user: {token: abc}\n"
	p := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(p, []byte(kc), 0o600))
	return p
}

func TestClientTalksToTheServerItsKubeconfigNames(t *testing.T) {
	srv, seen := fakeAPI(t)
	c, err := Load(writeKubeconfig(t, srv), "")
	require.NoError(t, err)
	ctx := context.Background()

	s, err := c.Get(ctx, Ref{APIVersion: "v1", Kind: "Secret", Namespace: "a", Name: "s"})
	require.NoError(t, err)
	assert.Equal(t, "s", s.Str("metadata", "name"))

	_, err = c.Get(ctx, Ref{APIVersion: "v1", Kind: "Namespace", Name: "missing"})
	assert.True(t, IsNotFound(err))
	assert.Contains(t, err.Error(), `namespaces "missing" not found`)

	_, err = c.Apply(ctx, Object{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "n"}}, "me")
	require.Error(t, err) // the fake has no such object; the request shape is what matters
	assert.Contains(t, (*seen)[len(*seen)-1], "PATCH /api/v1/namespaces/n?fieldManager=me&force=true application/apply-patch+yaml")

	_, err = c.Get(ctx, Ref{APIVersion: "v1", Kind: "Secret", Name: "s"})
	assert.ErrorContains(t, err, "Secret s is namespaced")

	_, err = c.Get(ctx, Ref{APIVersion: "v1", Kind: "Pod", Namespace: "a", Name: "p"})
	assert.ErrorContains(t, err, "serves no kind Pod in v1")
}

func TestLoadRefusesAKubeconfigWithoutTheContext(t *testing.T) {
	srv, _ := fakeAPI(t)
	_, err := Load(writeKubeconfig(t, srv), "other")
	assert.ErrorContains(t, err, `has no context "other"`)
}

func TestDiscoveryLooksAgainForAKindMissingFromTheCachedList(t *testing.T) {
	calls := 0
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/apis/source.toolkit.fluxcd.io/v1":
			calls++
			if calls == 1 { // read while only one of the group's CRDs was established
				_, _ = w.Write([]byte(`{"resources":[{"name":"buckets","kind":"Bucket","namespaced":true}]}`))
				return
			}
			_, _ = w.Write([]byte(`{"resources":[{"name":"buckets","kind":"Bucket","namespaced":true},{"name":"gitrepositories","kind":"GitRepository","namespaced":true}]}`))
		default:
			_, _ = w.Write([]byte(`{"kind":"GitRepository"}`))
		}
	}))
	t.Cleanup(srv.Close)
	c, err := Load(writeKubeconfig(t, srv), "")
	require.NoError(t, err)
	ctx := context.Background()
	_, err = c.Get(ctx, Ref{APIVersion: "source.toolkit.fluxcd.io/v1", Kind: "Bucket", Namespace: "f", Name: "b"})
	require.NoError(t, err)
	_, err = c.Get(ctx, Ref{APIVersion: "source.toolkit.fluxcd.io/v1", Kind: "GitRepository", Namespace: "f", Name: "g"})
	require.NoError(t, err)
	assert.Equal(t, 2, calls)
	_, err = c.Get(ctx, Ref{APIVersion: "source.toolkit.fluxcd.io/v1", Kind: "HelmChart", Namespace: "f", Name: "h"})
	assert.ErrorContains(t, err, "serves no kind HelmChart")
	assert.Equal(t, 3, calls, "an unknown kind costs one more lookup, not a loop")
}
