# k0s_bootstrap: unit tests, the module against the k0s contract fake and a real kube-apiserver,
# and the fake binary the lab puts into its guests.
.PHONY: k0s-test k0s-fake

TEST_TARGETS += k0s-test
SUITE_TAGS += k0s

# kubectl: Debian 12 has no current one (kubernetes-client is 1.20), so the suites that run it
# (k0s-test, e2e) build the apiserver's version (tests/k8s/build-kubectl), first on PATH here.
KUBECTL_DIR := $(or $(BO_CACHE),/var/cache/bo-microvm)/kubectl-$(or $(K8S_VERSION),v1.35.3)
export PATH := $(KUBECTL_DIR):$(PATH)

k0s-test: build ## k0s_bootstrap: unit tests, contract-fake runs, real kube-apiserver and ansible-playbook runs (root)
	tests/k8s/build >/dev/null
	tests/k8s/build-kubectl >/dev/null
	$(GO) test -count=1 -tags k0s ./internal/k0s/ ./tests/k0sfake/ ./tests/k0s/

k0s-fake: build/k0s-fake/k0s ## the k0s contract fake (static) for the lab's guest image

build/k0s-fake/k0s: FORCE
	mkdir -p $(dir $@) && $(GOBUILD) -o $@ ./tests/k0sfake

# The e2e test of bootstrap-existing-machines.yaml pushes the fake into the lab's guests and
# talks to a real kube-apiserver: make e2e builds both first.
.PHONY: k0s-e2e-deps
k0s-e2e-deps: k0s-fake
	tests/k8s/build >/dev/null
	tests/k8s/build-kubectl >/dev/null
e2e: k0s-e2e-deps
