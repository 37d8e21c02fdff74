// Gitea's in-cluster TLS: a CA this module makes and keeps in a Secret, and Gitea's serving
// certificate signed by it, so that source-controller's clone (basic auth with the read-only
// sync token) and the module's own tunnel traffic reach Gitea inside TLS on the pod network.
//
// Why a CA of our own and not the cluster's: a k0s cluster's CA key stays on its controllers
// (/var/lib/k0s/pki/ca.key); this module holds only an admin kubeconfig, and the certificates
// API has no built-in signer for an arbitrary serving certificate (kubernetes.io/kubelet-serving
// signs kubelets' node names only, kubernetes.io/legacy-unknown is never signed by
// kube-controller-manager). A CA of our own is trusted only where we put it (Flux's
// GitRepository Secret and this module's tunnel), so its key, kept in one Secret that no pod
// mounts, can vouch for Gitea and nothing else.

package flux

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/business-operations/bo.microvm/internal/kube"
)

const (
	// caValidity and certValidity are how long a new CA and a new serving certificate last.
	caValidity   = 10 * 365 * 24 * time.Hour
	certValidity = 365 * 24 * time.Hour
	// renewBefore: a certificate (or CA) with less time left is re-issued by the next run.
	renewBefore = 30 * 24 * time.Hour
	// tlsMountPath is where the Gitea container finds the serving certificate (extraVolumes).
	tlsMountPath = "/etc/gitea-tls"
	// tlsPodAnnotation carries the serving certificate's fingerprint in the pod template, so a
	// re-issued certificate restarts Gitea (it reads CERT_FILE once, at start).
	tlsPodAnnotation = "bo.microvm/gitea-tls-sha256"
)

// giteaTLS is what the TLS step learned: the CA and the serving certificate in force.
type giteaTLS struct {
	caPEM       []byte
	fingerprint string // hex SHA-256 of the serving certificate (DER)
}

func (k *kickoff) tlsSecretRef() kube.Ref {
	return k.ref("v1", "Secret", k.o.GiteaNamespace, k.o.GiteaTLSSecret)
}

func (k *kickoff) caSecretRef() kube.Ref {
	return k.ref("v1", "Secret", k.o.GiteaNamespace, k.o.GiteaTLSSecret+"-ca")
}

