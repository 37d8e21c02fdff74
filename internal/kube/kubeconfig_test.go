package kube

import (
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEndpoint(t *testing.T) {
	ca := "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	tests := []struct {
		name, kubeconfig string
		want             Endpoint
		wantErr          string
	}{
		{name: "the current context's cluster and user", kubeconfig: `apiVersion: v1
clusters:
- {name: other, cluster: {server: https://other:6443}}
- {name: k0s, cluster: {server: "https://198.18.0.101:6443", certificate-authority-data: ` + base64.StdEncoding.EncodeToString([]byte(ca)) + `}}
contexts:
- {name: k0s, context: {cluster: k0s, user: kubelet-bootstrap}}
current-context: k0s
users:
- {name: kubelet-bootstrap, user: {token: abcdef.0123456789abcdef}}
`, want: Endpoint{Server: "https://198.18.0.101:6443", CA: []byte(ca), Token: "abcdef.0123456789abcdef"}},
		{name: "without contexts: the only cluster and user", kubeconfig: `clusters:
- {name: k0s, cluster: {server: "https://198.18.0.101:9443"}}
users:
- {name: u, user: {token: t}}
`, want: Endpoint{Server: "https://198.18.0.101:9443", Token: "t"}},
		{name: "no clusters is not a kubeconfig", kubeconfig: "users: []\n", wantErr: "not a kubeconfig: no clusters"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(tc.kubeconfig), "")
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			ep, err := cfg.Endpoint()
			require.NoError(t, err)
			assert.Equal(t, tc.want, ep)
		})
	}
}
