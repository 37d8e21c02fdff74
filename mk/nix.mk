# NixOS modules, flake, example site, execution environment and AWX job templates:
# offline checks with nix-instantiate (Debian's nix-bin) and Go; no nixpkgs, no network.
.PHONY: nix-test nix-vendor-hash

TEST_TARGETS += nix-test
SUITE_TAGS += nixtest

nix-test: ## Nix parse + NixOS module contract, example site vs inventories, vendor hash, EE and AWX checks
	$(GO) test -tags nixtest -count=1 ./tests/nix/

nix-vendor-hash: ## rewrite nixos/pkgs/collection.vendorhash (the flake's vendorHash) after go.mod or imports change
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	GOPROXY=off GOFLAGS= $(GO) mod vendor -o "$$tmp/vendor" && \
	NIX_CONFIG="$$(cat tests/hostnix/nix.conf)" nix hash path "$$tmp/vendor" > nixos/pkgs/collection.vendorhash && \
	echo "nixos/pkgs/collection.vendorhash: $$(cat nixos/pkgs/collection.vendorhash)"
