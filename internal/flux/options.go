// Package flux kicks off FluxCD from an in-cluster Gitea: it makes sure Gitea runs with an
// admin secret, keeps an API token, creates the organisation and repository, pushes the site
// repository's cluster path with the pinned Flux manifests through an endpoint reachable from
// here, applies cluster settings and secrets, installs Flux, points it at the in-cluster URL
// and waits until Flux has applied the pushed commit.
//
// The procedure is a list of steps (k0sctl's phases): each has a title, a cheap check that
// reads real state and says whether it must run, and a run. Check mode runs the checks only.
package flux

import (
	"fmt"
	"net"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/business-operations/bo.microvm/internal/command"
)

// Namespace is where Flux runs; the pinned manifests are generated for it.
const Namespace = "flux-system"

// Options are flux_kickoff's arguments.
type Options struct {
	Kubeconfig string // admin kubeconfig (k0s's admin.conf)
	Context    string // kubeconfig context; the current one when empty

	// GiteaURL is Gitea as reachable from here when set (a NodePort, an ingress), e.g.
	// https://gitea.example:443; empty (the default) reaches it through the API server's
	// port-forward to a pod of Service RELEASE-http (tunnel.go).
	GiteaURL          string
	GiteaInClusterURL string // Gitea as Flux reaches it; default https://RELEASE-http.NS.svc.cluster.local:3000 (http:// with GiteaPlainHTTP)
	// GiteaPlainHTTP turns Gitea's in-cluster TLS off (gitea_tls: false): Gitea serves plain
	// HTTP and Flux's clone carries the sync token in clear on the pod network.
	GiteaPlainHTTP   bool
	GiteaTLSSecret   string // Secret with Gitea's serving certificate (tls.crt, tls.key, ca.crt); the CA in NAME-ca; default "gitea-tls"
	GiteaNamespace   string // default "gitea"
	GiteaRelease     string // Helm release (Chart object name, Deployment name); default "gitea"
	GiteaDeployment  string // the chart's Deployment; default the release
	GiteaChart       Chart
	GiteaAdminSecret string // Secret with username/password the chart's admin.existingSecret reads; default "gitea-admin"
	GiteaAdminUser   string // default "gitea_admin"
	GiteaAdminEmail  string // default "gitea_admin@local.domain"
	// GiteaAdminPassword is used when the admin Secret is created; empty means a random one.
	// An existing Secret is never overwritten.
	GiteaAdminPassword string
	TokenSecret        string // Secret in GiteaNamespace keeping the API token; default "gitea-bootstrap-token"
	TokenName          string // Gitea token name for the API token; default "bo-microvm-kickoff"
	SyncTokenName      string // Gitea token name for Flux's read-only token; default "bo-microvm-flux-sync"

	Org    string // Gitea organisation; default "flux"
	Repo   string // repository; required
	Branch string // default "main"

	SiteDir     string   // the site repository on this machine
	ClusterPath string   // path in the repository Flux syncs, e.g. clusters/lab; required
	Paths       []string // site repository paths pushed; default [ClusterPath]

	FluxVersion string // a shipped version; default fluxmanifests.Default
	Interval    string // GitRepository interval; default "1m0s"

	ClusterSettings map[string]string // ConfigMap flux-system/cluster-settings; nil leaves it alone
	ClusterSecrets  map[string]string // Secret flux-system/cluster-secrets; nil leaves it alone
	AgeKey          string            // Secret flux-system/sops-age key age.agekey; empty leaves it alone

	Timeout time.Duration // each wait; default 5m
	Poll    time.Duration // poll interval of waits; default 2s

	AuthorName, AuthorEmail string // commit author; default "Flux", "flux@localhost"

	CheckMode bool
	Diff      bool

	Git command.Runner // runs git; command.Exec{} when nil
	Now func() time.Time
}

// Chart is the Gitea Helm chart as a k0s helm.k0sproject.io/v1beta1 Chart object.
type Chart struct {
	Name    string         // chartName; default "gitea/gitea"
	RepoURL string         // default "https://dl.gitea.com/charts/"
	Version string         // chart version; default "12.4.0"
	Values  map[string]any // merged over the bootstrap defaults
	Timeout string         // default "10m"
}

var (
	dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	repoName = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
)

