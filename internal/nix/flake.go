package nix

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

// plainAttr is an attribute name nix accepts unquoted in an attribute path.
var plainAttr = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_'-]*$`)

// AttrPath joins attribute names into a flake fragment, quoting the names that need it
// (a VM called "db.1" becomes nixosConfigurations."db.1").
func AttrPath(names ...string) string {
	parts := make([]string, len(names))
	for i, n := range names {
		if plainAttr.MatchString(n) {
			parts[i] = n
		} else {
			parts[i] = `"` + strings.ReplaceAll(n, `"`, `\"`) + `"`
		}
	}
	return strings.Join(parts, ".")
}

// RunnerInstallable is what microvm.nix's `microvm -c` builds for VM name:
// <flake>#nixosConfigurations.<name>.config.microvm.declaredRunner.
func RunnerInstallable(flake, name string) string {
	return flake + "#" + AttrPath("nixosConfigurations", name, "config", "microvm", "declaredRunner")
}

// ValidateFlakeRef checks a flakeref meant to be stored in a VM's flake file and combined
// with an attribute path: no fragment, and a local path must be absolute (nix resolves a
// relative one against the current directory, which differs between runs; microvm.nix's
// docs say the same for `microvm -f`).
func ValidateFlakeRef(ref string) error {
	switch {
	case strings.TrimSpace(ref) == "":
		return errors.New("must not be empty")
	case ref != strings.TrimSpace(ref) || strings.ContainsAny(ref, "\n\r\t "):
		return fmt.Errorf("%q must not contain whitespace", ref)
	case strings.Contains(ref, "#"):
		return fmt.Errorf("%q must not have a #fragment: the module appends #nixosConfigurations.<name>.config.microvm.declaredRunner itself", ref)
	}
	p, local := localPath(ref)
	if local && !filepath.IsAbs(p) {
		return fmt.Errorf("%q is a relative local path: use an absolute one (e.g. path:/srv/site), as nix would resolve it against a directory that differs between runs", ref)
	}
	return nil
}

// localPath returns the path of a path-like flakeref (/x, ./x, path:x, git+file:x).
func localPath(ref string) (string, bool) {
	for _, scheme := range []string{"path:", "git+file://", "git+file:", "file://", "file:"} {
		if strings.HasPrefix(ref, scheme) {
			p := strings.TrimPrefix(ref, scheme)
			if i := strings.IndexByte(p, '?'); i >= 0 {
				p = p[:i]
			}
			return p, true
		}
	}
	if strings.HasPrefix(ref, "/") || strings.HasPrefix(ref, ".") {
		return ref, true
	}
	return "", false
}

// Fingerprint identifies what an evaluation of flake sees, as nix's own evaluation cache does
// (LockedFlake::getFingerprint, src/libexpr/flake/flake.cc at tag 2.8.0: the source's store
// path, subdir, revCount, lastModified and the lock file): the same fingerprint, the same
// evaluation. It runs `nix flake metadata --json`, which locks and fetches the flake (copying
// a local one into the store) and evaluates nothing.
func (n Nix) Fingerprint(ctx context.Context, flake string) (string, error) {
	out, err := n.run(ctx, "flake metadata", flake, n.common("flake", "metadata", "--json", flake))
	if err != nil {
		return "", err
	}
	var md struct {
		Path   string          `json:"path"`
		Locked json.RawMessage `json:"locked"`
		Locks  json.RawMessage `json:"locks"`
	}
	if err := json.Unmarshal(out.Stdout, &md); err != nil || md.Path == "" || len(md.Locked) == 0 {
		return "", &Error{Op: "flake metadata", Target: flake, ExitCode: -1, Err: fmt.Errorf("no source path and lock in nix's output (%v)", err)}
	}
	h := sha256.New()
	for _, part := range [][]byte{[]byte(md.Path), md.Locked, md.Locks} {
		h.Write(part)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
