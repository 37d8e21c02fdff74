// Package nix checks what bo.microvm ships for Nix and AWX without nixpkgs,
// NixOS or AWX: every .nix file parses, the NixOS modules keep their contract
// (tests/nix/contract.nix, evaluated against a fake lib), the example site agrees
// with the example inventories, the collection's vendor hash is current, and the
// execution environment and job templates are well formed.
//
// The tests carry the build tag nixtest, so `go test ./...` leaves them out on
// machines without Nix. Run them with `make nix-test`
// (go test -tags nixtest ./tests/nix/); they need nix-instantiate (Debian's
// nix-bin) and Go's module cache, and no network.
package nix
