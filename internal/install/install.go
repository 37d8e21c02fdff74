// Package install puts a microVM's runner on its hypervisor the way microvm.nix's
// `microvm -c`/`-u` do, without their flaws: it builds first (a failed build leaves the
// previous runner in place), swaps the VM's `current` link atomically, writes the `flake`
// file, keeps the GC roots, and reports whether a running VM needs a restart. It never
// starts, stops or restarts a VM. It also removes a stopped VM, keeping its volume images
// unless asked to purge them.
package install

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/business-operations/bo.microvm/internal/nix"
	"github.com/business-operations/bo.microvm/internal/statedir"
	"github.com/business-operations/bo.microvm/internal/step"
	"github.com/business-operations/bo.microvm/internal/systemd"
)

// Units is what install needs from systemd: the state of the VMs' units, in one call.
type Units interface {
	States(ctx context.Context, units []string) (map[string]systemd.UnitState, error)
}

// DirMode is the mode of a VM directory: group kvm (the hypervisor's group) may create
// sockets, images and the booted link there, as microvm.nix's state directory allows.
const DirMode os.FileMode = 0o775

// FlakeFileMode is the mode of the flake file.
const FlakeFileMode os.FileMode = 0o644

// DefaultAutoRoots is where nix keeps the automatic GC roots of out-links.
const DefaultAutoRoots = "/nix/var/nix/gcroots/auto"

// DefaultParallel bounds how many VMs are built at once.
const DefaultParallel = 4

// Owner owns a VM directory, its current link and flake file. -1 keeps an id unchanged.
type Owner struct{ UID, GID int }

// LookupOwner resolves a user and group name (or numeric id) on this host. It fails with a
// message that points at microvm.nix's host module, which creates microvm:kvm.
func LookupOwner(userName, groupName string) (Owner, error) {
	o := Owner{UID: -1, GID: -1}
	if userName != "" {
		id, err := statedir.UserID(userName)
		if err != nil {
			return o, fmt.Errorf("owner: user %q does not exist on the hypervisor (microvm.nix's host module creates user microvm): %w", userName, err)
		}
		o.UID = id
	}
	if groupName != "" {
		id, err := statedir.GroupID(groupName)
		if err != nil {
			return o, fmt.Errorf("group: group %q does not exist on the hypervisor (microvm.nix's host module uses group kvm): %w", groupName, err)
		}
		o.GID = id
	}
	return o, nil
}

// Installer installs and removes VMs on one hypervisor.
type Installer struct {
	Host  statedir.Host
	Nix   nix.Nix
	Units Units
	Owner Owner
	// TmpDir holds the temporary out-links of builds; os.TempDir() when empty.
	TmpDir string
	// AutoRoots is nix's automatic GC root directory as seen from this process;
	// Host.Path(DefaultAutoRoots) when empty.
	AutoRoots string
	// EvalCache is the directory of the evaluation cache (evalCache);
	// Host.Path(DefaultEvalCache) when empty.
	EvalCache string
}

// Request is one module run.
type Request struct {
	Names    []string
	State    string            // "present" (default) or "absent"
	Flake    string            // build <Flake>#nixosConfigurations.<name>.config.microvm.declaredRunner
	Runners  map[string]string // or install these runner store paths, per VM name
	Purge    bool              // absent only: also delete the volume images and everything else
	Rollback bool              // present only: put current back on old, the previous runner (rollback)
	Parallel int               // VMs installed at once; DefaultParallel when 0 (nix builds them in one call)
	HostKey  string            // present only: the SSH host key to make if missing, relative to the VM directory ("" none)
	Check    bool              // predict only, change nothing
}

