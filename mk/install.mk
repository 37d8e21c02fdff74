# microvm_install against this machine's real nix (Debian's nix-bin 2.8): builds runners of
# the lab's site flake into a temp state dir; nix's store and automatic GC roots are the host's.
.PHONY: install-nix-test
SUITE_TAGS += installnix

TEST_TARGETS += install-nix-test

install-nix-test: ## microvm_install's domain logic with the real nix (builds into a temp state dir)
	$(GO) test -count=1 -tags installnix -run TestWithTheRealNix ./internal/install/
