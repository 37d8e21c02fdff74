package k0s

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/business-operations/bo.microvm/internal/command"
	"github.com/business-operations/bo.microvm/internal/kube"
)

// Status is the part of `k0s status -o json` the module reads (k0s cmd/status).
type Status struct {
	Version                     string   `json:"Version"`
	Pid                         int      `json:"Pid"`
	Role                        string   `json:"Role"`
	SysInit                     string   `json:"SysInit"`
	StubFile                    string   `json:"StubFile"`
	Workloads                   bool     `json:"Workloads"`
	SingleNode                  bool     `json:"SingleNode"`
	Args                        []string `json:"Args"`
	WorkerToAPIConnectionStatus *struct {
		Success bool   `json:"Success"`
		Message string `json:"Message"`
	} `json:"WorkerToAPIConnectionStatus,omitempty"`
}

// RunningRole is the role the running k0s has, in the module's terms.
func (s Status) RunningRole() Role {
	switch s.Role {
	case "controller", "server":
		if s.Workloads || s.SingleNode {
			return ControllerWorker
		}
		return Controller
	case "worker":
		return Worker
	}
	return Role(s.Role)
}

// State is what the node holds, read before anything is decided.
type State struct {
	Binary      bool     `json:"binary"`
	Version     string   `json:"version"`
	Installed   bool     `json:"installed"`    // the service unit exists
	UnitPath    string   `json:"unit"`         // generic: the unit file k0s install wrote
	UnitArgs    []string `json:"-"`            // nixos: the unit's ExecStart argv
	Running     bool     `json:"running"`      // `k0s status` answered
	Status      *Status  `json:"-"`            // nil when not running
	CA          string   `json:"ca_sha256"`    // SHA-256 of the cluster CA this node holds ("" = none)
	AdminConf   bool     `json:"admin_conf"`   // <data-dir>/pki/admin.conf (controller initialised)
	KubeletConf bool     `json:"kubelet_conf"` // <data-dir>/kubelet.conf (worker joined)
	EtcdMember  bool     `json:"etcd_member"`  // <data-dir>/etcd/member
	Config      []byte   `json:"-"`            // current k0s.yaml (nil when absent)
	ConfigLink  string   `json:"-"`            // where k0s.yaml links to, when it is a symlink
}

// HasData reports whether the node holds any cluster data (it joined or initialised one).
func (s State) HasData() bool {
	return s.CA != "" || s.AdminConf || s.KubeletConf || s.EtcdMember
}

// unitStubs are the unit files `k0s install` writes (systemd, OpenRC), per install role.
var unitStubs = map[string][]string{
	"controller": {"/etc/systemd/system/k0scontroller.service", "/etc/init.d/k0scontroller"},
	"worker":     {"/etc/systemd/system/k0sworker.service", "/etc/init.d/k0sworker"},
}

// Gather reads the node's k0s state. It fails only when the host cannot be read, never
// because k0s is absent or stopped.
func Gather(ctx context.Context, env Env, o Options) (State, error) {
	o = o.withDefaults()
	var st State
	if _, err := os.Stat(env.path(o.Binary)); err == nil {
		st.Binary = true
		out, err := env.Run.Run(ctx, command.Cmd{Name: o.Binary, Args: []string{"version"}})
		if err != nil {
			return st, fmt.Errorf("read the k0s version: %w", err)
		}
		st.Version = strings.TrimSpace(string(out.Stdout))
	}
	if err := gatherUnit(ctx, env, o, &st); err != nil {
		return st, err
	}
	if st.Binary {
		out, err := env.Run.Run(ctx, command.Cmd{Name: o.Binary, Args: []string{"status", "-o", "json"}})
		var cerr *command.Error
		switch {
		case err == nil:
			var s Status
			if jerr := json.Unmarshal(out.Stdout, &s); jerr != nil {
				return st, fmt.Errorf("read `k0s status -o json`: %w (output: %q)", jerr, command.Tail(string(out.Stdout), 3))
			}
			st.Running, st.Status = true, &s
		case errors.As(err, &cerr):
			// k0s exits non-zero with "k0s not running" when the status socket is absent.
		default:
			return st, fmt.Errorf("read the k0s status: %w", err)
		}
	}
	st.AdminConf = env.exists(path.Join(o.DataDir, "pki/admin.conf"))
	st.KubeletConf = env.exists(path.Join(o.DataDir, "kubelet.conf"))
	st.EtcdMember = env.exists(path.Join(o.DataDir, "etcd/member"))
	ca, err := readCA(env, o.DataDir)
	if err != nil {
		return st, err
	}
	st.CA = ca
	cfg := env.path(o.ConfigPath)
	if link, err := os.Readlink(cfg); err == nil {
		st.ConfigLink = link
	}
	if data, err := os.ReadFile(cfg); err == nil {
		st.Config = data
	} else if !errors.Is(err, os.ErrNotExist) {
		return st, fmt.Errorf("read %s: %w", o.ConfigPath, err)
	}
	return st, nil
}

