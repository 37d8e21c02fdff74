// Package hostnix holds the settings every run of this machine's own nix gets (tests and make
// targets; the lab's hypervisors have their own /etc/nix/nix.conf). Debian's nix-bin 2.8 ships
// no /etc/nix/nix.conf, and its built-in defaults (build-users-group = nixbld, sandbox = true,
// substituters = https://cache.nixos.org/) fail as root on a machine without a nixbld group and
// try the network: the project passes nix.conf through NIX_CONFIG instead of depending on
// whatever a person configured. The Makefile reads the same file.
package hostnix

import (
	_ "embed"
	"strings"
)

//go:embed nix.conf
var config string

// Config is the nix.conf text, for NIX_CONFIG.
func Config() string { return strings.TrimSpace(config) }

// Env is NIX_CONFIG=Config(), to append to a command's environment.
func Env() string { return "NIX_CONFIG=" + Config() }
