# k8s_node (drain-aware restarts): unit tests and the module against a real kube-apiserver with
# Node, Pod and PodDisruptionBudget objects. The restart role's drain tasks run in make e2e
# (tests/e2e/drain_test.go).
.PHONY: node-test

TEST_TARGETS += node-test
SUITE_TAGS += node

node-test: ## k8s_node: drains a budget allows or forbids, kubectl drain's pod rules, readiness after a new boot, uncordon (real kube-apiserver)
	tests/k8s/build >/dev/null
	$(GO) test -count=1 -tags node ./internal/kube/ ./internal/node/ ./tests/node/