func gatherUnit(ctx context.Context, env Env, o Options, st *State) error {
	if o.ServiceMode == ServiceNixOS {
		out, err := env.Run.Run(ctx, command.Cmd{Name: "systemctl", Args: []string{"show", "--property=LoadState", "--property=ExecStart", o.ServiceName + ".service"}})
		if err != nil {
			return fmt.Errorf("read the %s unit: %w", o.ServiceName, err)
		}
		for _, line := range strings.Split(string(out.Stdout), "\n") {
			k, v, _ := strings.Cut(strings.TrimSpace(line), "=")
			switch k {
			case "LoadState":
				st.Installed = v == "loaded"
			case "ExecStart":
				st.UnitArgs = execStartArgv(v)
			}
		}
		return nil
	}
	for _, role := range []string{"controller", "worker"} {
		for _, p := range unitStubs[role] {
			if env.exists(p) {
				st.Installed, st.UnitPath = true, p
				return nil
			}
		}
	}
	return nil
}

// execStartArgv reads the argv of a `systemctl show --property=ExecStart` value, which systemd
// prints as "{ path=P ; argv[]=A B C ; ignore_errors=no ; ... }" with the arguments joined by
// spaces (systemd src/systemctl/systemctl-show.c print_property, "argv[]=%s" of
// strv_join(info.argv, " ")). nil when there is none.
func execStartArgv(v string) []string {
	_, rest, ok := strings.Cut(v, "argv[]=")
	if !ok {
		return nil
	}
	argv, _, _ := strings.Cut(rest, " ; ")
	return strings.Fields(argv)
}

