# internal/ansible against real ansible-core (tests/conformance), and its fuzz test.
.PHONY: conformance fuzz
TEST_TARGETS += conformance

# CONFORMANCE_ANSIBLE_PLAYBOOK names another ansible-playbook command (e.g. a 2.19 one).
conformance: ## internal/ansible vs ansible-core's AnsibleModule over tests/conformance's table, via ansible-playbook
	@log=$$(mktemp); CONFORMANCE=1 $(GO) test -count=1 -v -run '^TestConformance$$' ./tests/conformance >$$log 2>&1; rc=$$?; \
	grep -h '^conformance:' $$log; if [ $$rc -ne 0 ]; then cat $$log; fi; rm -f $$log; exit $$rc

FUZZTIME ?= 60s
fuzz: ## fuzz internal/ansible's Execute with arbitrary args files (FUZZTIME=60s); new crashers land in testdata/fuzz
	$(GO) test -run '^$$' -fuzz '^FuzzExecute$$' -fuzztime $(FUZZTIME) ./internal/ansible
