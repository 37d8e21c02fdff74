# internal/ansible against real ansible-core (tests/conformance), and its fuzz test.
.PHONY: conformance conformance-2.19 conformance-2.19-required fuzz
TEST_TARGETS += conformance conformance-2.19-required

# CONFORMANCE_ANSIBLE_PLAYBOOK names another ansible-playbook command (e.g. a 2.19 one).
conformance: ## internal/ansible vs ansible-core's AnsibleModule over tests/conformance's table, via ansible-playbook
	@log=$$(mktemp); CONFORMANCE=1 $(GO) test -count=1 -v -run '^TestConformance$$' ./tests/conformance >$$log 2>&1; rc=$$?; \
	grep -h '^conformance:' $$log; if [ $$rc -ne 0 ]; then cat $$log; fi; rm -f $$log; exit $$rc

# The 2.19 controller is the lab's trixie root (tests/lab/lab caches builds it). Without it
# this says so and passes, unless CONFORMANCE_REQUIRE_219=1. make test builds it first and
# requires it (CI must not skip 2.19 silently).
conformance-2.19-required:
	$(REPO)/tests/lab/lab caches
	$(MAKE) --no-print-directory conformance-2.19 CONFORMANCE_REQUIRE_219=1

conformance-2.19: ## the same against ansible-core 2.19 (tests/lab/controller 2.19)
	@if ! $(REPO)/tests/lab/controller 2.19 true 2>/dev/null; then \
	  echo "conformance-2.19: no 2.19 controller (tests/lab/lab caches builds it)"; \
	  [ "$${CONFORMANCE_REQUIRE_219:-0}" != 1 ] || exit 1; exit 0; fi; \
	$(MAKE) --no-print-directory conformance CONFORMANCE_ANSIBLE_PLAYBOOK="$(REPO)/tests/lab/controller 2.19 ansible-playbook"

FUZZTIME ?= 60s
fuzz: ## fuzz internal/ansible's Execute with arbitrary args files (FUZZTIME=60s); new crashers land in testdata/fuzz
	$(GO) test -run '^$$' -fuzz '^FuzzExecute$$' -fuzztime $(FUZZTIME) ./internal/ansible
