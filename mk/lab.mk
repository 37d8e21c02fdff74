# The lab (tests/lab) and the end-to-end tests that run against it (tests/e2e).
LAB := tests/lab/lab
# A fresh make test's e2e took 2993 s on 2 cores (2026-12-07), 50 of the 60 minutes this was;
# 75m still fails inside CI's 90 before CI kills the run.
E2E_TIMEOUT ?= 75m
E2E_RUN ?= .
# A -skip pattern for make e2e (empty: none), e.g. E2E_SKIP='TestBootstrapNixOS$' to leave out
# the slowest systemd-guest test (tests/lab/README.md "The systemd guest" has its cost).
E2E_SKIP ?=

.PHONY: e2e lab-up lab-down lab-status lab-caches

# make test: the cached roots first (conformance-2.19 and ansible-lint need the
# 2.19 controller), the end-to-end tests among the suites.
TEST_TARGETS := lab-caches $(TEST_TARGETS) e2e
LAB_SUITES += e2e
SUITE_TAGS += e2e

lab-caches: ## build (or reuse) the lab's cached roots: hypervisor, guest, 2.19 controller
	$(LAB) caches

lab-up: ## bring the lab up: hypervisors hv1, hv2 and /run/bo-lab/inventory.yaml (idempotent)
	$(LAB) up

lab-down: ## take the lab down and check that nothing is left
	$(LAB) down
	$(LAB) clean-check

lab-status: ## what the lab runs
	$(LAB) status

# Brings the lab up from nothing, runs the e2e tests (E2E_RUN, a -run pattern:
# all by default) with the controllers in BO_CONTROLLERS (default both),
# always takes the lab down, then fails if the tests failed or anything was
# left behind. With the BO_LAB_* variables of tests/lab/README.md it uses a
# private lab.
e2e: build ## lab up, the end-to-end tests with ansible-core 2.14 and 2.19, lab down, clean-check
	@$(LAB) down >/dev/null 2>&1 || true
	$(LAB) up
	@rc=0; mkdir -p build; $(GO) test -tags e2e -count=1 -v -timeout $(E2E_TIMEOUT) -run '$(E2E_RUN)' $(if $(E2E_SKIP),-skip '$(E2E_SKIP)') ./tests/e2e/ 2>&1 | tee build/e2e.out; rc=$${PIPESTATUS[0]}; \
	if [ $$rc = 0 ] && ! grep -q '^--- PASS' build/e2e.out; then echo "e2e: no test ran for E2E_RUN='$(E2E_RUN)' (make turns \$$| into |: write \$$\$$)"; rc=1; fi; \
	$(LAB) down; $(LAB) clean-check || rc=1; exit $$rc
