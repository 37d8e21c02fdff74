// Package k0s bootstraps and resets k0s on the node it runs on, the way k0sctl's apply does
// it from outside: read the real state first (binary, service, `k0s status`, PKI and kubelet
// files), then run a list of steps, each with a title, a cheap "should I run" check from that
// state, and an action. Check mode returns the same step list without acting.
//
// Every k0s call goes through one command.Runner, so tests use command.Fake or the k0s
// contract fake (tests/k0sfake) and production uses the real k0s binary. A join token is
// written to a file and never passed on a command line, returned or logged.
package k0s

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/business-operations/bo.microvm/internal/command"
	"github.com/business-operations/bo.microvm/internal/kube"
)

// Role is a node's k0s role.
type Role string

// The roles a node can have.
const (
	Controller       Role = "controller"
	ControllerWorker Role = "controller+worker"
	Worker           Role = "worker"
)

// IsController reports whether the node runs a control plane.
func (r Role) IsController() bool { return r == Controller || r == ControllerWorker }

// RunsWorkloads reports whether the node runs a kubelet.
func (r Role) RunsWorkloads() bool { return r == Worker || r == ControllerWorker }

// installRole is the argument of `k0s install`.
func (r Role) installRole() string {
	if r.IsController() {
		return "controller"
	}
	return "worker"
}

// Service modes.
const (
	// ServiceAuto is nixos on a NixOS machine (os-release ID=nixos), generic elsewhere.
	ServiceAuto = "auto"
	// ServiceGeneric installs the unit with `k0s install` and drives it with `k0s start|stop`.
	ServiceGeneric = "generic"
	// ServiceNixOS leaves the unit to NixOS (guest.nix's microvm-guest.k0s, or services.k0s
	// of k0s-nix) and drives it with systemctl.
	ServiceNixOS = "nixos"
)

// NixOS facts the auto mode relies on. Every NixOS system has /etc/os-release with ID=nixos
// (nixpkgs nixos/modules/misc/version.nix generates it: environment.etc."os-release" with
// "ID=nixos"), and environment.systemPackages are linked into /run/current-system/sw/bin,
// where guest.nix puts microvm-guest.k0s.package.
const (
	OSRelease   = "/etc/os-release"
	NixOSBinary = "/run/current-system/sw/bin/k0s"
)

// isNixOS reports whether the machine's os-release says NixOS (ID=nixos, or nixos in ID_LIKE
// for derivatives).
func (e Env) isNixOS() bool {
	data, err := os.ReadFile(e.path(OSRelease))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok {
			continue
		}
		v = strings.Trim(v, `"'`)
		if k == "ID" && v == "nixos" || k == "ID_LIKE" && contains(strings.Fields(v), "nixos") {
			return true
		}
	}
	return false
}

// Defaults, from k0s and k0sctl (reference/k0s-flux.md §1, §2.2).
const (
	DefaultBinary          = "/usr/local/bin/k0s" // generic mode (k0sctl's path)
	DefaultConfigPath      = "/etc/k0s/k0s.yaml"
	DefaultTokenFile       = "/etc/k0s/k0stoken"
	DefaultDataDir         = "/var/lib/k0s"
	DefaultNixOSService    = "k0s"
	DefaultControllerTTL   = 30 * time.Minute
	DefaultWorkerTTL       = 10 * time.Minute
	DefaultTimeout         = 10 * time.Minute
	DefaultPollInterval    = 5 * time.Second
	DefaultAPIPort         = 6443
	defaultConfigDirMode   = 0o750
	configFileMode         = 0o600
	tokenFileMode          = 0o600
	controllerTokenMaxWait = 2 * time.Minute
)

// Waits the module knows, in the order they run.
const (
	WaitAPI     = "api"
	WaitNode    = "node"
	WaitCharts  = "charts"
	WaitCilium  = "cilium"
	WaitNodes   = "nodes"
	WaitOpenEBS = "openebs"
	WaitRook    = "rook"
)

// WaitOrder is every wait in the order Apply runs them.
var WaitOrder = []string{WaitAPI, WaitNode, WaitCharts, WaitCilium, WaitNodes, WaitOpenEBS, WaitRook}

// Options is what the module was asked to do on this node.
type Options struct {
	Role      Role
	Bootstrap bool // this controller initialises the cluster (exactly one per cluster)
	// Token is the join token for a node that has not joined yet. Secret: it is only ever
	// written to TokenFile.
	Token string
	// ClusterCA is the SHA-256 (hex) of the cluster CA certificate the playbook expects; a
	// node whose data holds another CA is refused (unless ForceReset). Empty: taken from Token.
	ClusterCA  string
	ForceReset bool

	ServiceMode  string // ServiceGeneric (default) or ServiceNixOS
	ServiceName  string // NixOS unit name (DefaultNixOSService)
	Binary       string
	ConfigPath   string
	TokenFile    string
	DataDir      string
	ManageConfig bool // write ConfigPath (controllers); false when Nix renders it
	NoTaints     bool // controller+worker: `--no-taints`
	NodeName     string
	// ExtraArgs are more `k0s install` flags (k0sctl's installFlags), e.g.
	// --disable-components=metrics-server: generic mode passes them to `k0s install` and
	// compares them with the running k0s' Args; NixOS mode checks that the unit has them.
	ExtraArgs []string

	Cluster ClusterConfig // what k0s.yaml must say

	Wait         []string // waits to run (WaitAPI, ...)
	Nodes        []string // node names WaitNodes expects Ready
	Timeout      time.Duration
	PollInterval time.Duration
}

