# flux_kickoff: the pinned Flux manifests, and its suite against a real kube-apiserver, a real
# Gitea and the real source- and kustomize-controller (all built from the Go module proxy once
# and cached in $BO_CACHE (default /var/cache/bo-microvm), keyed by version: kube-apiserver ~10 min, Gitea ~7 min,
# source-controller ~4 min, kustomize-controller ~2 min, sops ~1 min on 2 idle cores, built
# one after the other).
.PHONY: flux-manifests flux-binaries flux-test

flux-manifests: ## regenerate files/flux/<version>/gotk-components.yaml from the Go module proxy (needs kubectl)
	files/flux/generate

# The build logs go beside the binaries, in the cache the build scripts use (BO_CACHE).
FLUX_LOGS := $(or $(BO_CACHE),/var/cache/bo-microvm)/logs

flux-binaries: ## build the kube-apiserver, Gitea, source-/kustomize-controller and sops the flux suite runs (cached; logs in $BO_CACHE/logs)
	@mkdir -p $(FLUX_LOGS)
	tests/k8s/build > $(FLUX_LOGS)/kube-apiserver-build.log 2>&1 || { tail -20 $(FLUX_LOGS)/kube-apiserver-build.log; exit 1; }
	tests/gitea/build > $(FLUX_LOGS)/gitea-build.log 2>&1 || { tail -20 $(FLUX_LOGS)/gitea-build.log; exit 1; }
	tests/flux/build > $(FLUX_LOGS)/flux-controllers-build.log 2>&1 || { tail -20 $(FLUX_LOGS)/flux-controllers-build.log; exit 1; }

flux-test: build flux-binaries ## flux_kickoff against a real kube-apiserver and Gitea: module binary, then ansible-playbook
	$(GO) test -count=1 -tags flux -timeout 30m ./internal/kube/ ./internal/gitea/ ./internal/flux/ ./tests/flux/

TEST_TARGETS += flux-test
SUITE_TAGS += flux
