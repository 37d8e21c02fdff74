package install

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/business-operations/bo.microvm/internal/nix"
	"github.com/business-operations/bo.microvm/internal/statedir"
)

// DefaultEvalCache is where install remembers, per flake, the runners its evaluations gave,
// keyed by the flake's fingerprint (nix.Fingerprint).
const DefaultEvalCache = "/var/cache/bo-microvm/eval"

// evalCache skips the evaluation when the flake is what the last evaluation saw: a re-run
// with an unchanged site flake then costs one `nix flake metadata` instead of evaluating
// nixpkgs and every VM's system. It is the fingerprint nix's own evaluation cache uses, which
// `nix eval` does not consult (src/nix/eval.cc at 2.8.0 forces the value itself). An entry is
// used only when it names every VM asked for and their derivations are still in the store
// (the garbage collector may have taken them); --impure in the options disables it. A VM's
// runner does not depend on which other VMs were evaluated with it, so the entry of a flake
// gathers every VM any run evaluated at that fingerprint: a run with --limit on some of them
// evaluates nothing either.
type evalCache struct {
	file        string // empty: no cache
	fingerprint string
}

func (in *Installer) evalCacheDir() string {
	if in.EvalCache != "" {
		return in.EvalCache
	}
	return in.Host.Path(DefaultEvalCache)
}

// openEvalCache fingerprints the flake; a failure only means no cache.
func (in *Installer) openEvalCache(ctx context.Context, flake string, v nix.Version) evalCache {
	if slices.Contains(in.Nix.Options, "--impure") {
		return evalCache{}
	}
	fp, err := in.Nix.Fingerprint(ctx, flake)
	if err != nil {
		return evalCache{}
	}
	id := sha256.Sum256([]byte(strings.Join([]string{flake, strings.Join(in.Nix.Options, "\x00"), v.String()}, "\x01")))
	return evalCache{file: filepath.Join(in.evalCacheDir(), hex.EncodeToString(id[:16])+".json"), fingerprint: fp}
}

type evalCacheEntry struct {
	Fingerprint string                `json:"fingerprint"`
	Runners     map[string]nix.Runner `json:"runners"`
}

// load returns the cached runners of names, or nil.
func (c evalCache) load(in *Installer, names []string) map[string]nix.Runner {
	if c.file == "" {
		return nil
	}
	b, err := os.ReadFile(c.file)
	if err != nil {
		return nil
	}
	var e evalCacheEntry
	if json.Unmarshal(b, &e) != nil || e.Fingerprint != c.fingerprint {
		return nil
	}
	for _, n := range names {
		r, ok := e.Runners[n]
		if !ok || !strings.HasPrefix(r.DrvPath, "/nix/store/") || !strings.HasPrefix(r.OutPath, "/nix/store/") {
			return nil
		}
		if _, err := os.Stat(in.Host.Path(r.DrvPath)); err != nil {
			return nil
		}
	}
	return e.Runners
}

// save records a complete evaluation of names (never in check mode, which changes nothing),
// beside what the entry already holds for the same fingerprint.
func (c evalCache) save(runners map[string]nix.Runner, names []string) {
	if c.file == "" {
		return
	}
	all := map[string]nix.Runner{}
	if b, err := os.ReadFile(c.file); err == nil {
		var old evalCacheEntry
		if json.Unmarshal(b, &old) == nil && old.Fingerprint == c.fingerprint {
			for n, r := range old.Runners {
				all[n] = r
			}
		}
	}
	for _, n := range names {
		r, ok := runners[n]
		if !ok {
			return
		}
		all[n] = r
	}
	b, err := json.Marshal(evalCacheEntry{Fingerprint: c.fingerprint, Runners: all})
	if err != nil || os.MkdirAll(filepath.Dir(c.file), 0o755) != nil {
		return
	}
	_ = statedir.WriteFile(c.file, b, 0o644)
}