// withDefaults fills defaults and validates; errors say which option is wrong.
func (o Options) withDefaults() (Options, error) {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&o.GiteaNamespace, "gitea")
	def(&o.GiteaRelease, "gitea")
	def(&o.GiteaDeployment, o.GiteaRelease)
	def(&o.GiteaAdminSecret, "gitea-admin")
	def(&o.GiteaAdminUser, "gitea_admin")
	def(&o.GiteaAdminEmail, "gitea_admin@local.domain")
	def(&o.TokenSecret, "gitea-bootstrap-token")
	def(&o.TokenName, "bo-microvm-kickoff")
	def(&o.SyncTokenName, "bo-microvm-flux-sync")
	def(&o.Org, "flux")
	def(&o.Branch, "main")
	def(&o.Interval, "1m0s")
	def(&o.GiteaChart.Name, "gitea/gitea")
	def(&o.GiteaChart.RepoURL, "https://dl.gitea.com/charts/")
	def(&o.GiteaChart.Version, "12.4.0")
	def(&o.GiteaChart.Timeout, "10m")
	def(&o.AuthorName, "Flux")
	def(&o.AuthorEmail, "flux@localhost")
	def(&o.GiteaTLSSecret, "gitea-tls")
	scheme := "https"
	if o.GiteaPlainHTTP {
		scheme = "http"
	}
	def(&o.GiteaInClusterURL, fmt.Sprintf("%s://%s-http.%s.svc.cluster.local:3000", scheme, o.GiteaRelease, o.GiteaNamespace))
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Minute
	}
	if o.Poll <= 0 {
		o.Poll = 2 * time.Second
	}
	if o.Git == nil {
		o.Git = command.Exec{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	o.GiteaURL = strings.TrimRight(o.GiteaURL, "/")
	o.GiteaInClusterURL = strings.TrimRight(o.GiteaInClusterURL, "/")
	for name, v := range map[string]string{"gitea_namespace": o.GiteaNamespace, "gitea_release": o.GiteaRelease, "gitea_admin_secret": o.GiteaAdminSecret, "gitea_token_secret": o.TokenSecret, "gitea_tls_secret": o.GiteaTLSSecret} {
		if !dnsLabel.MatchString(v) {
			return o, fmt.Errorf("%s %q is not a valid Kubernetes name (lower-case letters, digits and -)", name, v)
		}
	}
	if o.Kubeconfig == "" {
		return o, fmt.Errorf("kubeconfig is required")
	}
	if o.GiteaURL != "" && !strings.HasPrefix(o.GiteaURL, "http://") && !strings.HasPrefix(o.GiteaURL, "https://") {
		return o, fmt.Errorf("gitea_url %q must start with http:// or https:// (or be empty: through the API server's port-forward)", o.GiteaURL)
	}
	if !strings.HasPrefix(o.GiteaInClusterURL, scheme+"://") {
		return o, fmt.Errorf("gitea_incluster_url %q must start with %s:// while gitea_tls is %t (Gitea serves %s in the cluster)", o.GiteaInClusterURL, scheme, !o.GiteaPlainHTTP, strings.ToUpper(scheme))
	}
	if !repoName.MatchString(o.Repo) || !repoName.MatchString(o.Org) {
		return o, fmt.Errorf("org %q and repo %q must be Gitea names (letters, digits, ., _ and -)", o.Org, o.Repo)
	}
	cp, err := cleanRel(o.ClusterPath, "cluster_path")
	if err != nil {
		return o, err
	}
	o.ClusterPath = cp
	if len(o.Paths) == 0 {
		o.Paths = []string{o.ClusterPath}
	}
	for i, p := range o.Paths {
		if o.Paths[i], err = cleanRel(p, "paths"); err != nil {
			return o, err
		}
	}
	if o.SiteDir == "" {
		return o, fmt.Errorf("site_dir is required")
	}
	if _, ok := o.ClusterSecrets[""]; ok {
		return o, fmt.Errorf("cluster_secrets has an empty key")
	}
	return o, nil
}

func cleanRel(p, option string) (string, error) {
	c := path.Clean(strings.TrimPrefix(strings.TrimSpace(p), "./"))
	if p == "" || c == "." || path.IsAbs(c) || c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("%s %q must be a relative path inside the repository", option, p)
	}
	return c, nil
}

// plainHTTPOffHost reports an http:// URL whose host is not a loopback address or localhost:
// what it carries crosses a network in clear.
func plainHTTPOffHost(u string) bool {
	rest, ok := strings.CutPrefix(u, "http://")
	if !ok {
		return false
	}
	host := rest
	if i := strings.IndexAny(host, "/?#"); i >= 0 {
		host = host[:i]
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if ip := net.ParseIP(host); ip != nil {
		return !ip.IsLoopback()
	}
	return host != "localhost"
}

// cloneURL is the repository URL under a Gitea base URL.
func cloneURL(base, org, repo string) string {
	return base + "/" + org + "/" + repo + ".git"
}
