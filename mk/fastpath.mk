# The action plugin's fast path (module cache on the target) through real ansible-playbook:
# on this machine (local connection) and, for fast/plain parity of every module over SSH, on
# the lab's hv1. Like e2e: lab up, the tests, lab down and clean-check whatever happened (with
# the BO_LAB_* variables of tests/lab/README.md, a private lab).
.PHONY: fastpath-test
TEST_TARGETS += fastpath-test
LAB_SUITES += fastpath-test
SUITE_TAGS += fastpath

fastpath-test: build ## fast path: one round trip, check-then-exec and ancestor attacks, tamper, become, parity per module (lab)
	@$(LAB) down >/dev/null 2>&1 || true
	$(LAB) up
	@rc=0; $(GO) test -count=1 -tags fastpath -timeout 30m ./tests/fastpath/ || rc=$$?; \
	$(LAB) down; $(LAB) clean-check || rc=1; exit $$rc
