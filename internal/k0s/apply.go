package k0s

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/business-operations/bo.microvm/internal/command"
	"github.com/business-operations/bo.microvm/internal/statedir"
	"github.com/business-operations/bo.microvm/internal/step"
)

// Result is what Apply or Reset did (or, in check mode, would do). Changed and Steps come
// from the step engine (internal/step): every step is reported with its vocabulary.
type Result struct {
	step.Report
	Facts Facts `json:"facts"`
	// ConfigBefore/After are k0s.yaml before and after, for diff mode ("" = absent or unmanaged).
	ConfigBefore string `json:"-"`
	ConfigAfter  string `json:"-"`
	// RebootRequired is set by a reset: k0s leaves mounts and network state a reboot clears.
	RebootRequired bool `json:"reboot_required"`
}

// fixed is a step check decided from the state read before anything changed (k0sctl's
// phases decide the same way): needed or not, and why.
func fixed(needed bool, reason string) func(context.Context) (bool, string, error) {
	return func(context.Context) (bool, string, error) { return needed, reason, nil }
}

// decided is fixed with a reason for each answer.
func decided(needed bool, yes, no string) func(context.Context) (bool, string, error) {
	return fixed(needed, reason(needed, yes, no))
}

// draft is a step while plan decides it from the state it read; engine hands it to the
// step engine, which runs it (or in check mode reports it) with the common vocabulary.
type draft struct {
	Title  string
	Run    bool
	Reason string
	Kind   step.Kind
	do     func(ctx context.Context) error
}

func (d draft) engine() step.Step {
	return step.Step{Title: d.Title, Kind: d.Kind, Check: fixed(d.Run, d.Reason), Do: d.do}
}

func reason(cond bool, yes, no string) string {
	if cond {
		return yes
	}
	return no
}