// Env is the host the module acts on: one command runner for k0s and systemctl, a root that
// prefixes every file path (empty on a real host), and the clock for waits.
type Env struct {
	Run   command.Runner
	Root  string
	Sleep func(ctx context.Context, d time.Duration) error
	Now   func() time.Time
	// Probe checks that an API URL answers HTTP from this node; nil: an HTTPS GET of
	// <url>/version where any HTTP answer (200, 401, 403, 404) counts, as k0sctl's check.
	Probe func(ctx context.Context, url string) error
	// Kube makes the API client from a kubeconfig file; nil: kube.Load.
	Kube func(kubeconfig string) (*kube.Client, error)
}

func (e Env) kube(kubeconfig string) (*kube.Client, error) {
	if e.Kube != nil {
		return e.Kube(kubeconfig)
	}
	return kube.Load(kubeconfig, "")
}

func (e Env) probe(ctx context.Context, url string) error {
	if e.Probe != nil {
		return e.Probe(ctx, url)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(url, "/")+"/version", nil)
	if err != nil {
		return err
	}
	// Reachability only: the join itself verifies the server against the token's CA.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
		return nil
	}
	return fmt.Errorf("%s/version answered %s", url, resp.Status)
}

func (e Env) path(p string) string {
	if e.Root == "" {
		return p
	}
	return filepath.Join(e.Root, p)
}

func (e Env) sleep(ctx context.Context, d time.Duration) error {
	if e.Sleep != nil {
		return e.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (e Env) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e Env) exists(p string) bool {
	_, err := os.Stat(e.path(p))
	return err == nil
}

// withDefaults fills the zero values of o.
func (o Options) withDefaults() Options {
	if o.ServiceMode == "" {
		o.ServiceMode = ServiceAuto
	}
	if o.ServiceName == "" {
		o.ServiceName = DefaultNixOSService
	}
	if o.ConfigPath == "" {
		o.ConfigPath = DefaultConfigPath
	}
	if o.TokenFile == "" {
		o.TokenFile = DefaultTokenFile
	}
	if o.DataDir == "" {
		o.DataDir = DefaultDataDir
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.PollInterval == 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.NodeName == "" {
		o.NodeName, _ = os.Hostname()
	}
	return o
}

// resolve settles the service mode and binary from the machine: auto is nixos on NixOS (its
// os-release says so) and
// generic elsewhere; generic on NixOS is refused (k0s install cannot write the read-only
// /etc/systemd/system there, and its unit would clash with the one guest.nix declares).
func (o Options) resolve(env Env) (Options, error) {
	nixos := env.isNixOS()
	switch o.ServiceMode {
	case ServiceAuto:
		o.ServiceMode = ServiceGeneric
		if nixos {
			o.ServiceMode = ServiceNixOS
		}
	case ServiceGeneric:
		if nixos {
			return o, fmt.Errorf("service_mode generic on NixOS (%s says ID=nixos): k0s install cannot write the unit there and would clash with the k0s unit guest.nix declares; set k0s_service_mode: nixos (or auto, the default)", OSRelease)
		}
	case ServiceNixOS:
	default:
		return o, fmt.Errorf("service_mode %q is not one of auto, generic, nixos", o.ServiceMode)
	}
	if o.Binary == "" {
		o.Binary = DefaultBinary
		if o.ServiceMode == ServiceNixOS {
			o.Binary = NixOSBinary
		}
	}
	return o, nil
}

// validate checks the options that do not depend on host state.
func (o Options) validate() error {
	switch o.Role {
	case "", Controller, ControllerWorker, Worker: // "": state ready takes the running role
	default:
		return fmt.Errorf("role %q is not one of controller, controller+worker, worker", o.Role)
	}
	if o.Bootstrap && !o.Role.IsController() {
		return fmt.Errorf("bootstrap: true needs a controller role, not %s: the cluster is initialised on a controller", o.Role)
	}
	if o.Bootstrap && o.Token != "" {
		return fmt.Errorf("bootstrap: true initialises a new cluster and takes no join token; drop token on the bootstrap controller")
	}
	for _, w := range o.Wait {
		if !contains(WaitOrder, w) {
			return fmt.Errorf("wait_for %q is not one of %v", w, WaitOrder)
		}
	}
	return nil
}

// validateConfig checks what writing k0s.yaml needs (state present).
func (o Options) validateConfig() error {
	if o.Role.IsController() && o.ManageConfig && o.Cluster.Addons.Cilium.Enabled && o.Cluster.APIAddress == "" {
		return fmt.Errorf("api_address is required on controllers with Cilium: without kube-proxy, Cilium reaches the API at api_address (k8sServiceHost)")
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
