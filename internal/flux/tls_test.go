package flux

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/business-operations/bo.microvm/internal/kube"
)

// tlsSecrets issues a CA and a serving certificate for names as issueTLS does, valid from
// now, and returns the two Secrets by name.
func tlsSecrets(t *testing.T, now time.Time, caFor, certFor time.Duration, names []string) (map[string]kube.Object, *x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	ca, caKey, err := newCertificate(now, caFor, nil, nil, &x509.Certificate{Subject: pkix.Name{CommonName: "test CA"}, IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign})
	require.NoError(t, err)
	cert, key, err := newCertificate(now, certFor, ca, caKey, &x509.Certificate{Subject: pkix.Name{CommonName: names[0]}, DNSNames: names, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature})
	require.NoError(t, err)
	caKeyPEM, err := pemKey(caKey)
	require.NoError(t, err)
	keyPEM, err := pemKey(key)
	require.NoError(t, err)
	return map[string]kube.Object{
		"gitea-tls-ca": secretObject("gitea", "gitea-tls-ca", map[string]string{"ca.crt": string(pemCert(ca.Raw)), "ca.key": string(caKeyPEM)}),
		"gitea-tls":    secretObject("gitea", "gitea-tls", map[string]string{"tls.crt": string(pemCert(cert.Raw)), "tls.key": string(keyPEM), "ca.crt": string(pemCert(ca.Raw))}),
	}, ca, caKey
}

func TestTLSStateSaysWhatToIssue(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	all := []string{"gitea-http", "gitea-http.gitea", "gitea-http.gitea.svc", "gitea-http.gitea.svc.cluster.local"}
	tests := []struct {
		name           string
		caFor, certFor time.Duration
		names          []string
		drop           string
		at             time.Time
		newCA, newCert bool
		reasonFragment string
	}{
		{name: "a fresh pair for every Service name is kept", caFor: caValidity, certFor: certValidity, names: all, at: now, reasonFragment: "is signed by the Gitea CA"},
		{name: "no CA Secret makes both", caFor: caValidity, certFor: certValidity, names: all, drop: "gitea-tls-ca", at: now, newCA: true, newCert: true, reasonFragment: "is absent"},
		{name: "no certificate Secret makes the certificate only", caFor: caValidity, certFor: certValidity, names: all, drop: "gitea-tls", at: now, newCert: true, reasonFragment: "gitea/gitea-tls is absent"},
		{name: "a certificate within 30 days of its end is re-issued by the same CA", caFor: caValidity, certFor: certValidity, names: all, at: now.Add(certValidity - 29*24*time.Hour), newCert: true, reasonFragment: "expires on"},
		{name: "a CA within 30 days of its end is replaced with the certificate", caFor: 40 * 24 * time.Hour, certFor: 20 * 24 * time.Hour, names: all, at: now.Add(11 * 24 * time.Hour), newCA: true, newCert: true, reasonFragment: "the Gitea CA expires on"},
		{name: "a certificate missing a name is re-issued", caFor: caValidity, certFor: certValidity, names: all[:3], at: now, newCert: true, reasonFragment: "does not cover gitea-http.gitea.svc.cluster.local"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			secrets, _, _ := tlsSecrets(t, now, tc.caFor, tc.certFor, tc.names)
			delete(secrets, tc.drop)
			o := validOptions()
			o.Now = func() time.Time { return tc.at }
			k := testKickoff(t, o)
			newCA, newCert, reason, err := k.tlsState(func(r kube.Ref) (kube.Object, error) { return secrets[r.Name], nil })
			require.NoError(t, err)
			assert.Equal(t, tc.newCA, newCA, reason)
			assert.Equal(t, tc.newCert, newCert, reason)
			assert.Contains(t, reason, tc.reasonFragment)
			if !newCA && !newCert {
				require.NotNil(t, k.tls)
				assert.Len(t, k.tls.fingerprint, 64)
			}
		})
	}
}