// Apply brings this node to its place in the cluster: the bootstrap controller initialises
// the cluster once, other nodes join with a token once, a node already in this cluster is
// left alone, and a controller's k0s.yaml is kept as asked (k0s restarts only when it
// changed). In check mode it reads the same state, plans the same steps and runs none.
func Apply(ctx context.Context, env Env, o Options, check bool) (*Result, error) {
	o = o.withDefaults()
	o, err := o.resolve(env)
	if err != nil {
		return nil, err
	}
	if o.Role == "" {
		return nil, errors.New("role is required with state: present (controller, controller+worker or worker)")
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	if err := o.validateConfig(); err != nil {
		return nil, err
	}
	if o.Wait == nil {
		o.Wait = []string{WaitNode}
		if o.Role.IsController() {
			o.Wait = []string{WaitAPI}
		}
	}
	for _, w := range o.Wait {
		if w != WaitNode && w != WaitAPI && !o.Role.IsController() {
			return nil, fmt.Errorf("wait_for %s reads the cluster with the admin kubeconfig, which only controllers have; run it on the bootstrap controller", w)
		}
	}
	st, err := Gather(ctx, env, o)
	if err != nil {
		return nil, err
	}
	if err := needBinary(o, st); err != nil {
		return nil, err
	}
	p, err := plan(env, o, st, check)
	if err != nil {
		return nil, err
	}
	res := &Result{ConfigBefore: string(st.Config), ConfigAfter: string(st.Config)}
	if p.config != nil {
		res.ConfigAfter = string(p.config)
	}
	for _, w := range p.warnings {
		res.Steps = append(res.Steps, step.Result{Title: "Warning", Status: step.OK, Reason: w})
	}
	runErr := step.Run(ctx, p.steps, check, &res.Report)
	res.Facts = facts(ctx, env, o, st, check)
	return res, runErr
}

// needBinary fails when the k0s binary is missing, saying where it is expected.
func needBinary(o Options, st State) error {
	if st.Binary {
		return nil
	}
	hint := "install k0s there (k0sctl's path) or point k0s_binary at it"
	if o.ServiceMode == ServiceNixOS {
		hint = "NixOS: the guest gets k0s from microvm-guest.k0s.package (guest.nix puts it on the system PATH, " + NixOSBinary + "); set it, or point k0s_binary at the k0s your unit runs"
	}
	return fmt.Errorf("no k0s binary at %s: %s", o.Binary, hint)
}

// planned is what plan decided.
type planned struct {
	steps    []step.Step
	config   []byte // the k0s.yaml to write (nil: not managed here)
	warnings []string
}

func (p *planned) add(d draft) { p.steps = append(p.steps, d.engine()) }

// plan validates the state against the options and lists the steps. Everything it refuses,
// it refuses before anything changed.
func plan(env Env, o Options, st State, check bool) (planned, error) {
	var p planned
	run := func(c command.Cmd) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := env.Run.Run(ctx, c)
			return err
		}
	}
	k0s := func(args ...string) command.Cmd { return command.Cmd{Name: o.Binary, Args: args} }
	systemctl := func(verb string) command.Cmd {
		return command.Cmd{Name: "systemctl", Args: []string{verb, o.ServiceName + ".service"}}
	}

	// Which cluster the node must belong to: the token's, or the CA the playbook names.
	var token JoinToken
	if o.Token != "" {
		var err error
		if token, err = ParseToken(o.Token); err != nil {
			return p, err
		}
		if o.ClusterCA != "" && !strings.EqualFold(o.ClusterCA, token.CA) {
			return p, fmt.Errorf("the join token is for the cluster with CA %s, but cluster_ca_sha256 says %s: the token comes from another cluster's controller", shortCA(token.CA), shortCA(o.ClusterCA))
		}
	}
	expectCA := strings.ToLower(o.ClusterCA)
	if expectCA == "" {
		expectCA = token.CA
	}
	foreign := st.CA != "" && expectCA != "" && st.CA != expectCA
	if foreign && !o.ForceReset {
		return p, fmt.Errorf("%s holds data of another cluster (its CA is %s, this cluster's is %s): it was part of a different cluster. Set force_reset: true to wipe it with `k0s reset`, or fix the inventory", o.DataDir, shortCA(st.CA), shortCA(expectCA))
	}
	if st.Running && !foreign {
		if rr := st.Status.RunningRole(); rr != o.Role {
			return p, fmt.Errorf("k0s runs here as %s, the inventory asks for %s: changing a node's role is not supported. Reset the node first (state: reset, force_reset: true), then run again", rr, o.Role)
		}
	}
	if o.ServiceMode == ServiceGeneric && st.Running && !st.Installed && !foreign {
		return p, fmt.Errorf("k0s is running but was not installed as a service (no unit file in /etc/systemd/system or /etc/init.d): it was started by hand. Stop it, or set service_mode: nixos if NixOS manages its unit")
	}
	if o.ServiceMode == ServiceNixOS && !st.Installed {
		return p, fmt.Errorf("systemd does not know %s.service: set microvm-guest.k0s.role = %q and microvm-guest.k0s.package (guest.nix) or enable services.k0s (k0s-nix) in this machine's NixOS configuration, or set k0s_service_mode: generic on a machine that is not NixOS", o.ServiceName, string(o.Role))
	}
	if o.ServiceMode == ServiceNixOS {
		if err := unitMatches(o, st.UnitArgs); err != nil {
			return p, err
		}
	}

	// The state after the reset step, if it runs.
	running, installed, hasData := st.Running, st.Installed, st.HasData()
	if foreign {
		stop := run(k0s("stop"))
		if o.ServiceMode == ServiceNixOS {
			stop = run(systemctl("stop"))
		}
		p.add(draft{
			Title: "Wipe the data of another cluster (k0s reset)", Run: true,
			Reason: fmt.Sprintf("force_reset: %s holds the cluster with CA %s", o.DataDir, shortCA(st.CA)),
			do: func(ctx context.Context) error {
				if st.Running {
					if err := stop(ctx); err != nil {
						return err
					}
				}
				return run(k0s("reset", "--data-dir="+o.DataDir))(ctx)
			},
		})
		running, hasData = false, false
		if o.ServiceMode == ServiceGeneric {
			installed = false // k0s reset unregisters the unit
		}
	}

	needsJoin := !o.Bootstrap && !hasData
	if needsJoin && o.Token == "" {
		msg := fmt.Sprintf("this %s has not joined a cluster (no %s/pki/ca.crt or kubelet.conf) and no join token was given: pass token (created on the bootstrap controller with state: token, token_role: %s)", o.Role, o.DataDir, o.Role.installRole())
		if !check {
			return p, errors.New(msg)
		}
		p.warnings = append(p.warnings, "check mode: "+msg)
	}

	// k0s.yaml, controllers only (workers get their config from the API).
	configChanged := false
	if o.Role.IsController() {
		s := draft{Title: "Write " + o.ConfigPath}
		switch {
		case !o.ManageConfig:
			s.Reason = "manage_config: false (NixOS renders it from services.k0s.spec)"
		case strings.HasPrefix(st.ConfigLink, "/nix/store/"):
			return p, fmt.Errorf("%s links into the Nix store (%s): NixOS renders it from services.k0s.spec. Set manage_config: false and put the add-ons into services.k0s.spec", o.ConfigPath, st.ConfigLink)
		default:
			want, err := o.Cluster.Render()
			if err != nil {
				return p, err
			}
			p.config = want
			same := false
			if st.Config != nil {
				if same, err = SameConfig(st.Config, want); err != nil {
					same = false // not YAML: replace it
				}
			}
			if same {
				s.Reason = "it already says the same"
				break
			}
			if hasData && st.Config != nil {
				if prov := networkProvider(st.Config); prov != "custom" {
					return p, fmt.Errorf("the running cluster was initialised with network provider %s; switching to custom (Cilium) needs a full redeploy (k0s cannot change providers): reset every node with force_reset", prov)
				}
			}
			s.Run, configChanged = true, true
			s.Reason = "absent"
			if st.Config != nil {
				s.Reason = "it differs from what the options say"
			}
			s.do = func(ctx context.Context) error { return writeConfig(ctx, env, o, st.Config, want) }
		}
		p.add(s)
	}

	// k0sctl's connectivity check, before anything changes (k0s#4557: fail with the reason
	// instead of looping on the join).
	if needsJoin && o.Token != "" {
		p.add(draft{
			Title: "Check that the API at " + token.API + " answers from this node", Run: true, Kind: step.Read,
			Reason: "the join talks to it",
			do: func(ctx context.Context) error {
				if err := env.probe(ctx, token.API); err != nil {
					return fmt.Errorf("this node cannot reach the cluster API named in the join token: %w. Check the address, routing and the firewall (port 6443/tcp, and 9443/tcp for controllers)", err)
				}
				return nil
			},
		})
	}

	// The join token file.
	tokenStep := draft{Title: "Write the join token to " + o.TokenFile + " (0600)"}
	switch {
	case o.Bootstrap:
		tokenStep.Reason = "the bootstrap controller initialises the cluster without a token"
	case !needsJoin:
		tokenStep.Reason = "already joined this cluster"
	case o.Token == "":
		tokenStep.Reason = "no token given (check mode)"
	default:
		tokenStep.Run, tokenStep.Reason = true, "not joined yet"
		tok := []byte(strings.TrimSpace(o.Token) + "\n")
		tokenStep.do = func(context.Context) error {
			return writeFile(env.path(o.TokenFile), tok, tokenFileMode)
		}
	}
	p.add(tokenStep)

	// The service.
	reinstall := false
	if o.ServiceMode == ServiceGeneric {
		args := installArgs(o, needsJoin || env.exists(o.TokenFile))
		s := draft{Title: "Install the k0s " + o.Role.installRole() + " service (k0s install)"}
		switch {
		case !installed:
			s.Run, s.Reason = true, "no k0s unit yet"
			s.do = run(k0s(args...))
		case running && flagsDiffer(st.Status.Args, o):
			reinstall = true
			s.Title = "Reinstall the k0s service with changed flags (k0s install --force)"
			s.Run, s.Reason = true, "the running k0s has other flags: "+strings.Join(st.Status.Args, " ")
			s.do = run(k0s(append(args, "--force")...))
		default:
			s.Reason = "installed (" + st.UnitPath + ")"
		}
		p.add(s)
	}
	start := draft{Title: "Start k0s"}
	if o.Bootstrap && !hasData {
		start.Title = "Start k0s and initialise the cluster"
	} else if needsJoin {
		start.Title = "Start k0s and join the cluster"
	}
	if running {
		start.Reason = "running"
	} else {
		start.Run, start.Reason = true, "not running"
		if o.ServiceMode == ServiceNixOS {
			start.do = run(systemctl("start"))
		} else {
			start.do = run(k0s("start"))
		}
	}
	p.add(start)
	restart := draft{Title: "Restart k0s to load the changed configuration"}
	switch {
	case !running:
		restart.Reason = "not running before: the start loads it"
	case !configChanged && !reinstall:
		restart.Reason = "nothing changed"
	default:
		restart.Run, restart.Reason = true, "k0s.yaml or the service flags changed while k0s was running"
		if o.ServiceMode == ServiceNixOS {
			restart.do = run(systemctl("restart"))
		} else {
			restart.do = func(ctx context.Context) error {
				if err := run(k0s("stop"))(ctx); err != nil {
					return err
				}
				return run(k0s("start"))(ctx)
			}
		}
	}
	p.add(restart)

	w := &waiter{env: env, o: o}
	p.add(draft{
		Title: "Wait for k0s to report running", Kind: step.Wait, Run: start.Run || restart.Run,
		Reason: reason(start.Run || restart.Run, "after a start or restart", "running, neither started nor restarted"), do: w.status,
	})
	// The charts k0s will read: the k0s.yaml written here, else the one NixOS renders.
	cfg := p.config
	if cfg == nil {
		cfg = st.Config
	}
	var err error
	if cfg != nil {
		w.charts, err = configCharts(cfg)
	} else {
		w.charts, err = optionCharts(o.Cluster)
	}
	if err != nil {
		return p, err
	}
	p.steps = append(p.steps, w.steps()...)
	return p, nil
}

