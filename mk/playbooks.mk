# The lifecycle playbooks: filter unit tests, syntax, preflight on a broken inventory (no lab needed).
.PHONY: playbooks-test
TEST_TARGETS += playbooks-test
SUITE_TAGS += playbooks

playbooks-test: build ## filters, playbook syntax, preflight refusing a broken inventory
	python3 -m unittest discover -s tests/filters -p 'test_*.py'
	$(GO) test -count=1 -tags playbooks ./tests/playbooks/
