package k0s

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/business-operations/bo.microvm/internal/command"
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
	Binary      bool    `json:"binary"`
	Version     string  `json:"version"`
	Installed   bool    `json:"installed"`    // the service unit exists
	UnitPath    string  `json:"unit"`         // generic: the unit file k0s install wrote
	Running     bool    `json:"running"`      // `k0s status` answered
	Status      *Status `json:"-"`            // nil when not running
	CA          string  `json:"ca_sha256"`    // SHA-256 of the cluster CA this node holds ("" = none)
	AdminConf   bool    `json:"admin_conf"`   // <data-dir>/pki/admin.conf (controller initialised)
	KubeletConf bool    `json:"kubelet_conf"` // <data-dir>/kubelet.conf (worker joined)
	EtcdMember  bool    `json:"etcd_member"`  // <data-dir>/etcd/member
	Config      []byte  `json:"-"`            // current k0s.yaml (nil when absent)
	ConfigLink  string  `json:"-"`            // where k0s.yaml links to, when it is a symlink
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
		out, err := env.Run.Run(ctx, command.Cmd{Name: "systemctl", Args: []string{"show", "--property=LoadState", "--value", o.ServiceName + ".service"}})
		if err != nil {
			return fmt.Errorf("read the %s unit: %w", o.ServiceName, err)
		}
		st.Installed = strings.TrimSpace(string(out.Stdout)) == "loaded"
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
	kc, err := parseKubeconfig(data)
	if err != nil {
		return "", fmt.Errorf("read kubelet.conf: %w", err)
	}
	return kc.caFingerprint()
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

// kubeconfig is the part of a kubeconfig the module reads (join tokens, kubelet.conf).
type kubeconfig struct {
	Clusters []struct {
		Name    string `yaml:"name"`
		Cluster struct {
			Server string `yaml:"server"`
			CAData string `yaml:"certificate-authority-data"`
		} `yaml:"cluster"`
	} `yaml:"clusters"`
	Users []struct {
		Name string `yaml:"name"`
		User struct {
			Token string `yaml:"token"`
		} `yaml:"user"`
	} `yaml:"users"`
}

func parseKubeconfig(data []byte) (kubeconfig, error) {
	var kc kubeconfig
	if err := yaml.Unmarshal(data, &kc); err != nil {
		return kc, fmt.Errorf("not a kubeconfig: %w", err)
	}
	if len(kc.Clusters) == 0 {
		return kc, errors.New("not a kubeconfig: no clusters")
	}
	return kc, nil
}

func (kc kubeconfig) caFingerprint() (string, error) {
	ca := kc.Clusters[0].Cluster.CAData
	if ca == "" {
		return "", errors.New("the kubeconfig has no certificate-authority-data")
	}
	pemData, err := base64.StdEncoding.DecodeString(ca)
	if err != nil {
		return "", fmt.Errorf("certificate-authority-data is not base64: %w", err)
	}
	return certFingerprint(bytes.TrimSpace(pemData))
}
