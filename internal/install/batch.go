package install

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/business-operations/bo.microvm/internal/nix"
)

// runner is the batch's outcome for one VM built from the flake: the runner store path
// (built, or predicted in check mode), or why there is none.
type runner struct {
	installable string
	target      string
	err         error
}

// runners evaluates the runners of names in one nix evaluation and, unless in check mode,
// builds them in one nix build, so a task pays for the site flake (and the nixpkgs it
// imports) once per hypervisor, not once per VM. A VM whose evaluation or build fails gets
// its own error, and the other VMs are still built (--keep-going): nix then makes no
// out-link at all, so each VM is built again alone, which for a VM already built is only
// its out-link, and for the failing one gives its own build log. The failure paths cost
// more nix calls; the path of a run where everything evaluates and builds costs three: one
// `nix flake metadata` (the fingerprint of evalCache), one `nix eval`, one `nix build` of the
// derivations it named (which evaluates nothing). With an unchanged flake, evalCache skips the
// evaluation.
// cleanup removes the temporary out-links and nix's automatic GC roots of them; call it
// once current and the VMs' own GC roots hold the runners.
func (in *Installer) runners(ctx context.Context, req Request, names []string, v nix.Version) (map[string]*runner, func()) {
	res := make(map[string]*runner, len(names))
	for _, n := range names {
		res[n] = &runner{installable: nix.RunnerInstallable(req.Flake, n)}
	}
	noop := func() {}
	if len(names) == 0 {
		return res, noop
	}
	failed := func(name string, err error) {
		if req.Check {
			res[name].err = fmt.Errorf("predict the runner of %s (check mode evaluates, it does not build): %w", name, err)
		} else {
			res[name].err = fmt.Errorf("build the runner of %s (current is left as it was): %w", name, err)
		}
	}

	cache := in.openEvalCache(ctx, req.Flake, v)
	evals := cache.load(in, names)
	fresh := evals == nil
	if fresh {
		var err error
		if evals, err = in.Nix.EvalRunners(ctx, req.Flake, names); err != nil {
			evals = map[string]nix.Runner{} // an error no VM can be blamed for: each VM alone, below
		}
	}
	var built []string // VMs whose runner evaluated, in names' order
	for _, n := range names {
		r, ok := evals[n]
		if !ok {
			var err error
			// Evaluated alone, the VM's own error is nix's message for it.
			if r, err = in.Nix.EvalRunner(ctx, res[n].installable); err != nil {
				failed(n, err)
				continue
			}
			evals[n] = r
		}
		res[n].target = r.OutPath
		built = append(built, n)
	}
	if fresh && !req.Check {
		cache.save(evals, names)
	}
	if req.Check {
		return res, noop
	}
	// A VM whose current already is its runner needs no build: its own GC root holds it.
	var toBuild []string
	for _, n := range built {
		if vm, err := in.Host.Read(n); err != nil || vm.Current != res[n].target {
			toBuild = append(toBuild, n)
		}
	}
	built = toBuild
	if len(built) == 0 {
		return res, noop
	}

	tmpRoot, err := filepath.Abs(in.tmpDir())
	if err == nil {
		var tmp string
		if tmp, err = os.MkdirTemp(tmpRoot, "bo-microvm-build-"); err == nil {
			return res, in.buildAll(ctx, tmp, built, evals, res, failed, v)
		}
	}
	for _, n := range built {
		failed(n, fmt.Errorf("make a temporary directory for the out-links: %w", err))
	}
	return res, noop
}

// buildAll builds the evaluated runners into out-links under tmp (see runners) and returns
// the cleanup of tmp.
func (in *Installer) buildAll(ctx context.Context, tmp string, built []string, evals map[string]nix.Runner,
	res map[string]*runner, failed func(string, error), v nix.Version) func() {
	cleanup := func() {
		in.removeAutoRoots(tmp)
		_ = os.RemoveAll(tmp)
	}
	drvs := make([]string, len(built))
	for i, n := range built {
		drvs[i] = evals[n].DrvPath
	}
	if err := in.Nix.BuildDrvs(ctx, drvs, filepath.Join(tmp, "runner"), len(drvs) > 1, v); err == nil {
		// nix made one out-link per derivation, in an order of its own: match them by target.
		links := linkTargets(tmp)
		for _, n := range built {
			if !links[evals[n].OutPath] {
				failed(n, &nix.Error{Op: "build", Target: res[n].installable, ExitCode: -1, OutputsNone: true,
					Err: fmt.Errorf("the build succeeded but left no out-link to %s under %s", evals[n].OutPath, tmp)})
			}
		}
		return cleanup
	} else if len(drvs) == 1 {
		failed(built[0], err)
		return cleanup
	}
	// Some derivation failed and nix made no out-link: each VM alone, one after the other (a
	// built one only gets its out-link; a failing one fails again, with its own log).
	for i, n := range built {
		dir := filepath.Join(tmp, fmt.Sprintf("vm%d", i))
		if err := os.Mkdir(dir, 0o755); err != nil {
			failed(n, err)
			continue
		}
		if err := in.Nix.BuildDrvs(ctx, drvs[i:i+1], filepath.Join(dir, "runner"), false, v); err != nil {
			failed(n, err)
			continue
		}
		if t, err := os.Readlink(filepath.Join(dir, "runner")); err != nil || t != evals[n].OutPath {
			failed(n, &nix.Error{Op: "build", Target: res[n].installable, ExitCode: -1, OutputsNone: true,
				Err: fmt.Errorf("the build succeeded but its out-link is %q, not %s (%v)", t, evals[n].OutPath, err)})
		}
	}
	return cleanup
}

// linkTargets returns the targets of the out-links nix made in dir.
func linkTargets(dir string) map[string]bool {
	out := map[string]bool{}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if t, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil {
			out[t] = true
		}
	}
	return out
}

// removeAutoRoots deletes nix's automatic GC roots that point into dir. (nix would drop a
// dangling one at its next collection; removing them keeps the roots tidy.)
func (in *Installer) removeAutoRoots(dir string) {
	entries, err := os.ReadDir(in.autoRoots())
	if err != nil {
		return
	}
	for _, e := range entries {
		p := filepath.Join(in.autoRoots(), e.Name())
		if t, err := os.Readlink(p); err == nil && strings.HasPrefix(t, dir+"/") {
			_ = os.Remove(p)
		}
	}
}
