package main

import (
	"embed"
	"regexp"
	"sort"
	"strings"
)

// releaseName is the Helm release name rule k0s checks (capture
// config-validate-release.stderr quotes it).
var releaseName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

// The texts the fake answers with. Each is pinned to a capture of a real k0s
// (testdata/<version>/, see testdata/README.md) by TestTheFakeAnswersAsItsCaptures: a text
// here that differs from its capture fails it.

// versions are the k0s versions the fake speaks, each with its captures in testdata/<key>
// (README.md there), chosen by K0S_FAKE_VERSION (default defaultVersion). What differs between
// them is listed here, each with the capture that shows it; TestTheFakeAnswersAsItsCaptures
// runs once per version and fails when a capture directory has no entry here or the reverse.
var versions = map[string]versionTraits{
	// k0s v1.35.3+k0s.0 (364369c9).
	"v1.35.3": {chartRepository: true, resetRunning: "k0s seems to be running, please stop k0s before reset"},
	// k0s v1.34.10+k0s.0 (72cb9dd9).
	"v1.34.10": {chartRepository: false, resetRunning: "another k0s process is still running, please stop k0s before reset"},
}

// versionTraits are the differences between the k0s versions that the fake's answers show.
type versionTraits struct {
	// chartRepository: the Chart k0s makes of a k0s.yaml chart carries spec.repository {url}
	// of its k0s.yaml repository (capture chart-failed.json). k0s v1.35.1 added it (commit
	// e6b0222617 "Embed repo info to Chart CRD", extensions_controller.go chartCrdTemplate);
	// v1.34 looks the repository up in the controller's own repository cache.
	chartRepository bool
	// resetRunning is `k0s reset` while k0s runs, after "Error: " (capture
	// reset-running.stderr, rc 1): v1.35 moved reset to pkg/uninstall and reworded it.
	resetRunning string
}

const defaultVersion = "v1.35.3"

var (
	// captureDir is the capture directory of the version the fake speaks.
	captureDir = env("K0S_FAKE_VERSION", defaultVersion)
	traits     = versionOf(captureDir)
	// fakeVersion is `k0s version` (capture version.stdout).
	fakeVersion = strings.TrimSpace(string(captured("version.stdout")))
)

func versionOf(v string) versionTraits {
	t, ok := versions[v]
	if !ok {
		unknown("K0S_FAKE_VERSION %q (the fake speaks %s)", v, strings.Join(sortedVersions(), ", "))
	}
	return t
}

func sortedVersions() []string {
	out := make([]string, 0, len(versions))
	for v := range versions {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

const (
	// msgNotRunning is `k0s status` when k0s does not run (capture status-not-running.stderr,
	// rc 1), for the default status socket.
	msgNotRunning = `can't get "status" via "/run/k0s/status.sock": Get "http://localhost/status": dial unix /run/k0s/status.sock: connect: no such file or directory`

	// msgUnsupportedRole is `k0s token list` without --role or with another (capture
	// token-list-norole.stderr), and `token create --role=bogus`.
	msgUnsupportedRole = `unsupported role %q; supported roles are "controller" and "worker"`

	// msgNoTokens is `k0s token list --role=R` when there are no tokens at all (capture
	// token-list-empty.stdout).
	msgNoTokens = "No k0s join tokens found"

	// msgTokenDeleted is `k0s token invalidate ID`, per ID, also for IDs that never existed
	// (capture token-invalidate-unknown.stdout).
	msgTokenDeleted = "token %s deleted successfully"

	// msgEtcdLeaveLast is the last line of `k0s etcd leave` on the only member (capture
	// etcd-leave-last.stderr, rc 1; the etcd client's and k0s' log lines before it are left out).
	msgEtcdLeaveLast = "Error: etcdserver: re-configuration failed due to not enough started members\n"

	// msgNoAdminConf is `k0s kubeconfig admin` on a node without the admin kubeconfig
	// (capture kubeconfig-admin-missing.stderr, rc 1).
	msgNoAdminConf = `admin config %q not found, check if the control plane is initialized on this node`

	// The `k0s config validate` errors (captures config-validate-*.stderr), after "Error: ".
	msgUnknownField        = `failed to parse configuration: error unmarshaling JSON: while decoding JSON: json: unknown field %q`
	msgUnsupportedProvider = `spec: network: provider: Unsupported value: %q: supported values: "kuberouter", "calico", "custom"`
	msgInvalidAddress      = `spec: api: address: Invalid value: %q: invalid IP address`
	msgNoTargetNS          = `spec: extensions: chart must have TargetNS field not empty`
	msgInvalidRelease      = `spec: extensions: invalid release name, must match regex ^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$ and the length must not be longer than 53`

	// joinKubeconfig is the kubeconfig inside a join token (capture
	// token-create-worker.kubeconfig: the decoded token, its secret replaced): CA data,
	// server, user (twice), token.
	joinKubeconfig = `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: %s
    server: %s
  name: k0s
contexts:
- context:
    cluster: k0s
    user: %s
  name: k0s
current-context: k0s
kind: Config
users:
- name: %s
  user:
    token: %s
`
)

// captures are the captured answers the fake replays as templates (status JSON).
//
//go:embed testdata
var captures embed.FS

// captured is one capture of the version the fake speaks.
func captured(name string) []byte {
	versionOf(captureDir)
	b, err := captures.ReadFile("testdata/" + captureDir + "/" + name)
	if err != nil {
		unknown("capture %s: %v", name, err)
	}
	return b
}