// VM is the outcome for one VM.
type VM struct {
	Name            string        `json:"name"`
	State           string        `json:"state"`
	Changed         bool          `json:"changed"`
	Failed          bool          `json:"failed"`
	Msg             string        `json:"msg,omitempty"`
	Dir             string        `json:"dir"`
	Current         string        `json:"current"`
	Previous        string        `json:"previous"`
	Old             string        `json:"old"`
	Booted          string        `json:"booted"`
	Running         bool          `json:"running"`
	ActiveState     string        `json:"active_state"`
	RestartRequired bool          `json:"restart_required"`
	Flake           string        `json:"flake,omitempty"`
	Installable     string        `json:"installable,omitempty"`
	Changes         []string      `json:"changes"`
	Steps           []step.Result `json:"steps"`
	Removed         []string      `json:"removed,omitempty"`
	Kept            []string      `json:"kept,omitempty"`
	LogTail         string        `json:"log_tail,omitempty"`
	HostKey         *HostKey      `json:"ssh_host_key,omitempty"`

	before, after string // diff texts
}

// Diff is the before/after text of one VM whose state changes.
type Diff struct {
	Header        string
	Before, After string
}

// Report is the outcome of a whole run.
type Report struct {
	VMs             map[string]*VM
	Changed         bool
	ChangedVMs      []string
	RestartRequired []string
	FailedVMs       []string
	NixVersion      string
	Diffs           []Diff
}

// Err summarises the failed VMs, or returns nil.
func (r *Report) Err() error {
	if len(r.FailedVMs) == 0 {
		return nil
	}
	msgs := make([]string, len(r.FailedVMs))
	for i, n := range r.FailedVMs {
		msgs[i] = n + ": " + r.VMs[n].Msg
	}
	return fmt.Errorf("%d of %d VMs failed (the others are reported under vms): %s", len(r.FailedVMs), len(r.VMs), strings.Join(msgs, "; "))
}

// Validate checks a request before anything is read or changed; each error names its option.
func (req *Request) Validate() error {
	seen := map[string]bool{}
	for _, n := range req.Names {
		if err := statedir.ValidateName(n); err != nil {
			return fmt.Errorf("name: %w", err)
		}
		if seen[n] {
			return fmt.Errorf("name: VM %q is listed twice", n)
		}
		seen[n] = true
	}
	if req.State == "" {
		req.State = "present"
	}
	switch req.State {
	case "present":
		if req.Purge {
			return errors.New("purge: only applies to state=absent")
		}
		if req.HostKey != "" {
			if req.Rollback {
				return errors.New("ssh_host_key, rollback: a rollback only moves links; give ssh_host_key with the install")
			}
			if err := validHostKeyPath(req.HostKey); err != nil {
				return err
			}
		}
		switch {
		case req.Rollback && (req.Flake != "" || len(req.Runners) > 0):
			return errors.New("rollback, flake, runner: rollback puts each VM back on the runner it had before (its old link); give no flake or runner with it")
		case req.Rollback:
		case req.Flake != "" && len(req.Runners) > 0:
			return errors.New("flake, runner: give one of them, not both")
		case req.Flake == "" && len(req.Runners) == 0:
			return errors.New("flake, runner: state=present needs one of them")
		case req.Flake != "":
			if err := nix.ValidateFlakeRef(req.Flake); err != nil {
				return fmt.Errorf("flake: %w", err)
			}
		default:
			for n, p := range req.Runners {
				if !seen[n] {
					return fmt.Errorf("runner: %q is not one of the VMs in name", n)
				}
				if !strings.HasPrefix(p, "/nix/store/") || strings.Count(strings.TrimPrefix(p, "/nix/store/"), "/") > 0 || strings.Contains(p, "..") {
					return fmt.Errorf("runner: %q for %s is not a store path (/nix/store/<hash>-<name>)", p, n)
				}
			}
			for _, n := range req.Names {
				if _, ok := req.Runners[n]; !ok {
					return fmt.Errorf("runner: no runner store path for VM %s", n)
				}
			}
		}
	case "absent":
		if req.HostKey != "" {
			return errors.New("ssh_host_key: only applies to state=present")
		}
		if req.Flake != "" || len(req.Runners) > 0 {
			return errors.New("flake, runner: not used with state=absent")
		}
		if req.Rollback {
			return errors.New("rollback: only applies to state=present")
		}
	default:
		return fmt.Errorf("state: must be present or absent, not %q", req.State)
	}
	if req.Parallel < 0 {
		return fmt.Errorf("parallel: must be at least 1, not %d", req.Parallel)
	}
	return nil
}

