// Command k0sfake is the CONTRACT FAKE of the k0s CLI, for tests only: it is not k0s.
//
// It implements the k0s commands bo.microvm.k0s_bootstrap uses (`k0s version`, `status -o
// json`, `config validate`, `install controller|worker`, `start|stop`, `reset`, `token
// create|list|invalidate`, `etcd member-list|leave`, `kubeconfig admin`, and `controller|worker`
// in the foreground as a unit NixOS declares runs it) and answers as k0s v1.35.3+k0s.0 or
// v1.34.10+k0s.0 does (K0S_FAKE_VERSION): every text and format comes from a capture of a real
// k0s of that version (testdata/<version>/, README there says how each was made), pinned by
// TestTheFakeAnswersAsItsCaptures. It keeps its state in files, appends every argv to a log
// so tests can assert that no token ever reached a command line, and fails loudly (exit 2,
// "k0s contract fake: unknown ...") on anything it does not know, including answers it has
// no capture of. What k0s does inside the cluster on start, the fake does through the real
// kube-apiserver (internal/kube) as far as a test needs it: it creates the Chart CRD and one
// Chart per k0s.yaml Helm extension (as k0s' chartCrdTemplate lays it out), registers Node
// objects and keeps join tokens as bootstrap-token Secrets. Status (Chart installed, Node
// Ready) is not its business: tests set it in a controller stand-in, with k0s' formula
// (internal/k0s.ChartValuesHash).
//
// Deviations from k0s, on purpose: a controller token names the API server (k0s names its
// own API on :9443, capture token-create-controller.kubeconfig), because the fake serves no
// k0s API; the unit is a stub file, and start/stop change only the fake's state (in the
// foreground, `controller|worker` waits for SIGTERM instead of running a control plane).
//
// Environment (all optional):
//
//	K0S_FAKE_STATE       state dir (state.json, argv.log)              /var/lib/k0s-fake
//	K0S_FAKE_ROOT        prefix for every path k0s touches             "" (the real /)
//	K0S_FAKE_KUBECONFIG  admin kubeconfig of the real kube-apiserver   /etc/k0s-fake/kubeconfig
//	                     (absent: no API)
//	K0S_FAKE_NODE_NAME   this node's name                              the host name
//	K0S_FAKE_API_URL     the API URL join tokens name                  the kubeconfig's server,
//	                                                                   else https://127.0.0.1:6443
//	K0S_FAKE_VERSION     the k0s version it speaks (testdata/<dir>)     v1.35.3
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/business-operations/bo.microvm/internal/kube"
)

const fakeName = "k0s contract fake"

// die prints a k0s-style error and exits 1 (k0s' exit code for command errors).
func die(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "Error: "+format+"\n", args...)
	os.Exit(1)
}

