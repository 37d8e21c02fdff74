# internal/ansible against real ansible-core (tests/conformance), and its fuzz test.
.PHONY: conformance conformance-2.19 fuzz
TEST_TARGETS += conformance conformance-2.19
SUITE_TAGS += conformance

# CONFORMANCE_ANSIBLE_PLAYBOOK names another ansible-playbook command (e.g. a 2.19 one).
conformance: ## internal/ansible vs ansible-core's AnsibleModule over tests/conformance's table, via ansible-playbook
	@log=$$(mktemp); $(GO) test -count=1 -tags conformance -v -run '^TestConformance$$' ./tests/conformance >$$log 2>&1; rc=$$?; \
	grep -h '^conformance:' $$log; if [ $$rc -ne 0 ]; then cat $$log; fi; rm -f $$log; exit $$rc

# The 2.19 controller is the lab's trixie root: tests/lab/lab caches builds (or reuses) it first,
# and a missing controller is a failure, as for every suite.
conformance-2.19: ## the same against ansible-core 2.19 (tests/lab/controller 2.19)
	$(REPO)/tests/lab/lab caches
	@$(REPO)/tests/lab/controller 2.19 true || { echo "conformance-2.19: no ansible-core 2.19 controller (tests/lab/lab caches builds it)" >&2; exit 1; }
	@$(MAKE) --no-print-directory conformance CONFORMANCE_ANSIBLE_PLAYBOOK="$(REPO)/tests/lab/controller 2.19 ansible-playbook"

FUZZTIME ?= 60s
fuzz: ## fuzz internal/ansible's Execute with arbitrary args files (FUZZTIME=60s); new crashers land in testdata/fuzz
	$(GO) test -run '^$$' -fuzz '^FuzzExecute$$' -fuzztime $(FUZZTIME) ./internal/ansible
