// Package e2e holds the end-to-end tests of bo.microvm and their harness.
//
// Everything else in this package builds only with the e2e build tag and runs
// against the lab (tests/lab): local hypervisors with real systemd, nix, SSH
// and qemu guests. See README.md in this directory: `make e2e` brings the lab
// up, runs `go test -tags e2e ./tests/e2e/`, and takes the lab down.
package e2e