// unknown is the loud failure for anything the fake does not implement.
func unknown(format string, args ...any) {
	fmt.Fprintf(os.Stderr, fakeName+": unknown "+format+"\n", args...)
	os.Exit(2)
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

var (
	stateDir = env("K0S_FAKE_STATE", "/var/lib/k0s-fake")
	root     = os.Getenv("K0S_FAKE_ROOT")
)

func rooted(p string) string {
	if root == "" {
		return p
	}
	return filepath.Join(root, p)
}

// state is what the fake remembers between calls.
type state struct {
	Installed string   `json:"installed"` // "", controller, worker
	Args      []string `json:"args"`      // argv baked into the unit
	Running   bool     `json:"running"`
	// Foreground: the node runs as `k0s controller|worker` under a unit the fake did not
	// write (a NixOS unit, cmdRun), not through `k0s install` and `k0s start`.
	Foreground bool                 `json:"foreground,omitempty"`
	Pid        int                  `json:"pid"`
	Tokens     map[string]fakeToken `json:"tokens"`
	// EtcdMembers is how many etcd members the cluster has (0 = 1, this controller); tests
	// set it to let a controller leave.
	EtcdMembers int `json:"etcd_members,omitempty"`
}

// fakeToken is a join token the fake made: its role and RFC 3339 expiry ("" = never).
type fakeToken struct {
	Role    string `json:"role"`
	Expires string `json:"expires"`
}

func load() *state {
	st := &state{Tokens: map[string]fakeToken{}}
	data, err := os.ReadFile(filepath.Join(stateDir, "state.json"))
	if err == nil {
		if err := json.Unmarshal(data, st); err != nil {
			die("%s: corrupt state %s: %v", fakeName, stateDir, err)
		}
	}
	if st.Tokens == nil {
		st.Tokens = map[string]fakeToken{}
	}
	return st
}

func (st *state) save() {
	data, _ := json.MarshalIndent(st, "", "  ")
	must(os.MkdirAll(stateDir, 0o700))
	must(os.WriteFile(filepath.Join(stateDir, "state.json"), data, 0o600))
}

func must(err error) {
	if err != nil {
		die("%s: %v", fakeName, err)
	}
}

// logArgv appends argv to argv.log, one JSON array per line.
func logArgv() {
	must(os.MkdirAll(stateDir, 0o700))
	f, err := os.OpenFile(filepath.Join(stateDir, "argv.log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	must(err)
	line, _ := json.Marshal(os.Args)
	_, _ = f.Write(append(line, '\n'))
	f.Close()
}

// flags parses "--name=value", "--name value" and "-c value" for the names allowed; bool
// flags take no separate value. Anything else fails loudly.
type flagSpec struct {
	values map[string]bool // name -> takes a value
	short  map[string]string
}

func parseFlags(args []string, spec flagSpec) (map[string]string, []string) {
	got := map[string]string{}
	var pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if long, ok := spec.short[name]; ok && !strings.HasPrefix(a, "--") {
			name = long
		}
		takes, ok := spec.values[name]
		if !ok {
			unknown("flag %q for %q", a, strings.Join(os.Args[1:], " "))
		}
		if !hasVal {
			if takes {
				if i+1 >= len(args) {
					die("flag needs an argument: %s", a)
				}
				i++
				val = args[i]
			} else {
				val = "true"
			}
		}
		got[name] = val
	}
	return got, pos
}

var persistent = map[string]bool{"data-dir": true, "debug": false, "status-socket": true}

func with(extra map[string]bool) flagSpec {
	m := map[string]bool{}
	for k, v := range persistent {
		m[k] = v
	}
	for k, v := range extra {
		m[k] = v
	}
	return flagSpec{values: m, short: map[string]string{"c": "config", "o": "out", "d": "debug"}}
}

func dataDir(f map[string]string) string {
	if d := f["data-dir"]; d != "" {
		return d
	}
	return "/var/lib/k0s"
}

func main() {
	defer apiCancel()
	logArgv()
	args := os.Args[1:]
	if len(args) == 0 {
		unknown("command: none given")
	}
	switch args[0] {
	case "version":
		if len(args) > 1 {
			unknown("arguments to version: %v", args[1:])
		}
		fmt.Println(fakeVersion)
	case "status":
		cmdStatus(args[1:])
	case "config":
		cmdConfig(args[1:])
	case "controller", "worker":
		cmdRun(args[0], args[1:])
	case "install":
		cmdInstall(args[1:])
	case "start":
		cmdStart(args[1:])
	case "stop":
		cmdStop(args[1:])
	case "reset":
		cmdReset(args[1:])
	case "token":
		cmdToken(args[1:])
	case "etcd":
		cmdEtcd(args[1:])
	case "kubeconfig":
		cmdKubeconfig(args[1:])
	default:
		unknown("command %q", args[0])
	}
}

func cmdStatus(args []string) {
	f, pos := parseFlags(args, with(map[string]bool{"out": true}))
	if len(pos) > 0 {
		unknown("arguments to status: %v", pos)
	}
	if o := f["out"]; o != "" && o != "json" {
		unknown("status output format %q (the fake knows json)", o)
	}
	st := load()
	if !st.Running {
		die("status: %s", msgNotRunning)
	}
	fmt.Println(string(statusJSON(st)))
}

// statusJSON is `k0s status -o json` of the fake's node: the capture status-controller.json
// (every field; ClusterConfig and K0sVars as captured) with the fields that differ per node
// set from the fake's state: Pid, PPid, Args; Role is "controller" also with --enable-worker,
// which sets Workloads (k0s v1.35.3+k0s.0 cmd/controller/controller.go: Role: "controller",
// Workloads: controllerMode.WorkloadsEnabled()); and WorkerToAPIConnectionStatus (captured
// {"Message":"","Success":false} without a worker, Success true with one, v1.34.10's
// status-controller-worker.json). SysInit and StubFile stay as captured, empty: k0s never sets
// them, also under the service `k0s install` wrote (v1.34.10 and v1.35.3: only
// cmd/status/status.go reads them, nothing assigns them).
func statusJSON(st *state) []byte {
	var out map[string]json.RawMessage
	must(json.Unmarshal(captured("status-controller.json"), &out))
	set := func(k string, v any) {
		if _, ok := out[k]; !ok {
			unknown("status field %s: not in the capture", k)
		}
		b, _ := json.Marshal(v)
		out[k] = b
	}
	role := st.Installed
	workloads := role == "worker" || flagTrue(st.Args, "enable-worker")
	set("Version", fakeVersion)
	set("Pid", st.Pid)
	// k0s never sets PPid (cmd/controller/controller.go fills Pid only): 0 in every capture,
	// also under the systemd unit `k0s install` wrote (status-controller-generic.json).
	set("PPid", 0)
	set("Role", role)
	set("Workloads", workloads)
	set("SingleNode", false)
	set("Args", st.Args)
	set("WorkerToAPIConnectionStatus", map[string]any{"Message": "", "Success": workloads})
	b, err := json.Marshal(out) // encoding/json writes map keys sorted
	must(err)
	var buf bytes.Buffer
	must(json.Indent(&buf, b, "", "  "))
	return buf.Bytes()
}

func flagTrue(args []string, name string) bool {
	for _, a := range args {
		if a == "--"+name || a == "--"+name+"=true" {
			return true
		}
	}
	return false
}

func flagValue(args []string, name string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

func cmdConfig(args []string) {
	if len(args) == 0 || args[0] != "validate" {
		unknown("config subcommand %v (the fake knows validate)", args)
	}
	f, pos := parseFlags(args[1:], with(map[string]bool{"config": true}))
	if len(pos) > 0 || f["config"] == "" {
		unknown("config validate arguments %v (the fake needs --config FILE)", args[1:])
	}
	data, err := os.ReadFile(rooted(f["config"]))
	if err != nil {
		die("failed to read config: %v", err)
	}
	if err := validateConfig(data); err != nil {
		die("%v", err)
	}
}

// validateConfig checks what k0s' ClusterConfig validation checks for the keys the module
// writes, with k0s' texts (captures config-validate-*.stderr). Like k0s it does not check
// apiVersion or kind and takes chart values as an opaque string (capture
// config-validate-lenient.yaml validates).
func validateConfig(data []byte) error {
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("failed to parse configuration: %v", err)
	}
	spec, _ := doc["spec"].(map[string]any)
	known := map[string]bool{"api": true, "controllerManager": true, "scheduler": true, "storage": true, "network": true,
		"workerProfiles": true, "telemetry": true, "images": true, "installConfig": true, "konnectivity": true, "extensions": true, "featureGates": true}
	for _, k := range sortedKeys(spec) {
		if !known[k] {
			return fmt.Errorf(msgUnknownField, k)
		}
	}
	if api, ok := spec["api"].(map[string]any); ok {
		if a, ok := api["address"].(string); ok && net.ParseIP(a) == nil {
			return fmt.Errorf(msgInvalidAddress, a)
		}
	}
	if net, ok := spec["network"].(map[string]any); ok {
		switch p := net["provider"]; p {
		case nil, "kuberouter", "calico", "custom":
		default:
			return fmt.Errorf(msgUnsupportedProvider, p)
		}
	}
	helm, _ := digMap(spec, "extensions", "helm")
	for _, c := range list(helm["charts"]) {
		cm, _ := c.(map[string]any)
		if s, _ := cm["namespace"].(string); s == "" {
			return errors.New(msgNoTargetNS)
		}
		if name, _ := cm["name"].(string); !releaseName.MatchString(name) || len(name) > 53 {
			return errors.New(msgInvalidRelease)
		}
	}
	return nil
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func digMap(m map[string]any, keys ...string) (map[string]any, bool) {
	for _, k := range keys {
		next, ok := m[k].(map[string]any)
		if !ok {
			return map[string]any{}, false
		}
		m = next
	}
	return m, true
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

func cmdInstall(args []string) {
	if len(args) == 0 || (args[0] != "controller" && args[0] != "worker") {
		unknown("install role %v (the fake knows controller and worker)", args)
	}
	role := args[0]
	spec := map[string]bool{"force": false, "token-file": true, "labels": true, "kubelet-extra-args": true}
	if role == "controller" {
		for k, v := range map[string]bool{"config": true, "enable-worker": false, "no-taints": false, "disable-components": true} {
			spec[k] = v
		}
	}
	f, pos := parseFlags(args[1:], with(spec))
	if len(pos) > 0 {
		unknown("install arguments %v", pos)
	}
	if os.Geteuid() != 0 && root == "" {
		die("this command must be run as root!")
	}
	st := load()
	unit := rooted("/etc/systemd/system/k0s" + role + ".service")
	if st.Installed != "" && f["force"] != "true" {
		// capture install-installed.stderr (k0s cmd/install/controller.go, worker.go: "failed
		// to install <role> service: %w").
		die("failed to install %s service: Init already exists: %s", role, "/etc/systemd/system/k0s"+st.Installed+".service")
	}
	if st.Installed != "" && st.Installed != role {
		_ = os.Remove(rooted("/etc/systemd/system/k0s" + st.Installed + ".service"))
	}
	if c := f["config"]; c != "" {
		data, err := os.ReadFile(rooted(c))
		if err != nil {
			die("failed to read config: %v", err)
		}
		if err := validateConfig(data); err != nil {
			die("%v", err)
		}
	}
	// The unit's ExecStart: the flags made absolute, as k0s install writes them.
	unitArgs := []string{"/usr/local/bin/k0s", role}
	keys := make([]string, 0, len(f))
	for k := range f {
		if k != "force" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		unitArgs = append(unitArgs, "--"+k+"="+f[k])
	}
	must(os.MkdirAll(filepath.Dir(unit), 0o755))
	must(os.WriteFile(unit, []byte("# "+fakeName+": unit stub\n[Service]\nExecStart="+strings.Join(unitArgs, " ")+"\n"), 0o644))
	st.Installed, st.Args = role, unitArgs
	st.save()
}

// cmdRun is `k0s controller|worker [flags]` in the foreground: what the ExecStart of a k0s
// unit runs, here the `k0s` unit NixOS renders from guest.nix's microvm-guest.k0s (the flags
// it can have are those of `k0s install`, which writes the same command into its unit). It
// does what start does (startNode), reports running with its own pid and argv (k0s status
// reports the running process's os.Args), and runs until SIGTERM or SIGINT, when it records
// that it stopped and exits 0, as k0s does when systemd stops it. A failed start exits 1 (the
// unit's Restart= starts it again).
func cmdRun(role string, args []string) {
	spec := map[string]bool{"token-file": true, "labels": true, "kubelet-extra-args": true}
	if role == "controller" {
		for k, v := range map[string]bool{"config": true, "enable-worker": false, "no-taints": false, "disable-components": true} {
			spec[k] = v
		}
	}
	f, pos := parseFlags(args, with(spec))
	if len(pos) > 0 {
		unknown("%s arguments %v", role, pos)
	}
	st := load()
	if st.Running {
		unknown("%s while the fake's state says k0s runs (pid %d; the fake has no capture of that answer)", role, st.Pid)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	st.Installed, st.Args, st.Foreground = role, os.Args, true
	if err := startNode(st, dataDir(f)); err != nil {
		die("k0s failed to start: %v", err)
	}
	st.Running, st.Pid = true, os.Getpid()
	st.save()
	<-sig
	st = load()
	st.Running, st.Pid = false, 0
	st.save()
}

func cmdStart(args []string) {
	if _, pos := parseFlags(args, with(nil)); len(pos) > 0 {
		unknown("start arguments %v", pos)
	}
	st := load()
	if st.Installed == "" {
		unknown("start without an installed service (the fake has no capture of that answer)")
	}
	if st.Running {
		die("already running")
	}
	dd := dataDir(map[string]string{"data-dir": flagValue(st.Args, "data-dir")})
	if err := startNode(st, dd); err != nil {
		die("k0s failed to start (the unit would restart it): %v", err)
	}
	st.Running, st.Pid = true, os.Getpid()
	st.save()
}

// startNode does what k0s does on start: initialise or join on first start, then its part
// of the cluster (Chart CRD and Charts from k0s.yaml on controllers, the Node on workers).
func startNode(st *state, dd string) error {
	ca := rooted(filepath.Join(dd, "pki/ca.crt"))
	tokenFile := flagValue(st.Args, "token-file")
	if _, err := os.Stat(ca); errors.Is(err, os.ErrNotExist) {
		if tokenFile == "" {
			if st.Installed != "controller" {
				return errors.New("a worker needs --token-file to join")
			}
			if err := initialise(dd); err != nil {
				return err
			}
		} else if err := join(st, dd, tokenFile); err != nil {
			return err
		}
	}
	if st.Installed == "controller" {
		if err := applyCharts(dd, flagValue(st.Args, "config")); err != nil {
			return err
		}
	}
	if st.Installed == "worker" || flagTrue(st.Args, "enable-worker") {
		return registerNode(st)
	}
	return nil
}

// adminKubeconfig is the real kube-apiserver's admin kubeconfig, or nil without an API.
func adminKubeconfig() []byte {
	data, err := os.ReadFile(env("K0S_FAKE_KUBECONFIG", "/etc/k0s-fake/kubeconfig"))
	if err != nil {
		return nil
	}
	return data
}

// endpoint reads a kubeconfig with the collection's one kubeconfig reader (internal/kube).
func endpoint(data []byte) (kube.Endpoint, error) {
	cfg, err := kube.ParseConfig(data, "")
	if err != nil {
		return kube.Endpoint{}, err
	}
	return cfg.Endpoint()
}

func initialise(dd string) error {
	kc := adminKubeconfig()
	var caPEM []byte
	if kc != nil {
		ep, err := endpoint(kc)
		if err != nil || len(ep.CA) == 0 {
			return fmt.Errorf("%s: K0S_FAKE_KUBECONFIG is not a kubeconfig with an inline CA: %v", fakeName, err)
		}
		caPEM = ep.CA
	} else {
		caPEM = []byte("-----BEGIN CERTIFICATE-----\n" + base64.StdEncoding.EncodeToString(randomBytes(64)) + "\n-----END CERTIFICATE-----\n")
		kc = []byte("# " + fakeName + ": no API configured (K0S_FAKE_KUBECONFIG)\n")
	}
	for _, w := range []struct {
		p    string
		data []byte
		mode os.FileMode
	}{
		{"pki/ca.crt", caPEM, 0o644},
		{"pki/admin.conf", kc, 0o600},
		{"etcd/member/snap/db", nil, 0o600},
	} {
		p := rooted(filepath.Join(dd, w.p))
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			return err
		}
		if err := os.WriteFile(p, w.data, w.mode); err != nil {
			return err
		}
	}
	return nil
}

// join reads the token file as k0s does (base64 of a gzipped kubeconfig), checks that the
// token is known to the cluster (its bootstrap-token Secret) and takes the CA from it.
func join(st *state, dd, tokenFile string) error {
	raw, err := os.ReadFile(rooted(tokenFile))
	if err != nil {
		return fmt.Errorf("failed to read join token: %v", err)
	}
	kcData, err := decodeToken(string(raw))
	if err != nil {
		return fmt.Errorf("failed to decode join token: %v", err)
	}
	ep, err := endpoint(kcData)
	if err != nil || ep.Token == "" {
		return errors.New("failed to decode join token: not a kubeconfig")
	}
	id, _, _ := strings.Cut(ep.Token, ".")
	if adminKubeconfig() != nil {
		c, err := apiClient()
		if err != nil {
			return err
		}
		if _, err := c.Get(ctx(), secretRef("bootstrap-token-"+id)); err != nil {
			return fmt.Errorf("join token %s is not valid (invalidated or expired): %v", id, err)
		}
	}
	caPEM := ep.CA
	files := map[string][]byte{"pki/ca.crt": caPEM}
	admin := adminKubeconfig()
	if admin == nil {
		admin = []byte("# " + fakeName + ": no API configured\n")
	}
	if st.Installed == "controller" {
		files["pki/admin.conf"] = admin
		files["etcd/member/snap/db"] = nil
	} else {
		files["kubelet.conf"] = admin
	}
	for p, data := range files {
		full := rooted(filepath.Join(dd, p))
		if err := os.MkdirAll(filepath.Dir(full), 0o750); err != nil {
			return err
		}
		if err := os.WriteFile(full, data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func decodeToken(s string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, errors.New("illegal base64 data")
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

const alnum = "abcdefghijklmnopqrstuvwxyz0123456789"

func randomID(n int) string {
	b := randomBytes(n)
	for i := range b {
		b[i] = alnum[int(b[i])%len(alnum)]
	}
	return string(b)
}

func nodeName() string {
	if n := os.Getenv("K0S_FAKE_NODE_NAME"); n != "" {
		return n
	}
	h, _ := os.Hostname()
	return h
}

// apiClient is a client of the real kube-apiserver behind K0S_FAKE_KUBECONFIG (internal/kube,
// as the module uses).
func apiClient() (*kube.Client, error) {
	return kube.Load(env("K0S_FAKE_KUBECONFIG", "/etc/k0s-fake/kubeconfig"), "")
}

// apiCtx bounds every API call of this (short-lived) process.
var apiCtx, apiCancel = context.WithTimeout(context.Background(), 2*time.Minute)

func ctx() context.Context { return apiCtx }

func secretRef(name string) kube.Ref {
	return kube.Ref{APIVersion: "v1", Kind: "Secret", Namespace: "kube-system", Name: name}
}

// apply server-side applies obj (JSON) as fieldManager.
func apply(obj map[string]any, fieldManager string) error {
	c, err := apiClient()
	if err != nil {
		return err
	}
	_, err = c.Apply(ctx(), kube.Object(obj), fieldManager)
	return err
}

const chartCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: charts.helm.k0sproject.io
spec:
  group: helm.k0sproject.io
  names: {kind: Chart, listKind: ChartList, plural: charts, singular: chart}
  scope: Namespaced
  versions:
  - name: v1beta1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
`

// applyCharts does what k0s' extensions controller does with k0s.yaml: one Chart
// kube-system/k0s-addon-chart-<name> per Helm extension (spec only; status is the helm
// reconciler's, i.e. a test's controller stand-in).
func applyCharts(dd, config string) error {
	if adminKubeconfig() == nil || config == "" {
		return nil
	}
	data, err := os.ReadFile(rooted(config))
	if err != nil {
		return fmt.Errorf("read %s: %v", config, err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return err
	}
	spec, _ := doc["spec"].(map[string]any)
	helm, _ := digMap(spec, "extensions", "helm")
	crds, err := kube.DecodeManifests([]byte(chartCRD))
	if err != nil {
		return err
	}
	if err := apply(crds[0], "k0s"); err != nil {
		return err
	}
	if err := waitEstablished("charts.helm.k0sproject.io"); err != nil {
		return err
	}
	repos := map[string]string{}
	for _, r := range list(helm["repositories"]) {
		rm, _ := r.(map[string]any)
		repos[fmt.Sprint(rm["name"])] = fmt.Sprint(rm["url"])
	}
	for _, c := range list(helm["charts"]) {
		cm, _ := c.(map[string]any)
		repo, _, _ := strings.Cut(fmt.Sprint(cm["chartname"]), "/")
		obj := chartObject(cm, repos[repo], traits)
		if err := apply(obj, "k0s"); err != nil {
			return err
		}
	}
	return nil
}

// waitEstablished waits for a CRD's Established condition, as the applier does before it
// creates objects of the kind.
func waitEstablished(name string) error {
	c, err := apiClient()
	if err != nil {
		return err
	}
	deadline := time.Now().Add(time.Minute)
	for {
		crd, err := c.Get(ctx(), kube.Ref{APIVersion: "apiextensions.k8s.io/v1", Kind: "CustomResourceDefinition", Name: name})
		if err == nil {
			if st, _, _, _ := crd.Condition("Established"); st == "True" {
				c.ResetDiscovery()
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("CRD %s not Established within a minute: %v", name, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// chartObject is the Chart k0s' extensions controller makes of a k0s.yaml chart entry, laid
// out as the capture chart-failed.json shows it (k0s chartCrdTemplate): name
// k0s-addon-chart-<name> in kube-system, the uninstall finalizer, the stack label; spec
// chartName, releaseName = name, timeout as a Go duration ("0s" unset), values with the
// leading newline the block scalar leaves, version, namespace, and repository url where the
// version copies it (versionTraits.chartRepository: v1.35, not v1.34).
func chartObject(cm map[string]any, repoURL string, tr versionTraits) map[string]any {
	name := fmt.Sprint(cm["name"])
	timeout := "0s"
	if t, ok := cm["timeout"].(string); ok && t != "" {
		if d, err := time.ParseDuration(t); err == nil {
			timeout = d.String()
		}
	}
	values, _ := cm["values"].(string)
	if values != "" {
		values = "\n" + values
	}
	spec := map[string]any{"chartName": cm["chartname"], "releaseName": name, "timeout": timeout, "values": values,
		"version": cm["version"], "namespace": cm["namespace"]}
	if repoURL != "" && tr.chartRepository {
		spec["repository"] = map[string]any{"url": repoURL}
	}
	return map[string]any{
		"apiVersion": "helm.k0sproject.io/v1beta1", "kind": "Chart",
		"metadata": map[string]any{"name": "k0s-addon-chart-" + name, "namespace": "kube-system",
			"finalizers": []any{"helm.k0sproject.io/uninstall-helm-release"},
			"labels":     map[string]any{"k0s.k0sproject.io/stack": "helm"}},
		"spec": spec,
	}
}

func registerNode(st *state) error {
	if adminKubeconfig() == nil {
		return nil
	}
	labels := map[string]any{"kubernetes.io/hostname": nodeName(), "kubernetes.io/os": "linux"}
	if st.Installed == "controller" {
		labels["node-role.kubernetes.io/control-plane"] = "true"
	}
	return apply(map[string]any{"apiVersion": "v1", "kind": "Node",
		"metadata": map[string]any{"name": nodeName(), "labels": labels}}, "kubelet")
}

func cmdStop(args []string) {
	if _, pos := parseFlags(args, with(nil)); len(pos) > 0 {
		unknown("stop arguments %v", pos)
	}
	st := load()
	if st.Installed == "" {
		die("failed to stop k0s service: the service is not installed")
	}
	if !st.Running {
		die("already stopped")
	}
	st.Running, st.Pid = false, 0
	st.save()
}

func cmdReset(args []string) {
	f, pos := parseFlags(args, with(map[string]bool{"kubelet-root-dir": true, "cri-socket": true, "config": true}))
	if len(pos) > 0 {
		unknown("reset arguments %v", pos)
	}
	st := load()
	if st.Running {
		die("%s", traits.resetRunning)
	}
	must(os.RemoveAll(rooted(dataDir(f))))
	if st.Installed != "" {
		_ = os.Remove(rooted("/etc/systemd/system/k0s" + st.Installed + ".service"))
	}
	st.Installed, st.Args = "", nil
	st.save()
	fmt.Fprintln(os.Stderr, "level=info msg=\"k0s cleanup operations done.\"")
	fmt.Fprintln(os.Stderr, "level=warning msg=\"To ensure a full reset, a node reboot is recommended.\"")
}

func cmdToken(args []string) {
	if len(args) == 0 {
		unknown("token subcommand: none")
	}
	st := load()
	switch args[0] {
	case "create":
		f, pos := parseFlags(args[1:], with(map[string]bool{"role": true, "expiry": true, "wait": false}))
		if len(pos) > 0 {
			unknown("token create arguments %v", pos)
		}
		role := f["role"]
		if role == "" {
			role = "worker"
		}
		if role != "worker" && role != "controller" {
			die(msgUnsupportedRole, role)
		}
		expiry := time.Duration(0)
		if e := f["expiry"]; e != "" {
			var err error
			if expiry, err = time.ParseDuration(e); err != nil {
				die("%v", err) // capture token-create-bad-expiry.stderr: `Error: time: invalid duration "bogus"`
			}
		}
		if !st.Running || st.Installed != "controller" {
			unknown("token create on a node where k0s does not run as a controller (the fake has no capture of that answer)")
		}
		dd := dataDir(f)
		caPEM, err := os.ReadFile(rooted(filepath.Join(dd, "pki/ca.crt")))
		must(err)
		server := env("K0S_FAKE_API_URL", "https://127.0.0.1:6443")
		if kc := adminKubeconfig(); kc != nil && os.Getenv("K0S_FAKE_API_URL") == "" {
			if ep, err := endpoint(kc); err == nil {
				server = ep.Server
			}
		}
		id, secret := randomID(6), randomID(16)
		// A negative or zero expiry gives a token that never expires (capture
		// token-list-never.stdout: blank EXPIRES AT).
		exp := ""
		if expiry > 0 {
			exp = time.Now().Add(expiry).UTC().Format(time.RFC3339)
		}
		if adminKubeconfig() != nil {
			// The secret goes to the API in a request body, never into argv.
			if err := apply(map[string]any{"apiVersion": "v1", "kind": "Secret", "type": "bootstrap.kubernetes.io/token",
				"metadata":   map[string]any{"name": "bootstrap-token-" + id, "namespace": "kube-system"},
				"stringData": map[string]any{"token-id": id, "token-secret": secret, "expiration": exp, "usage-bootstrap-authentication": "true", "description": role + " join token (" + fakeName + ")"}}, "k0s"); err != nil {
				die("failed to create join token: %v", err)
			}
		}
		fmt.Println(joinToken(caPEM, server, role, id+"."+secret))
		st.Tokens[id] = fakeToken{Role: role, Expires: exp}
		st.save()
	case "list":
		f, pos := parseFlags(args[1:], with(map[string]bool{"role": true}))
		if len(pos) > 0 {
			unknown("token list arguments %v", pos)
		}
		role := f["role"]
		if role != "worker" && role != "controller" {
			die(msgUnsupportedRole, role)
		}
		if !st.Running || st.Installed != "controller" {
			unknown("token list on a node where k0s does not run as a controller (the fake has no capture of that answer)")
		}
		fmt.Print(tokenTable(st.Tokens, role))
	case "invalidate":
		_, ids := parseFlags(args[1:], with(nil))
		if len(ids) == 0 {
			unknown("token invalidate without IDs (the fake has no capture of that answer)")
		}
		for _, id := range ids {
			delete(st.Tokens, id)
			if adminKubeconfig() != nil {
				c, err := apiClient()
				must(err)
				if err := c.Delete(ctx(), secretRef("bootstrap-token-"+id)); err != nil {
					die("failed to invalidate token %s: %v", id, err)
				}
			}
			// k0s answers the same for IDs it never had (capture token-invalidate-unknown.stdout).
			fmt.Printf(msgTokenDeleted+"\n", id)
		}
		st.save()
	default:
		unknown("token subcommand %q", args[0])
	}
}

// joinToken encodes a join token as k0s does: standard base64, on one line, of a gzipped
// kubeconfig with cluster and context "k0s" and the user kubelet-bootstrap (worker) or
// controller-bootstrap (controller), laid out as token-create-worker.kubeconfig shows.
func joinToken(caPEM []byte, server, role, token string) string {
	user := "kubelet-bootstrap"
	if role == "controller" {
		user = "controller-bootstrap"
	}
	kc := fmt.Sprintf(joinKubeconfig, base64.StdEncoding.EncodeToString(caPEM), server, user, user, token)
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write([]byte(kc))
	_ = zw.Close()
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

// tokenTable is `k0s token list --role=R` (k0s cmd/token/list.go: a metav1.Table of ID, ROLE,
// EXPIRES AT printed through a tabwriter; the capture token-list-worker.stdout shows columns
// three spaces wider than their widest cell): "No k0s join tokens found" when there are
// none at all, nothing when none has the role.
func tokenTable(tokens map[string]fakeToken, role string) string {
	if len(tokens) == 0 {
		return msgNoTokens + "\n"
	}
	ids := make([]string, 0, len(tokens))
	for id, t := range tokens {
		if t.Role == role {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return ""
	}
	sort.Strings(ids)
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "ID\tROLE\tEXPIRES AT")
	for _, id := range ids {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", id, tokens[id].Role, tokens[id].Expires)
	}
	_ = tw.Flush()
	return b.String()
}

func cmdEtcd(args []string) {
	if len(args) == 0 {
		unknown("etcd subcommand: none")
	}
	f, pos := parseFlags(args[1:], with(map[string]bool{"peer-address": true}))
	if len(pos) > 0 {
		unknown("etcd %s arguments %v", args[0], pos)
	}
	st := load()
	if !st.Running || st.Installed != "controller" {
		unknown("etcd %s on a node where k0s does not run as a controller (the fake has no capture of that answer)", args[0])
	}
	members := st.EtcdMembers
	if members == 0 {
		members = 1
	}
	switch args[0] {
	case "member-list":
		// {"members":{name:peerURL}} (capture etcd-member-list.json); the fake names its
		// members after the node.
		m := map[string]string{}
		for i := 0; i < members; i++ {
			m[fmt.Sprintf("%s-%d", nodeName(), i)] = fmt.Sprintf("https://127.0.0.%d:2380", i+1)
		}
		b, _ := json.Marshal(map[string]any{"members": m})
		fmt.Println(string(b))
	case "leave":
		if members <= 1 {
			fmt.Fprint(os.Stderr, msgEtcdLeaveLast)
			os.Exit(1)
		}
		must(os.RemoveAll(rooted(filepath.Join(dataDir(f), "etcd/member"))))
	default:
		unknown("etcd subcommand %q (the fake knows leave and member-list)", args[0])
	}
}

// cmdKubeconfig prints the admin kubeconfig, as `k0s kubeconfig admin` does.
func cmdKubeconfig(args []string) {
	if len(args) == 0 || args[0] != "admin" {
		unknown("kubeconfig subcommand %v (the fake knows admin)", args)
	}
	f, pos := parseFlags(args[1:], with(nil))
	if len(pos) > 0 {
		unknown("kubeconfig admin arguments %v", pos)
	}
	p := filepath.Join(dataDir(f), "pki/admin.conf")
	data, err := os.ReadFile(rooted(p))
	if err != nil {
		die(msgNoAdminConf, p)
	}
	os.Stdout.Write(data)
}
