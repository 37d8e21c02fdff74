package flux

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/business-operations/bo.microvm/internal/kube"
)

// giteaEndpoint against a contract fake of the two API server reads it makes (the Service and
// the pods of its selector, as JSON the API server serves for core/v1); any other request fails
// the test.
func TestGiteaEndpointResolvesAsKubectlPortForwardDoes(t *testing.T) {
	pods := `{"items":[
	  {"metadata":{"name":"gitea-a","deletionTimestamp":"2026-01-01T00:00:00Z"},"spec":{"containers":[{"ports":[{"name":"http","containerPort":3000}]}]},"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}},
	  {"metadata":{"name":"gitea-c"},"spec":{"containers":[{"ports":[{"name":"http","containerPort":3000}]}]},"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}},
	  {"metadata":{"name":"gitea-b"},"spec":{"containers":[{"ports":[{"name":"http","containerPort":3000}]}]},"status":{"phase":"Running","conditions":[{"type":"Ready","status":"False"}]}}]}`
	for _, tc := range []struct {
		name, service, pods, pod string
		port                     int
		err                      string
	}{
		{name: "headless: the service port", service: `{"spec":{"clusterIP":"None","selector":{"app":"gitea"},"ports":[{"name":"http","port":3000,"targetPort":8080}]}}`, pods: pods, pod: "gitea-c", port: 3000},
		{name: "targetPort by number", service: `{"spec":{"clusterIP":"10.96.0.7","selector":{"app":"gitea"},"ports":[{"name":"ssh","port":22},{"name":"http","port":80,"targetPort":3000}]}}`, pods: pods, pod: "gitea-c", port: 3000},
		{name: "targetPort by name", service: `{"spec":{"clusterIP":"10.96.0.7","selector":{"app":"gitea"},"ports":[{"port":80,"targetPort":"http"}]}}`, pods: pods, pod: "gitea-c", port: 3000},
		{name: "no targetPort: the port", service: `{"spec":{"clusterIP":"10.96.0.7","selector":{"app":"gitea"},"ports":[{"port":3000}]}}`, pods: pods, pod: "gitea-c", port: 3000},
		{name: "an unknown port name", service: `{"spec":{"clusterIP":"10.96.0.7","selector":{"app":"gitea"},"ports":[{"port":80,"targetPort":"web"}]}}`, pods: pods, err: `pod gitea/gitea-c has no container port named "web" (Service gitea/gitea-http targetPort)`},
		{name: "no ready pod", service: `{"spec":{"clusterIP":"None","selector":{"app":"gitea"},"ports":[{"port":3000}]}}`, pods: `{"items":[]}`, err: "Service gitea/gitea-http selects no Ready running pod (selector app=gitea; 0 pods)"},
		{name: "no Service", service: "", err: "Service gitea/gitea-http (the Gitea chart's HTTP Service) does not exist yet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch {
				case r.URL.Path == "/api/v1/namespaces/gitea/services/gitea-http" && tc.service != "":
					_, _ = w.Write([]byte(tc.service))
				case r.URL.Path == "/api/v1/namespaces/gitea/services/gitea-http":
					w.WriteHeader(http.StatusNotFound)
					_, _ = w.Write([]byte(`{"kind":"Status","reason":"NotFound","message":"services \"gitea-http\" not found"}`))
				case r.URL.Path == "/api/v1/namespaces/gitea/pods" && r.URL.Query().Get("labelSelector") == "app=gitea":
					_, _ = w.Write([]byte(tc.pods))
				default:
					t.Errorf("unexpected request %s", r.URL)
					w.WriteHeader(http.StatusTeapot)
				}
			}))
			defer srv.Close()
			o, err := validOptions().withDefaults()
			require.NoError(t, err)
			k := &kickoff{o: o, kube: &kube.Client{Server: srv.URL, HTTP: srv.Client()}}
			pod, port, err := k.giteaEndpoint(context.Background())
			if tc.err != "" {
				require.Error(t, err)
				assert.Equal(t, tc.err, err.Error())
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.pod, pod)
			assert.Equal(t, tc.port, port)
		})
	}
}
