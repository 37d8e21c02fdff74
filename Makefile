# bo.microvm — build, test and demo. `make help` lists the targets.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
GO ?= go
REPO := $(abspath .)
ARCHES := amd64 arm64
MODULES := $(notdir $(patsubst %/main.go,%,$(wildcard modules/*/main.go)))
# nethttpomithttp2 (Go's tag, net/http/omithttp2.go): net/http without its bundled HTTP/2, 0.36 MB
# less per binary. What used it: internal/kube's client (a clone of DefaultTransport, which has
# ForceAttemptHTTP2) negotiated h2 with kube-apiserver, and gitea's over https would have; each
# module makes a few requests on one connection, so multiplexing buys nothing, and with the tag
# http.Transport simply offers HTTP/1.1 (transport.go onceSetNextProtoDefaults: "if
# omitBundledHTTP2 { return }"), which kube-apiserver and Gitea serve. Port-forward already asks
# for HTTP/1.1 (internal/kube/portforward.go: an upgrade needs it).
GOTAGS := nethttpomithttp2
# No inlining except in the runtime and crypto (-gcflags: the last matching pattern wins, `go help
# build`): the amd64 binary is 8.6 MB instead of 9.2 and its zstd -6 stream, which a first task
# on a new host sends, 3.14 MB instead of 3.51 (about 9 ms less through ssh -C here). What the
# modules do outside those two is a few JSON/YAML documents and syscalls: microvm_info run on hv1
# took 5.23 and 5.11 ms against 5.01 and 5.13 with inlining everywhere (two runs, median of 40
# each, interleaved, same output); the runtime (GC, maps, scheduling) and crypto (TLS to
# kube-apiserver) keep their inlining.
GCFLAGS := -gcflags=all=-l -gcflags=runtime= -gcflags=crypto/...=
GOBUILD := CGO_ENABLED=0 $(GO) build -trimpath -tags '$(GOTAGS)' $(GCFLAGS) -ldflags '-s -w'
COLLECTIONS := $(REPO)/build/collections
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
VERSION := $(shell sed -n 's/^version: *//p' galaxy.yml)

.PHONY: all help build binaries docs docs-check collection test unit lint import-graph demo deps bench clean

all: build

help: ## list the targets
	@grep -hE '^[a-z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | sort

deps: ## install what builds and tests need on a Debian 12 machine (root)
	bash .ci/deps

# make test builds once, then runs its lanes with BO_BUILT=1 (mk/suites): there build is a no-op,
# so no suite rewrites the binaries or the generated files while a suite beside it runs them.
ifeq ($(BO_BUILT),1)
build: ## module binaries for every arch, docs, the collections path
else
build: binaries docs $(COLLECTIONS)/ansible_collections/bo/microvm ## module binaries for every arch, docs, the collections path
endif

# One multi-call binary per architecture holds every module (modules/main.go, internal/multicall),
# in plugins/modules/.bin/ with its sha256 beside it (the fast path's cache key, so nothing is
# hashed per task on the controller), and one link per module, plugins/modules/NAME_linux_ARCH,
# which ansible-core's plain path runs and so passes "bo.microvm.NAME_linux_ARCH" as
# _ansible_module_name. The binary sits in a dot directory because ansible-doc -l lists every
# file of plugins/modules that is not a link, a dot file or a doc file (ansible/ansible c9ac477e,
# lib/ansible/plugins/list.py _list_plugins_from_paths), and warned about the binary's
# "documentation formatting error"; the links it skips as aliases.
BINARY := bo_microvm
BINDIR := plugins/modules/.bin
binaries: $(foreach a,$(ARCHES),$(BINDIR)/$(BINARY)_linux_$(a))

$(BINDIR)/$(BINARY)_linux_%: FORCE
	@mkdir -p $(BINDIR)
	GOARCH=$* $(GOBUILD) -o $@ ./modules
	@sha256sum $@ | sed 's, .*/,  ,' > $@.sha256
	@rm -f plugins/modules/*_linux_$* plugins/modules/.$(BINARY)_linux_$*.sha256; \
	for m in $(MODULES); do ln -s .bin/$(BINARY)_linux_$* plugins/modules/$${m}_linux_$*; done

FORCE:

# The sidecar docs, the same-name action plugin and the placeholder that makes the module name
# resolve are all generated from modules/<name>; `make docs-check` fails when they are stale.
docs: binaries ## regenerate plugins/modules/<name>.yml, plugins/action/<name>.py, plugins/modules/<name>
	@for m in $(MODULES); do \
	  ./$(BINDIR)/$(BINARY)_linux_$$($(GO) env GOARCH) --ansible-doc $$m > plugins/modules/$$m.yml.tmp && mv plugins/modules/$$m.yml.tmp plugins/modules/$$m.yml; \
	  sed "s/@NAME@/$$m/g" mk/templates/action.py > plugins/action/$$m.py; \
	  sed "s/@NAME@/$$m/g" mk/templates/placeholder.sh > plugins/modules/$$m; chmod 0755 plugins/modules/$$m; \
	done

docs-check: docs ## fail when committed generated files differ from what the specs render
	@git diff --exit-code --stat -- plugins/ || { echo "generated files are stale: run make docs and commit" >&2; exit 1; }
	@test -z "$$(git status --porcelain --untracked-files=all -- plugins/ | grep -v '_linux_')" || { git status --short -- plugins/; echo "generated files are not committed: run make docs and commit" >&2; exit 1; }

$(COLLECTIONS)/ansible_collections/bo/microvm:
	mkdir -p $(dir $@) && ln -sfn $(REPO) $@

collection: build ## the galaxy tarball build/bo-microvm-VERSION.tar.gz
	mkdir -p build && rm -f build/bo-microvm-*.tar.gz && ansible-galaxy collection build --force --output-path build .

# Each mk/*.mk adds its suites to TEST_TARGETS (e.g. TEST_TARGETS += nix-test) and, when the
# suite's Go tests are behind a build tag, the tag to SUITE_TAGS (e.g. SUITE_TAGS += nixtest):
# the one test gate (README, Tests). lint vets every tagged file. A suite that uses the shared
# lab also goes into LAB_SUITES: those run one after another in one lane, every other suite in a
# second lane beside it (mk/suites --side-by-side). lab-caches runs before both (the 2.19
# controller root it builds is used by suites of both lanes).
TEST_TARGETS :=
SUITE_TAGS :=
LAB_SUITES :=

test: ## all set-up, then everything CI runs: lint, generated files, unit tests, every suite in mk/*.mk
	bash .ci/deps
	@bash mk/suites lint docs-check unit build lab-caches --side-by-side \
	  "$(filter $(LAB_SUITES),$(TEST_TARGETS))" "$(filter-out lab-caches $(LAB_SUITES),$(TEST_TARGETS))"

unit: ## Go unit tests
	$(GO) test ./...

# One vet with every suite's tag covers the untagged files too (no file says //go:build !tag).
lint: ## go vet (every suite's build tag too) and gofmt
	$(GO) vet -tags "$$(echo $(SUITE_TAGS) | tr ' ' ,)" ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }

# The graph as docs/architecture.md shows it: each product package and the project packages
# it imports (non-test files), then the layers check that `make unit` runs too.
import-graph: ## the import graph of internal/, modules/ and files/ (project packages only), then the layers check
	@$(GO) list -f '{{.ImportPath}}: {{join .Imports " "}}' ./internal/... ./modules/... ./files/... | \
		sed 's#github.com/business-operations/bo.microvm/##g' | \
		awk '{o=$$1; for (i=2; i<=NF; i++) if ($$i ~ /^(internal|modules|files)\//) o=o" "$$i; print o}'
	@$(GO) test -count=1 -run '^TestTheImportGraphKeepsTheLayers$$' ./modules

clean:
	rm -rf build $(BINDIR) plugins/modules/*_linux_* plugins/modules/.$(BINARY)_linux_*.sha256

-include mk/*.mk