func TestTLSStateRefusesACertificateOfAnotherCA(t *testing.T) {
	now := time.Now()
	names := []string{"gitea-http", "gitea-http.gitea", "gitea-http.gitea.svc", "gitea-http.gitea.svc.cluster.local"}
	a, _, _ := tlsSecrets(t, now, caValidity, certValidity, names)
	b, _, _ := tlsSecrets(t, now, caValidity, certValidity, names)
	a["gitea-tls"] = b["gitea-tls"]
	k := testKickoff(t, validOptions())
	newCA, newCert, reason, err := k.tlsState(func(r kube.Ref) (kube.Object, error) { return a[r.Name], nil })
	require.NoError(t, err)
	assert.False(t, newCA)
	assert.True(t, newCert)
	assert.Contains(t, reason, "is not signed by the Gitea CA")
}

// The tunnel's TLS: the Gitea CA only, for the in-cluster host; a server with a certificate
// of another CA is refused.
func TestTunnelTLSTrustsTheGiteaCAOnly(t *testing.T) {
	now := time.Now()
	names := []string{"gitea-http", "gitea-http.gitea", "gitea-http.gitea.svc", "gitea-http.gitea.svc.cluster.local"}
	mine, _, _ := tlsSecrets(t, now, caValidity, certValidity, names)
	other, _, _ := tlsSecrets(t, now, caValidity, certValidity, names)
	k := testKickoff(t, validOptions())
	_, _, _, err := k.tlsState(func(r kube.Ref) (kube.Object, error) { return mine[r.Name], nil })
	require.NoError(t, err)
	cfg, err := k.tlsClientConfig()
	require.NoError(t, err)
	assert.Equal(t, "gitea-http.gitea.svc.cluster.local", cfg.ServerName)
	serve := func(sec kube.Object) error {
		d := secretData(sec)
		pair, err := tls.X509KeyPair([]byte(d["tls.crt"]), []byte(d["tls.key"]))
		require.NoError(t, err)
		l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}})
		require.NoError(t, err)
		defer l.Close()
		go func() {
			if c, err := l.Accept(); err == nil {
				_ = c.(*tls.Conn).Handshake()
				c.Close()
			}
		}()
		c, err := net.DialTimeout("tcp", l.Addr().String(), 5*time.Second)
		require.NoError(t, err)
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		return tls.Client(c, cfg).Handshake()
	}
	assert.NoError(t, serve(mine["gitea-tls"]))
	assert.ErrorContains(t, serve(other["gitea-tls"]), "certificate signed by unknown authority")
}

func TestChartValuesServeHTTPSFromTheTLSSecret(t *testing.T) {
	o := validOptions()
	o.GiteaChart.Values = map[string]any{"extraVolumes": []any{map[string]any{"name": "mine", "emptyDir": map[string]any{}}}}
	k := testKickoff(t, o)
	k.tls = &giteaTLS{fingerprint: "abc"}
	v := kube.Object(k.giteaValues())
	assert.Equal(t, "https", v.Str("gitea", "config", "server", "PROTOCOL"))
	assert.Equal(t, "/etc/gitea-tls/tls.crt", v.Str("gitea", "config", "server", "CERT_FILE"))
	assert.Equal(t, "abc", v.Str("gitea", "podAnnotations", tlsPodAnnotation), "a re-issued certificate restarts the pod")
	vols := v["extraVolumes"].([]any)
	require.Len(t, vols, 2, "the user's volume stays beside the TLS one")
	assert.Equal(t, "gitea-tls", vols[1].(map[string]any)["secret"].(map[string]any)["secretName"])

	o.GiteaPlainHTTP = true
	v = kube.Object(testKickoff(t, o).giteaValues())
	assert.Empty(t, v.Str("gitea", "config", "server", "PROTOCOL"))
	assert.Equal(t, "http://gitea-http.gitea.svc.cluster.local:3000/", v.Str("gitea", "config", "server", "ROOT_URL"))
}

func TestInClusterURLSchemeFollowsGiteaTLS(t *testing.T) {
	o := validOptions()
	o.GiteaInClusterURL = "http://gitea-http.gitea.svc.cluster.local:3000"
	_, err := o.withDefaults()
	assert.ErrorContains(t, err, "gitea_incluster_url \"http://gitea-http.gitea.svc.cluster.local:3000\" must start with https:// while gitea_tls is true")
	o.GiteaPlainHTTP = true
	_, err = o.withDefaults()
	assert.NoError(t, err)
}
