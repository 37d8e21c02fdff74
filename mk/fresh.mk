# make fresh-check: .ci/deps and the suites that need no lab, in a pristine Debian 12 root
# (tests/fresh/check): what a fresh machine sees, with empty Go caches.
.PHONY: fresh-check
# (joins TEST_TARGETS once it has passed here)

fresh-check: ## .ci/deps, lint, docs-check, unit, conformance, nix and playbook suites in a pristine Debian 12 root (root)
	tests/fresh/check
