# The action plugin's fast path (module cache on the target) through real ansible-playbook.
.PHONY: fastpath-test
TEST_TARGETS += fastpath-test
SUITE_TAGS += fastpath

fastpath-test: build ## fast path: cache hit in one round trip, tamper and refusal rules, become, parity
	tests/lab/lab caches  # the ansible-core 2.19 controller root
	$(GO) test -count=1 -tags fastpath ./tests/fastpath/
