// Command k0sfake is the CONTRACT FAKE of the k0s CLI, for tests only: it is not k0s.
//
// It implements the k0s commands bo.microvm.k0s_bootstrap uses, with k0s' output formats
// (`k0s version`, `k0s status -o json`, `k0s config validate`, `k0s install controller|worker`,
// `k0s start|stop`, `k0s reset`, `k0s token create|invalidate`, `k0s etcd leave`, and `k0s
// kubectl`, which runs a real kubectl against a real kube-apiserver), keeps its state in
// files, appends every argv to a log so tests can assert that no token ever reached a command
// line, and fails loudly (exit 2, "k0s contract fake: unknown ...") on anything it does not
// know. What k0s does inside the cluster on start, the fake does as far as a test needs it:
// it creates the Chart CRD and one Chart per k0s.yaml Helm extension, registers Node objects
// and keeps join tokens as bootstrap-token Secrets. Status (Chart installed, Node Ready) is
// not its business: tests set it in a controller stand-in.
//
// Environment (all optional):
//
//	K0S_FAKE_STATE       state dir (state.json, argv.log)              /var/lib/k0s-fake
//	K0S_FAKE_ROOT        prefix for every path k0s touches             "" (the real /)
//	K0S_FAKE_KUBECONFIG  admin kubeconfig of the real kube-apiserver   /etc/k0s-fake/kubeconfig
//	                     (absent: no API; `k0s kubectl` fails loudly)
//	K0S_FAKE_KUBECTL     the real kubectl                              kubectl from PATH, else
//	                                                                   /usr/local/bin/kubectl
//	K0S_FAKE_NODE_NAME   this node's name                              the host name
//	K0S_FAKE_VERSION     what `k0s version` prints                     v1.33.4+k0s.0
//	K0S_FAKE_API_URL     the API URL join tokens name                  the kubeconfig's server,
//	                                                                   else https://127.0.0.1:6443
package main

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
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
	Installed string            `json:"installed"` // "", controller, worker
	Args      []string          `json:"args"`      // argv baked into the unit
	Running   bool              `json:"running"`
	Pid       int               `json:"pid"`
	Tokens    map[string]string `json:"tokens"` // id -> role
}

func load() *state {
	st := &state{Tokens: map[string]string{}}
	data, err := os.ReadFile(filepath.Join(stateDir, "state.json"))
	if err == nil {
		if err := json.Unmarshal(data, st); err != nil {
			die("%s: corrupt state %s: %v", fakeName, stateDir, err)
		}
	}
	if st.Tokens == nil {
		st.Tokens = map[string]string{}
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
	return flagSpec{values: m, short: map[string]string{"c": "config", "o": "output", "d": "debug"}}
}

func dataDir(f map[string]string) string {
	if d := f["data-dir"]; d != "" {
		return d
	}
	return "/var/lib/k0s"
}

func main() {
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
		fmt.Println(env("K0S_FAKE_VERSION", "v1.33.4+k0s.0"))
	case "status":
		cmdStatus(args[1:])
	case "config":
		cmdConfig(args[1:])
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
	case "kubectl":
		cmdKubectl(args[1:])
	case "kubeconfig":
		cmdKubeconfig(args[1:])
	default:
		unknown("command %q", args[0])
	}
}

