// Package kube is a small Kubernetes REST client: a kubeconfig reader, get/create/patch,
// server-side apply and status writes for any kind, found by API discovery. It is what a
// module binary needs to drive an API server, without client-go's weight.
package kube

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"go.yaml.in/yaml/v3"
)

// kubeconfig is the part of a kubeconfig file this client understands.
type kubeconfig struct {
	CurrentContext string `yaml:"current-context"`
	Clusters       []struct {
		Name    string `yaml:"name"`
		Cluster struct {
			Server                   string `yaml:"server"`
			CertificateAuthority     string `yaml:"certificate-authority"`
			CertificateAuthorityData string `yaml:"certificate-authority-data"`
			InsecureSkipTLSVerify    bool   `yaml:"insecure-skip-tls-verify"`
			TLSServerName            string `yaml:"tls-server-name"`
		} `yaml:"cluster"`
	} `yaml:"clusters"`
	Contexts []struct {
		Name    string `yaml:"name"`
		Context struct {
			Cluster string `yaml:"cluster"`
			User    string `yaml:"user"`
		} `yaml:"context"`
	} `yaml:"contexts"`
	Users []struct {
		Name string `yaml:"name"`
		User struct {
			ClientCertificate     string `yaml:"client-certificate"`
			ClientCertificateData string `yaml:"client-certificate-data"`
			ClientKey             string `yaml:"client-key"`
			ClientKeyData         string `yaml:"client-key-data"`
			Token                 string `yaml:"token"`
			TokenFile             string `yaml:"tokenFile"`
		} `yaml:"user"`
	} `yaml:"users"`
}

// Config is a parsed kubeconfig. It is the one kubeconfig reader of the collection: the k0s
// module reads join tokens (a kubeconfig inside), kubelet.conf and admin.conf with it.
type Config struct {
	kc  kubeconfig
	dir string // relative certificate and token paths are relative to it
}

// ParseConfig parses kubeconfig data; dir is where relative file references point ("" for
// data that came from no file, e.g. a join token).
func ParseConfig(data []byte, dir string) (*Config, error) {
	var kc kubeconfig
	if err := yaml.Unmarshal(data, &kc); err != nil {
		return nil, fmt.Errorf("not a kubeconfig: %w", err)
	}
	if len(kc.Clusters) == 0 {
		return nil, fmt.Errorf("not a kubeconfig: no clusters")
	}
	return &Config{kc: kc, dir: dir}, nil
}

// Endpoint is what the context of a kubeconfig names: the server, its CA (PEM, nil when
// none is given) and the user's bearer token ("" when the user has none inline).
type Endpoint struct {
	Server string
	CA     []byte
	Token  string
}

// Endpoint returns the server, CA and token of the current context, or of the only
// cluster and user when the kubeconfig has no usable context (as a join token may).
func (c *Config) Endpoint() (Endpoint, error) {
	clusterName, userName, _ := c.context("")
	var ep Endpoint
	for i, cl := range c.kc.Clusters {
		if cl.Name == clusterName || (clusterName == "" && i == 0) {
			ep.Server = cl.Cluster.Server
			ca, err := dataOrFile(cl.Cluster.CertificateAuthorityData, cl.Cluster.CertificateAuthority, c.dir)
			if err != nil {
				return ep, fmt.Errorf("kubeconfig cluster %s: certificate authority: %w", cl.Name, err)
			}
			ep.CA = ca
			break
		}
	}
	for i, u := range c.kc.Users {
		if u.Name == userName || (userName == "" && i == 0) {
			ep.Token = u.User.Token
			break
		}
	}
	return ep, nil
}

// context returns the cluster and user of the named context (current-context when empty, the
// only context when there is no current one).
func (c *Config) context(name string) (cluster, user string, ok bool) {
	if name == "" {
		name = c.kc.CurrentContext
	}
	for _, x := range c.kc.Contexts {
		if x.Name == name {
			return x.Context.Cluster, x.Context.User, true
		}
	}
	if name == "" && len(c.kc.Contexts) == 1 {
		return c.kc.Contexts[0].Context.Cluster, c.kc.Contexts[0].Context.User, true
	}
	return "", "", false
}

// Load reads a kubeconfig file and returns a client for its current context (or the named
// context when context is not empty). It understands inline and file certificates, client
// certificates and bearer tokens; it fails when the context, cluster or user is missing or
// a certificate does not parse.
func Load(path, context string) (*Client, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read kubeconfig: %w", err)
	}
	cfg, err := ParseConfig(data, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("parse kubeconfig %s: %w", path, err)
	}
	return cfg.client(path, context)
}

func (cfg *Config) client(path, context string) (*Client, error) {
	kc, dir := cfg.kc, cfg.dir
	clusterName, userName, found := cfg.context(context)
	if !found {
		if context == "" {
			context = kc.CurrentContext
		}
		return nil, fmt.Errorf("kubeconfig %s has no context %q", path, context)
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	var server string
	found = false
	for _, c := range kc.Clusters {
		if c.Name != clusterName {
			continue
		}
		found = true
		server = c.Cluster.Server
		tlsConf.InsecureSkipVerify = c.Cluster.InsecureSkipTLSVerify
		tlsConf.ServerName = c.Cluster.TLSServerName
		ca, err := dataOrFile(c.Cluster.CertificateAuthorityData, c.Cluster.CertificateAuthority, dir)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig cluster %s: certificate authority: %w", clusterName, err)
		}
		if len(ca) > 0 {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(ca) {
				return nil, fmt.Errorf("kubeconfig cluster %s: the certificate authority holds no PEM certificate", clusterName)
			}
			tlsConf.RootCAs = pool
		}
	}
	if !found || server == "" {
		return nil, fmt.Errorf("kubeconfig %s: no server for cluster %q", path, clusterName)
	}
	var token string
	for _, u := range kc.Users {
		if u.Name != userName {
			continue
		}
		cert, err := dataOrFile(u.User.ClientCertificateData, u.User.ClientCertificate, dir)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig user %s: client certificate: %w", userName, err)
		}
		key, err := dataOrFile(u.User.ClientKeyData, u.User.ClientKey, dir)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig user %s: client key: %w", userName, err)
		}
		if len(cert) > 0 {
			pair, err := tls.X509KeyPair(cert, key)
			if err != nil {
				return nil, fmt.Errorf("kubeconfig user %s: client certificate and key do not load: %w", userName, err)
			}
			tlsConf.Certificates = []tls.Certificate{pair}
		}
		token = u.User.Token
		if token == "" && u.User.TokenFile != "" {
			b, err := os.ReadFile(abs(u.User.TokenFile, dir))
			if err != nil {
				return nil, fmt.Errorf("kubeconfig user %s: token file: %w", userName, err)
			}
			token = string(b)
		}
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsConf
	return &Client{
		Server: server,
		HTTP:   &http.Client{Transport: transport, Timeout: 60 * time.Second},
		token:  token,
	}, nil
}

func dataOrFile(data, file, dir string) ([]byte, error) {
	if data != "" {
		return base64.StdEncoding.DecodeString(data)
	}
	if file != "" {
		return os.ReadFile(abs(file, dir))
	}
	return nil, nil
}

func abs(p, dir string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}