// inClusterHost is the host name of gitea_incluster_url (what Flux dials and verifies).
func (k *kickoff) inClusterHost() string {
	u, err := url.Parse(k.o.GiteaInClusterURL)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// certNames are the names the serving certificate covers: the chart's HTTP Service in every
// form a pod's resolver accepts, and the in-cluster URL's host.
func (k *kickoff) certNames() []string {
	svc, ns := k.giteaService(), k.o.GiteaNamespace
	names := []string{svc, svc + "." + ns, svc + "." + ns + ".svc", svc + "." + ns + ".svc.cluster.local"}
	if h := k.inClusterHost(); h != "" && !contains(names, h) {
		names = append(names, h)
	}
	return names
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// tlsState reads both Secrets and says what must be (re)made: newCA when the CA is absent,
// unreadable or expires within renewBefore; newCert when the serving certificate is absent,
// not signed by the CA, does not match its key, misses a name or expires within renewBefore.
func (k *kickoff) tlsState(ctxGet func(kube.Ref) (kube.Object, error)) (newCA, newCert bool, reason string, err error) {
	now := k.o.Now()
	caSec, err := ctxGet(k.caSecretRef())
	if err != nil {
		return false, false, "", err
	}
	var ca *x509.Certificate
	if caSec == nil {
		return true, true, fmt.Sprintf("Secret %s/%s-ca (the Gitea CA) is absent", k.o.GiteaNamespace, k.o.GiteaTLSSecret), nil
	}
	d := secretData(caSec)
	k.addSecret(d["ca.key"])
	if ca, _, err = parsePair([]byte(d["ca.crt"]), []byte(d["ca.key"])); err != nil {
		return true, true, fmt.Sprintf("Secret %s/%s-ca holds no usable CA (%v)", k.o.GiteaNamespace, k.o.GiteaTLSSecret, err), nil
	}
	if !ca.IsCA || now.Add(renewBefore).After(ca.NotAfter) {
		return true, true, fmt.Sprintf("the Gitea CA expires on %s (renewed %s before)", ca.NotAfter.UTC().Format(time.DateOnly), renewBefore), nil
	}
	sec, err := ctxGet(k.tlsSecretRef())
	if err != nil {
		return false, false, "", err
	}
	name := fmt.Sprintf("Secret %s/%s", k.o.GiteaNamespace, k.o.GiteaTLSSecret)
	if sec == nil {
		return false, true, name + " is absent", nil
	}
	d = secretData(sec)
	k.addSecret(d["tls.key"])
	cert, _, err := parsePair([]byte(d["tls.crt"]), []byte(d["tls.key"]))
	if err != nil {
		return false, true, fmt.Sprintf("%s holds no usable certificate (%v)", name, err), nil
	}
	if err := cert.CheckSignatureFrom(ca); err != nil || d["ca.crt"] != string(pemCert(ca.Raw)) {
		return false, true, name + " is not signed by the Gitea CA", nil
	}
	for _, n := range k.certNames() {
		if cert.VerifyHostname(n) != nil {
			return false, true, fmt.Sprintf("%s does not cover %s", name, n), nil
		}
	}
	if now.Add(renewBefore).After(cert.NotAfter) {
		return false, true, fmt.Sprintf("%s expires on %s (renewed %s before)", name, cert.NotAfter.UTC().Format(time.DateOnly), renewBefore), nil
	}
	k.tls = &giteaTLS{caPEM: pemCert(ca.Raw), fingerprint: fingerprint(cert.Raw)}
	return false, false, fmt.Sprintf("%s is signed by the Gitea CA, covers %s, valid until %s", name, strings.Join(k.certNames(), ", "), cert.NotAfter.UTC().Format(time.DateOnly)), nil
}

func (k *kickoff) checkTLS(ctx context.Context) (bool, string, error) {
	if k.o.GiteaPlainHTTP {
		return false, "gitea_tls is off: Gitea serves plain HTTP in the cluster", nil
	}
	newCA, newCert, reason, err := k.tlsState(func(r kube.Ref) (kube.Object, error) { return k.getOptional(ctx, r) })
	return newCA || newCert, reason, err
}

// issueTLS makes what checkTLS found missing: a new CA only when the CA itself is unusable
// (then Flux's Secret gets the new ca.crt in its own step), else a new serving certificate of
// the kept CA (Flux's ca.crt stays valid).
func (k *kickoff) issueTLS(ctx context.Context) error {
	newCA, _, _, err := k.tlsState(func(r kube.Ref) (kube.Object, error) { return k.getOptional(ctx, r) })
	if err != nil {
		return err
	}
	if err := k.ensureNamespace(ctx, k.o.GiteaNamespace); err != nil {
		return err
	}
	now := k.o.Now()
	var ca *x509.Certificate
	var caKey *ecdsa.PrivateKey
	if newCA {
		if ca, caKey, err = newCertificate(now, caValidity, nil, nil, &x509.Certificate{
			Subject:               pkix.Name{CommonName: fmt.Sprintf("bo.microvm Gitea CA %s/%s", k.o.GiteaNamespace, k.o.GiteaRelease)},
			IsCA:                  true,
			BasicConstraintsValid: true,
			MaxPathLenZero:        true,
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		}); err != nil {
			return err
		}
		keyPEM, err := pemKey(caKey)
		if err != nil {
			return err
		}
		k.addSecret(string(keyPEM))
		if _, err := k.kube.Apply(ctx, secretObject(k.o.GiteaNamespace, k.o.GiteaTLSSecret+"-ca", map[string]string{"ca.crt": string(pemCert(ca.Raw)), "ca.key": string(keyPEM)}), FieldManager); err != nil {
			return fmt.Errorf("store the Gitea CA: %w", err)
		}
	} else {
		caSec, err := k.kube.Get(ctx, k.caSecretRef())
		if err != nil {
			return err
		}
		d := secretData(caSec)
		if ca, caKey, err = parsePair([]byte(d["ca.crt"]), []byte(d["ca.key"])); err != nil {
			return err
		}
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: k.certNames()[3]},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range k.certNames() {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	cert, key, err := newCertificate(now, certValidity, ca, caKey, tmpl)
	if err != nil {
		return err
	}
	keyPEM, err := pemKey(key)
	if err != nil {
		return err
	}
	k.addSecret(string(keyPEM))
	s := secretObject(k.o.GiteaNamespace, k.o.GiteaTLSSecret, map[string]string{"tls.crt": string(pemCert(cert.Raw)), "tls.key": string(keyPEM), "ca.crt": string(pemCert(ca.Raw))})
	s["type"] = "kubernetes.io/tls"
	if _, err := k.kube.Apply(ctx, s, FieldManager); err != nil {
		if kube.IsInvalid(err) { // an earlier Opaque Secret of that name: type is immutable
			return fmt.Errorf("store Gitea's certificate in Secret %s/%s: %w (delete that Secret, or set gitea_tls_secret to another name)", k.o.GiteaNamespace, k.o.GiteaTLSSecret, err)
		}
		return fmt.Errorf("store Gitea's certificate in Secret %s/%s: %w", k.o.GiteaNamespace, k.o.GiteaTLSSecret, err)
	}
	k.tls = &giteaTLS{caPEM: pemCert(ca.Raw), fingerprint: fingerprint(cert.Raw)}
	return nil
}

// tlsClientConfig is how the module's tunnel verifies Gitea: only the Gitea CA, for the
// in-cluster host name (what the serving certificate names).
func (k *kickoff) tlsClientConfig() (*tls.Config, error) {
	if k.tls == nil {
		return nil, fmt.Errorf("the Gitea CA is not known yet (Secret %s/%s-ca)", k.o.GiteaNamespace, k.o.GiteaTLSSecret)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(k.tls.caPEM) {
		return nil, fmt.Errorf("the Gitea CA does not parse")
	}
	return &tls.Config{RootCAs: pool, ServerName: k.inClusterHost(), MinVersion: tls.VersionTLS12}, nil
}

func newCertificate(now time.Time, validity time.Duration, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, tmpl *x509.Certificate) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = now.Add(-time.Hour) // clock skew between this machine and the nodes
	tmpl.NotAfter = now.Add(validity)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, nil, fmt.Errorf("create certificate %s: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

// parsePair parses a PEM certificate and its ECDSA (or PKCS#8) key and checks they match.
func parsePair(certPEM, keyPEM []byte) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM) // the same parse as Gitea's runHTTPS
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, nil, err
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, nil, fmt.Errorf("key is not ECDSA")
	}
	return cert, key, nil
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func pemKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// equalPEM compares two PEM texts ignoring surrounding white space.
func equalPEM(a, b string) bool {
	return bytes.Equal(bytes.TrimSpace([]byte(a)), bytes.TrimSpace([]byte(b)))
}
