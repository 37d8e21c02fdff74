# make fresh-check: .ci/deps and the suites that need no lab, in a pristine Debian 12 root
# (tests/fresh/check): what a fresh machine sees, with empty Go caches.
.PHONY: fresh-check
TEST_TARGETS += fresh-check

fresh-check: ## .ci/deps, lint, docs-check, unit, conformance, nix and playbook suites in a pristine Debian 12 root (root)
	tests/fresh/check