// installArgs are the `k0s install` arguments for o (k0sctl's role mapping).
func installArgs(o Options, withToken bool) []string {
	args := []string{"install", o.Role.installRole(), "--data-dir=" + o.DataDir}
	if o.Role.IsController() {
		args = append(args, "--config="+o.ConfigPath)
	}
	if o.Role == ControllerWorker {
		args = append(args, "--enable-worker=true")
		if o.NoTaints {
			args = append(args, "--no-taints=true")
		}
	}
	if withToken && !o.Bootstrap {
		args = append(args, "--token-file="+o.TokenFile)
	}
	return append(args, o.ExtraArgs...)
}

// flagsDiffer compares the flags the module sets with the running k0s' Args (k0sctl#302:
// changed install flags must not be ignored). Flags the module does not set are not compared.
func flagsDiffer(running []string, o Options) bool {
	if len(running) == 0 {
		return false
	}
	got := parseArgs(running).value
	want := map[string]string{"data-dir": o.DataDir, "enable-worker": "false", "no-taints": "false"}
	if o.Role.IsController() {
		want["config"] = o.ConfigPath
		if o.Role == ControllerWorker {
			want["enable-worker"] = "true"
			if o.NoTaints {
				want["no-taints"] = "true"
			}
		}
	} else {
		delete(want, "enable-worker")
		delete(want, "no-taints")
	}
	for k, v := range parseArgs(o.ExtraArgs).value {
		if got[k] != v {
			return true
		}
	}
	for k, v := range want {
		g, ok := got[k]
		if !ok {
			g = map[string]string{"data-dir": DefaultDataDir, "config": DefaultConfigPath, "enable-worker": "false", "no-taints": "false"}[k]
		}
		if filepath.Clean(g) != filepath.Clean(v) {
			return true
		}
	}
	return false
}