// Run installs or removes every VM of req, in parallel (at most req.Parallel at once), each
// under its per-VM lock (except in check mode, which only reads). With a flake, the runners
// of all VMs are first evaluated in one nix evaluation and built in one nix build (see
// runners), before any lock is taken. A failure of one VM does
// not stop the others; the report holds every VM's outcome and Report.Err summarises.
// Run itself fails only when nothing could be tried (bad request, no nix, no systemd).
func (in *Installer) Run(ctx context.Context, req Request) (*Report, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	rep := &Report{VMs: make(map[string]*VM, len(req.Names))}
	if len(req.Names) == 0 {
		return rep, nil // a hypervisor without VMs in this batch: nothing to do
	}
	var built map[string]*runner
	if req.State == "present" {
		v, err := in.Nix.Version(ctx)
		if err != nil {
			return nil, err
		}
		rep.NixVersion = v.String()
		if req.Flake != "" {
			var cleanup func()
			built, cleanup = in.runners(ctx, req, in.buildable(req.Names), v)
			defer cleanup()
		}
	}
	units := make([]string, len(req.Names))
	for i, n := range req.Names {
		units[i] = systemd.MicroVMUnit(n)
	}
	states, err := in.Units.States(ctx, units)
	if err != nil {
		return nil, fmt.Errorf("read the VMs' unit states from systemd: %w", err)
	}

	parallel := req.Parallel
	if parallel == 0 {
		parallel = DefaultParallel
	}
	results := make([]*VM, len(req.Names))
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, name := range req.Names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
				results[i] = &VM{Name: name, State: req.State, Failed: true, Changes: []string{},
					Msg: fmt.Sprintf("not tried: %v", ctx.Err())}
				return
			}
			st := states[units[i]]
			switch {
			case req.State == "absent":
				results[i] = in.absent(ctx, req, name, st)
			case req.Rollback:
				results[i] = in.rollback(ctx, req, name, st)
			default:
				results[i] = in.present(ctx, req, name, st, built[name])
			}
		}()
	}
	wg.Wait()

	for _, r := range results {
		if r.Steps == nil {
			r.Steps = []step.Result{} // failed before its steps
		}
		rep.VMs[r.Name] = r
		if r.Changed {
			rep.Changed = true
			rep.ChangedVMs = append(rep.ChangedVMs, r.Name)
			rep.Diffs = append(rep.Diffs, Diff{Header: r.Dir, Before: r.before, After: r.after})
		}
		if r.RestartRequired {
			rep.RestartRequired = append(rep.RestartRequired, r.Name)
		}
		if r.Failed {
			rep.FailedVMs = append(rep.FailedVMs, r.Name)
		}
	}
	return rep, nil
}

// buildable are the VMs of names to build from the flake: all but those that present
// refuses anyway (declared by the host's NixOS configuration), so that nothing is built for
// them. A VM whose directory cannot be read is built; present reports the error.
func (in *Installer) buildable(names []string) []string {
	var out []string
	for _, n := range names {
		if vm, err := in.Host.Read(n); err == nil && vm.Declarative {
			continue
		}
		out = append(out, n)
	}
	return out
}

// running reports whether a unit state means the VM runs; stopped whether it is down for
// sure (auto-restart pending, starting or stopping count as neither).
func stopped(st systemd.UnitState) bool {
	return st.ActiveState == "" || st.ActiveState == "inactive" || st.ActiveState == "failed"
}

func (in *Installer) autoRoots() string {
	if in.AutoRoots != "" {
		return in.AutoRoots
	}
	return in.Host.Path(DefaultAutoRoots)
}

func (in *Installer) tmpDir() string {
	if in.TmpDir != "" {
		return in.TmpDir
	}
	return os.TempDir()
}

// hostPath strips the test root from a path as seen by this process, giving the path on
// the host (what link targets must hold).
func (in *Installer) hostPath(p string) string {
	if in.Host.Root == "" {
		return p
	}
	rel, err := filepath.Rel(in.Host.Root, p)
	if err != nil {
		return p
	}
	return "/" + rel
}