func cmdStatus(args []string) {
	f, pos := parseFlags(args, with(map[string]bool{"output": true}))
	if len(pos) > 0 {
		unknown("arguments to status: %v", pos)
	}
	if o := f["output"]; o != "" && o != "json" {
		unknown("status output format %q (the fake knows json)", o)
	}
	st := load()
	if !st.Running {
		die("k0s not running")
	}
	role := st.Installed
	workloads := role == "worker" || flagTrue(st.Args, "enable-worker")
	unit := "/etc/systemd/system/k0s" + role + ".service"
	out := map[string]any{
		"Version": env("K0S_FAKE_VERSION", "v1.33.4+k0s.0"), "Pid": st.Pid, "PPid": 1, "Role": role,
		"SysInit": "linux-systemd", "StubFile": unit, "Output": "", "Workloads": workloads,
		"SingleNode": false, "Args": st.Args,
	}
	if workloads {
		out["WorkerToAPIConnectionStatus"] = map[string]any{"Success": true, "Message": ""}
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	fmt.Println(string(b))
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
// writes, and refuses keys k0s does not know.
func validateConfig(data []byte) error {
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("failed to decode config: %v", err)
	}
	if doc["apiVersion"] != "k0s.k0sproject.io/v1beta1" {
		return fmt.Errorf("apiVersion %v: want k0s.k0sproject.io/v1beta1", doc["apiVersion"])
	}
	if k := doc["kind"]; k != "ClusterConfig" && k != "Cluster" {
		return fmt.Errorf("kind %v: want ClusterConfig", k)
	}
	spec, _ := doc["spec"].(map[string]any)
	known := map[string]bool{"api": true, "controllerManager": true, "scheduler": true, "storage": true, "network": true,
		"workerProfiles": true, "telemetry": true, "images": true, "installConfig": true, "konnectivity": true, "extensions": true, "featureGates": true}
	for k := range spec {
		if !known[k] {
			return fmt.Errorf("spec.%s: unknown field", k)
		}
	}
	if net, ok := spec["network"].(map[string]any); ok {
		switch p := net["provider"]; p {
		case nil, "kuberouter", "calico", "custom":
		default:
			return fmt.Errorf("spec.network.provider: Unsupported value: %q: supported values: \"kuberouter\", \"calico\", \"custom\"", p)
		}
	}
	helm, _ := digMap(spec, "extensions", "helm")
	for i, r := range list(helm["repositories"]) {
		rm, _ := r.(map[string]any)
		if rm["name"] == nil || rm["url"] == nil {
			return fmt.Errorf("spec.extensions.helm.repositories[%d]: name and url are required", i)
		}
	}
	for i, c := range list(helm["charts"]) {
		cm, _ := c.(map[string]any)
		for _, req := range []string{"name", "chartname", "namespace"} {
			if s, _ := cm[req].(string); s == "" {
				return fmt.Errorf("spec.extensions.helm.charts[%d].%s: Required value", i, req)
			}
		}
		if v, ok := cm["values"].(string); ok {
			var x any
			if err := yaml.Unmarshal([]byte(v), &x); err != nil {
				return fmt.Errorf("spec.extensions.helm.charts[%d].values: %v", i, err)
			}
		}
		if t, ok := cm["timeout"].(string); ok {
			if _, err := time.ParseDuration(t); err != nil {
				return fmt.Errorf("spec.extensions.helm.charts[%d].timeout: %v", i, err)
			}
		}
	}
	return nil
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
		for k, v := range map[string]bool{"config": true, "enable-worker": false, "no-taints": false} {
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
		die("failed to install k0s service: Init already exists: %s", "/etc/systemd/system/k0s"+st.Installed+".service")
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

func cmdStart(args []string) {
	if _, pos := parseFlags(args, with(nil)); len(pos) > 0 {
		unknown("start arguments %v", pos)
	}
	st := load()
	if st.Installed == "" {
		die("failed to start k0s service: the service is not installed")
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

type kubeconfig struct {
	Clusters []struct {
		Cluster struct {
			Server string `yaml:"server"`
			CAData string `yaml:"certificate-authority-data"`
		} `yaml:"cluster"`
	} `yaml:"clusters"`
	Users []struct {
		User struct {
			Token string `yaml:"token"`
		} `yaml:"user"`
	} `yaml:"users"`
}

func initialise(dd string) error {
	kc := adminKubeconfig()
	var caPEM []byte
	if kc != nil {
		var k kubeconfig
		if err := yaml.Unmarshal(kc, &k); err != nil || len(k.Clusters) == 0 {
			return fmt.Errorf("%s: K0S_FAKE_KUBECONFIG is not a kubeconfig", fakeName)
		}
		var err error
		if caPEM, err = base64.StdEncoding.DecodeString(k.Clusters[0].Cluster.CAData); err != nil {
			return fmt.Errorf("%s: the kubeconfig's CA: %v", fakeName, err)
		}
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
	var k kubeconfig
	if err := yaml.Unmarshal(kcData, &k); err != nil || len(k.Clusters) == 0 || len(k.Users) == 0 {
		return errors.New("failed to decode join token: not a kubeconfig")
	}
	id, _, _ := strings.Cut(k.Users[0].User.Token, ".")
	if adminKubeconfig() != nil {
		if _, err := kubectl(nil, "get", "secret", "--namespace=kube-system", "bootstrap-token-"+id); err != nil {
			return fmt.Errorf("join token %s is not valid (invalidated or expired): %v", id, err)
		}
	}
	caPEM, err := base64.StdEncoding.DecodeString(k.Clusters[0].Cluster.CAData)
	if err != nil {
		return fmt.Errorf("the join token's CA: %v", err)
	}
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

// kubectlPath is the real kubectl: K0S_FAKE_KUBECTL, else kubectl from PATH, else
// /usr/local/bin/kubectl (an SSH session's PATH may not hold it).
func kubectlPath() string {
	if p := os.Getenv("K0S_FAKE_KUBECTL"); p != "" {
		return p
	}
	if p, err := exec.LookPath("kubectl"); err == nil {
		return p
	}
	return "/usr/local/bin/kubectl"
}

// kubectl runs the real kubectl with the fake's admin kubeconfig (or kubeconfig) and stdin.
func kubectl(stdin []byte, args ...string) ([]byte, error) {
	kc := env("K0S_FAKE_KUBECONFIG", "/etc/k0s-fake/kubeconfig")
	cmd := exec.Command(kubectlPath(), append([]string{"--kubeconfig=" + kc}, args...)...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("kubectl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), nil
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
	if _, err := kubectl([]byte(chartCRD), "apply", "--server-side", "--field-manager=k0s", "-f", "-"); err != nil {
		return err
	}
	if _, err := kubectl(nil, "wait", "--for=condition=Established", "--timeout=60s", "crd/charts.helm.k0sproject.io"); err != nil {
		return err
	}
	repos := map[string]string{}
	for _, r := range list(helm["repositories"]) {
		rm, _ := r.(map[string]any)
		repos[fmt.Sprint(rm["name"])] = fmt.Sprint(rm["url"])
	}
	var docs []string
	for _, c := range list(helm["charts"]) {
		cm, _ := c.(map[string]any)
		name := fmt.Sprint(cm["name"])
		repo, _, _ := strings.Cut(fmt.Sprint(cm["chartname"]), "/")
		obj := map[string]any{
			"apiVersion": "helm.k0sproject.io/v1beta1", "kind": "Chart",
			"metadata": map[string]any{"name": "k0s-addon-chart-" + name, "namespace": "kube-system",
				"finalizers": []any{"helm.k0sproject.io/uninstall-helm-release"}},
			"spec": map[string]any{"chartName": cm["chartname"], "releaseName": name, "version": cm["version"],
				"values": cm["values"], "namespace": cm["namespace"], "timeout": cm["timeout"],
				"repository": map[string]any{"url": repos[repo]}},
		}
		b, _ := json.Marshal(obj)
		docs = append(docs, string(b))
	}
	if len(docs) == 0 {
		return nil
	}
	list := `{"apiVersion":"v1","kind":"List","items":[` + strings.Join(docs, ",") + `]}`
	_, err = kubectl([]byte(list), "apply", "--server-side", "--force-conflicts", "--field-manager=k0s", "-f", "-")
	return err
}

func registerNode(st *state) error {
	if adminKubeconfig() == nil {
		return nil
	}
	labels := map[string]any{"kubernetes.io/hostname": nodeName(), "kubernetes.io/os": "linux"}
	if st.Installed == "controller" {
		labels["node-role.kubernetes.io/control-plane"] = "true"
	}
	obj, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Node",
		"metadata": map[string]any{"name": nodeName(), "labels": labels}})
	_, err := kubectl(obj, "apply", "--server-side", "--field-manager=kubelet", "-f", "-")
	return err
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
		die("k0s seems to be running! please stop k0s before reset.")
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
			die("invalid role %q", role)
		}
		expiry := time.Duration(0)
		if e := f["expiry"]; e != "" {
			var err error
			if expiry, err = time.ParseDuration(e); err != nil {
				die("invalid expiry %q: %v", e, err)
			}
		}
		if !st.Running || st.Installed != "controller" {
			die("failed to create join token: k0s is not running (run it on a running controller)")
		}
		dd := dataDir(f)
		caPEM, err := os.ReadFile(rooted(filepath.Join(dd, "pki/ca.crt")))
		must(err)
		server := env("K0S_FAKE_API_URL", "https://127.0.0.1:6443")
		if kc := adminKubeconfig(); kc != nil && os.Getenv("K0S_FAKE_API_URL") == "" {
			var k kubeconfig
			if yaml.Unmarshal(kc, &k) == nil && len(k.Clusters) > 0 {
				server = k.Clusters[0].Cluster.Server
			}
		}
		id, secret := randomID(6), randomID(16)
		if adminKubeconfig() != nil {
			exp := ""
			if expiry > 0 {
				exp = time.Now().Add(expiry).UTC().Format(time.RFC3339)
			}
			obj, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Secret", "type": "bootstrap.kubernetes.io/token",
				"metadata":   map[string]any{"name": "bootstrap-token-" + id, "namespace": "kube-system"},
				"stringData": map[string]any{"token-id": id, "token-secret": secret, "expiration": exp, "usage-bootstrap-authentication": "true", "description": role + " join token (" + fakeName + ")"}})
			// The secret goes to kubectl on stdin, never in argv.
			if _, err := kubectl(obj, "apply", "-f", "-"); err != nil {
				die("failed to create join token: %v", err)
			}
		}
		user := "kubelet-bootstrap"
		if role == "controller" {
			user = "controller-bootstrap"
		}
		kc := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: %s\n    server: %s\n  name: k0s\ncontexts:\n- context:\n    cluster: k0s\n    user: %s\n  name: k0s\ncurrent-context: k0s\nusers:\n- name: %s\n  user:\n    token: %s.%s\n",
			base64.StdEncoding.EncodeToString(caPEM), server, user, user, id, secret)
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		_, _ = zw.Write([]byte(kc))
		_ = zw.Close()
		st.Tokens[id] = role
		st.save()
		fmt.Println(base64.StdEncoding.EncodeToString(b.Bytes()))
	case "invalidate":
		_, ids := parseFlags(args[1:], with(nil))
		if len(ids) == 0 {
			die("requires at least 1 arg(s), only received 0")
		}
		for _, id := range ids {
			delete(st.Tokens, id)
			if adminKubeconfig() != nil {
				if _, err := kubectl(nil, "delete", "secret", "--namespace=kube-system", "--ignore-not-found", "bootstrap-token-"+id); err != nil {
					die("failed to invalidate token %s: %v", id, err)
				}
			}
		}
		st.save()
	default:
		unknown("token subcommand %q", args[0])
	}
}

func cmdEtcd(args []string) {
	if len(args) == 0 || args[0] != "leave" {
		unknown("etcd subcommand %v (the fake knows leave)", args)
	}
	f, pos := parseFlags(args[1:], with(map[string]bool{"peer-address": true}))
	if len(pos) > 0 {
		unknown("etcd leave arguments %v", pos)
	}
	st := load()
	if !st.Running || st.Installed != "controller" {
		die("etcd leave needs a running controller")
	}
	must(os.RemoveAll(rooted(filepath.Join(dataDir(f), "etcd/member"))))
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
		die("admin PKI file %s not found, check if the control plane is initialized on this node", p)
	}
	os.Stdout.Write(data)
}

// cmdKubectl passes through to the real kubectl. Like k0s kubectl it uses
// <data-dir>/pki/admin.conf unless --kubeconfig is given.
func cmdKubectl(args []string) {
	var rest []string
	dd, kc := "/var/lib/k0s", ""
	for _, a := range args {
		switch {
		case strings.HasPrefix(a, "--data-dir="):
			dd = strings.TrimPrefix(a, "--data-dir=")
		case strings.HasPrefix(a, "--kubeconfig="):
			kc = rooted(strings.TrimPrefix(a, "--kubeconfig="))
		default:
			rest = append(rest, a)
		}
	}
	if kc == "" {
		kc = rooted(filepath.Join(dd, "pki/admin.conf"))
	}
	data, err := os.ReadFile(kc)
	if err != nil {
		die("failed to read kubeconfig %s: %v", kc, err)
	}
	if bytes.HasPrefix(data, []byte("# "+fakeName)) {
		unknown("kubectl use: no API configured for the fake (set K0S_FAKE_KUBECONFIG before k0s start)")
	}
	cmd := exec.Command(kubectlPath(), append([]string{"--kubeconfig=" + kc}, rest...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			os.Exit(ee.ExitCode())
		}
		die("kubectl: %v", err)
	}
}