// writeConfig validates want with `k0s config validate` in a temp file beside k0s.yaml, keeps
// a copy of a hand-written k0s.yaml as k0s.yaml.old, and renames the temp file into place.
func writeConfig(ctx context.Context, env Env, o Options, old, want []byte) error {
	target := env.path(o.ConfigPath)
	if err := os.MkdirAll(filepath.Dir(target), defaultConfigDirMode); err != nil {
		return err
	}
	tmp := target + ".bo-validate"
	if err := writeFile(tmp, want, configFileMode); err != nil {
		return err
	}
	defer os.Remove(tmp)
	// k0s sees the real path (the root prefix is for tests only).
	validatePath := o.ConfigPath + ".bo-validate"
	if env.Root != "" {
		validatePath = tmp
	}
	if _, err := env.Run.Run(ctx, command.Cmd{Name: o.Binary, Args: []string{"config", "validate", "--config=" + validatePath}}); err != nil {
		return fmt.Errorf("k0s rejected the new configuration, the old one stays: %w", err)
	}
	if old != nil && !strings.HasPrefix(string(old), ConfigHeader) {
		if err := writeFile(target+".old", old, configFileMode); err != nil {
			return err
		}
	}
	return writeFile(target, want, configFileMode)
}

// writeFile writes data atomically, creating the directory (0750) first.
func writeFile(p string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(p), defaultConfigDirMode); err != nil {
		return err
	}
	return statedir.WriteFile(p, data, perm)
}

// shortCA is a CA fingerprint (sha256 hex) cut to its first 16 characters and an ellipsis, for
// messages that name a cluster.
func shortCA(fp string) string {
	if len(fp) > 16 {
		return fp[:16] + "…"
	}
	return fp
}
