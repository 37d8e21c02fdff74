# ansible-lint (Debian 13's, in the lab's ansible-core 2.19 controller root), production profile.
.PHONY: ansible-lint
TEST_TARGETS += ansible-lint

ansible-lint: build ## ansible-lint --profile production on the collection (exceptions: .ansible-lint)
	tests/lab/lab caches
	tests/lab/controller 2.19 env ANSIBLE_COLLECTIONS_PATH=$(COLLECTIONS) ansible-lint --nocolor
