# ansible-lint (Debian 13's, in the lab's ansible-core 2.19 controller root), production profile.
# It prints "[ERROR]: Unable to parse documentation in python file
# 'plugins/modules/microvm_known_hosts.py': The `src` field must be an absolute path" and passes:
# it reads a Python module's EXAMPLES by a relative path, which ansible-core 2.19 refuses
# (ansible/ansible-lint#4706, open), so that file's examples go unlinted; ansible-doc reads it.
.PHONY: ansible-lint
TEST_TARGETS += ansible-lint

ansible-lint: build ## ansible-lint --profile production on the collection (exceptions: .ansible-lint)
	tests/lab/lab caches
	tests/lab/controller 2.19 env ANSIBLE_COLLECTIONS_PATH=$(COLLECTIONS) ansible-lint --nocolor
