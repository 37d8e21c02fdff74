# The AWX job templates through ansible-runner against a lab of its own (tests/e2e/awx*.go,
# build tags e2e and awx): every job template as AWX lays out a job (k0s against the k0s contract
# fake; flux kickoff runs in make flux-test, tests/flux/awx_test.go), a two-slice job.
# Its lab is a private one (tests/lab/README.md "A private second lab": its own namespaces ahv1,
# ahv2, bridge, 198.19.2.0/24, run and host directories; up from the cached roots takes seconds),
# so awx-test is not in LAB_SUITES: make test runs it at the end of the second lane, beside the
# e2e lane, instead of before e2e in the first one (a fresh make test on 2 cores took 67 min with
# it there, 10 of them awx-test, while the second lane had finished 27 min before the first).
# The lab is taken down and checked clean whatever the result.
AWX_TIMEOUT ?= 45m
AWX_LAB := BO_LAB_PREFIX=a BO_LAB_NET=198.19.2 BO_LAB_BRIDGE=bolaba BO_LAB_RUN=/run/bo-lab-a BO_LAB_HOSTS=/var/lib/bo-lab-a

.PHONY: awx-test

TEST_TARGETS += awx-test
OWN_LAB_SUITES += awx-test
SUITE_TAGS += awx

awx-test: build k0s-fake ## the AWX job templates through ansible-runner on a private lab (lab up, test, down, clean-check)
	@$(AWX_LAB) tests/lab/lab down >/dev/null 2>&1 || true
	$(AWX_LAB) tests/lab/lab up
	@rc=0; $(AWX_LAB) $(GO) test -tags e2e,awx -count=1 -v -timeout $(AWX_TIMEOUT) -run 'TestAWX' ./tests/e2e/ || rc=$$?; \
	$(AWX_LAB) tests/lab/lab down; $(AWX_LAB) tests/lab/lab clean-check || rc=1; exit $$rc
