# k0s_bootstrap: unit tests, the module against the k0s contract fake and a real kube-apiserver,
# and the fake binary the lab puts into its guests.
.PHONY: k0s-test k0s-fake

TEST_TARGETS += k0s-test
SUITE_TAGS += k0s

k0s-test: build ## k0s_bootstrap: unit tests, contract-fake runs, real kube-apiserver and ansible-playbook runs (root)
	tests/k8s/build >/dev/null
	$(GO) test -count=1 -tags k0s ./internal/k0s/ ./tests/k0sfake/ ./tests/k0s/

k0s-fake: build/k0s-fake/k0s ## the k0s contract fake (static) for the lab's guest image

build/k0s-fake/k0s: FORCE
	mkdir -p $(dir $@) && $(GOBUILD) -o $@ ./tests/k0sfake

# The e2e test of bootstrap-existing-machines.yaml pushes the fake into the lab's guests and
# talks to a real kube-apiserver: make e2e builds both first.
.PHONY: k0s-e2e-deps
k0s-e2e-deps: k0s-fake
	tests/k8s/build >/dev/null
e2e: k0s-e2e-deps
