package install

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/business-operations/bo.microvm/internal/sshkey"
	"github.com/business-operations/bo.microvm/internal/statedir"
	"github.com/business-operations/bo.microvm/internal/step"
)

// DefaultHostKey is where guest.nix's persistent /etc keeps the guest's SSH host key,
// relative to the VM directory: the share source "etc" (microvm-guest.persistentEtc.source)
// mounted at /persist/etc, and services.openssh.hostKeys' path ssh/ssh_host_ed25519_key
// under it (nixos/modules/microvm/guest.nix).
const DefaultHostKey = "etc/ssh/ssh_host_ed25519_key"

// HostKeyMode is the mode of the private host key (root only, as sshd requires); its .pub
// file and the directories above it are world-readable, as under /etc/ssh.
const HostKeyMode os.FileMode = 0o600

// HostKey is a VM's SSH host key as a result reports it: the public half only.
type HostKey struct {
	Path        string `json:"path"`
	PublicKey   string `json:"public_key"`  // "ssh-ed25519 AAAA...", empty in check mode before it exists
	Fingerprint string `json:"fingerprint"` // "SHA256:..."
	Created     bool   `json:"created"`
}

// validHostKeyPath checks the ssh_host_key option: a path inside the VM directory.
func validHostKeyPath(p string) error {
	if filepath.IsAbs(p) || filepath.Clean(p) != p || p == "." || strings.HasPrefix(p, "..") {
		return fmt.Errorf("ssh_host_key: %q must be a clean path relative to the VM directory, e.g. %s", p, DefaultHostKey)
	}
	for _, part := range strings.Split(p, "/") {
		if managed[part] || part == ".." {
			return fmt.Errorf("ssh_host_key: %q would be inside %s, which this module manages", p, part)
		}
	}
	return nil
}

// readHostKey reads the public half of the key at p; ok is false when there is no key.
func readHostKey(p string) (pub sshkey.Public, ok bool, err error) {
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return pub, false, nil
	}
	if err != nil {
		return pub, false, err
	}
	pub, err = sshkey.PublicOf(b)
	return pub, err == nil, err
}

func hostKeyLine(rel string, pub sshkey.Public) string {
	return fmt.Sprintf("ssh host key %s: %s %s", rel, pub.Type, pub.Fingerprint())
}

// hostKeyStep makes the VM's SSH host key when it has none: a new ed25519 key written
// atomically (mode 0600, root) with its .pub beside it, before the VM's first boot, so the
// key is known before anyone connects (microvm.nix leaves this open: microvm-nix/microvm.nix#52).
// An existing key is never replaced or rewritten: the guest's identity survives restarts,
// redeploys and a destroy that keeps the VM's data. A file that is not an OpenSSH private
// key is an error, not overwritten.
func (in *Installer) hostKeyStep(vm statedir.VM, rel string, r *VM) plannedStep {
	dir := in.Host.VMDir(vm.Name)
	p := filepath.Join(dir, rel)
	shown := filepath.Join(vm.Dir, rel)
	r.HostKey = &HostKey{Path: shown}
	return plannedStep{Step: step.Step{Title: "make the SSH host key",
		Check: func(context.Context) (bool, string, error) {
			pub, ok, err := readHostKey(p)
			if err != nil {
				return false, "", fmt.Errorf("ssh_host_key: read %s: %w (move it away to have a new key made)", shown, err)
			}
			if ok {
				r.HostKey.PublicKey, r.HostKey.Fingerprint = pub.Line(), pub.Fingerprint()
				return false, hostKeyLine(rel, pub), nil
			}
			return true, "create the SSH host key " + shown + " (ed25519)", nil
		},
		Do: func(context.Context) error {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return fmt.Errorf("create %s: %w", filepath.Dir(shown), err)
			}
			priv, pub, err := sshkey.GenerateEd25519(nil, "root@"+vm.Name)
			if err != nil {
				return err
			}
			if err := statedir.WriteFile(p, priv, HostKeyMode); err != nil {
				return err
			}
			if err := statedir.WriteFile(p+".pub", []byte(pub.Line()+" root@"+vm.Name+"\n"), 0o644); err != nil {
				return err
			}
			r.HostKey.PublicKey, r.HostKey.Fingerprint, r.HostKey.Created = pub.Line(), pub.Fingerprint(), true
			return nil
		}},
		effect: func(v view) {
			if r.HostKey.Fingerprint != "" {
				pub, _ := sshkey.ParseLine(r.HostKey.PublicKey)
				v[hostKeyKey(rel)] = hostKeyLine(rel, pub)
				return
			}
			v[hostKeyKey(rel)] = "ssh host key " + rel + ": (new ed25519 key)"
		}}
}

func hostKeyKey(rel string) string { return "k/" + rel }