// unitMatches checks, in NixOS mode, that the unit NixOS declares runs k0s the way the
// options say (guest.nix's microvm-guest.k0s builds ExecStart from the role, bootstrap and
// extraArgs; the module cannot change it): the role, --enable-worker, --no-taints, and the
// config, token file and data dir the module writes and reads. The error says what to set.
func unitMatches(o Options, argv []string) error {
	if len(argv) < 2 {
		return nil // nothing to compare (a unit without ExecStart, e.g. a test double)
	}
	role, flags := argv[1], parseArgs(argv[2:])
	fix := "set it in this machine's NixOS configuration (microvm-guest.k0s in guest.nix, or services.k0s) or change the inventory to match"
	if role != o.Role.installRole() {
		return fmt.Errorf("the %s unit runs `k0s %s`, but role is %s: %s (microvm-guest.k0s.role = %q)", o.ServiceName, role, o.Role, fix, string(o.Role))
	}
	if o.Role.IsController() && flags.bool("enable-worker") != (o.Role == ControllerWorker) {
		return fmt.Errorf("the %s unit runs k0s controller %s --enable-worker, but role is %s: %s (microvm-guest.k0s.role = %q)", o.ServiceName, reason(flags.bool("enable-worker"), "with", "without"), o.Role, fix, string(o.Role))
	}
	if o.Role == ControllerWorker && flags.bool("no-taints") != o.NoTaints {
		return fmt.Errorf("no_taints is %t, but the %s unit runs k0s %s --no-taints: %s (microvm-guest.k0s.extraArgs %s [ \"--no-taints\" ])", o.NoTaints, o.ServiceName, reason(flags.bool("no-taints"), "with", "without"), fix, reason(o.NoTaints, "containing", "without"))
	}
	for k, v := range parseArgs(o.ExtraArgs).value {
		if got, ok := flags.value[k]; !ok || got != v {
			return fmt.Errorf("extra_args has --%s=%s, but the %s unit runs k0s %s: %s (microvm-guest.k0s.extraArgs)", k, v, o.ServiceName, reason(ok, "with --"+k+"="+got, "without --"+k), fix)
		}
	}
	for flag, want := range map[string]string{"config": o.ConfigPath, "data-dir": o.DataDir, "token-file": o.TokenFile} {
		got, ok := flags.value[flag]
		if flag == "config" && !o.Role.IsController() || flag == "token-file" && !ok {
			continue
		}
		if !ok {
			got = map[string]string{"config": DefaultConfigPath, "data-dir": DefaultDataDir}[flag]
		}
		if filepath.Clean(got) != filepath.Clean(want) {
			return fmt.Errorf("the %s unit runs k0s with --%s=%s, but the module is set to %s: set k0s_%s: %s (or change the unit)", o.ServiceName, flag, got, want, map[string]string{"config": "config_path", "data-dir": "data_dir", "token-file": "token_file"}[flag], got)
		}
	}
	return nil
}

// unitFlags are the --flags of a k0s command line: booleans and values.
type unitFlags struct {
	value map[string]string
}

// parseArgs reads "--name=value", "--name value" and boolean "--name" flags.
func parseArgs(args []string) unitFlags {
	f := unitFlags{value: map[string]string{}}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "--") {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !ok {
			v = "true"
			if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") && k != "enable-worker" && k != "no-taints" && k != "single" {
				v = args[i+1]
				i++
			}
		}
		f.value[k] = v
	}
	return f
}

func (f unitFlags) bool(name string) bool { return f.value[name] == "true" }

// readCA returns the SHA-256 of the cluster CA the node holds: <data-dir>/pki/ca.crt (every
// role has it once joined), else the CA inlined in kubelet.conf.
func readCA(env Env, dataDir string) (string, error) {
	data, err := os.ReadFile(env.path(path.Join(dataDir, "pki/ca.crt")))
	if err == nil {
		return certFingerprint(data)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read the cluster CA: %w", err)
	}
	data, err = os.ReadFile(env.path(path.Join(dataDir, "kubelet.conf")))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read kubelet.conf: %w", err)
	}
	kc, err := kube.ParseConfig(data, env.path(dataDir))
	if err != nil {
		return "", fmt.Errorf("read kubelet.conf: %w", err)
	}
	ep, err := kc.Endpoint()
	if err != nil {
		return "", fmt.Errorf("read kubelet.conf: %w", err)
	}
	return caFingerprint(ep)
}

// certFingerprint is the SHA-256 (hex) of the first certificate's DER bytes in pemData.
func certFingerprint(pemData []byte) (string, error) {
	block, _ := pem.Decode(pemData)
	if block == nil || block.Type != "CERTIFICATE" {
		return "", errors.New("no PEM certificate in the cluster CA file")
	}
	sum := sha256.Sum256(block.Bytes)
	return hex.EncodeToString(sum[:]), nil
}

// caFingerprint is the SHA-256 of the CA a kubeconfig names (internal/kube reads it).
func caFingerprint(ep kube.Endpoint) (string, error) {
	if len(ep.CA) == 0 {
		return "", errors.New("the kubeconfig has no certificate-authority-data")
	}
	return certFingerprint(bytes.TrimSpace(ep.CA))
}
