# The AWX job templates through ansible-runner against a lab of its own (tests/e2e/awx*.go,
# build tags e2e and awx): every job template as AWX lays out a job (k0s against the k0s contract
# fake; flux kickoff runs in make flux-test, tests/flux/awx_test.go), a two-slice job.
# Its own lab (up from the cached roots takes seconds) keeps `make e2e` as it was and lets
# awx-test run alone; the lab is taken down and checked clean whatever the result.
AWX_TIMEOUT ?= 45m

.PHONY: awx-test

TEST_TARGETS += awx-test
LAB_SUITES += awx-test
SUITE_TAGS += awx

awx-test: build k0s-fake ## the AWX job templates through ansible-runner on the lab (lab up, test, down, clean-check)
	@tests/lab/lab down >/dev/null 2>&1 || true
	tests/lab/lab up
	@rc=0; $(GO) test -tags e2e,awx -count=1 -v -timeout $(AWX_TIMEOUT) -run 'TestAWX' ./tests/e2e/ || rc=$$?; \
	tests/lab/lab down; tests/lab/lab clean-check || rc=1; exit $$rc
