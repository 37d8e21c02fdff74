# The galaxy tarball: built, installed with ansible-galaxy, modules run from the install.
.PHONY: collection-test
TEST_TARGETS += collection-test
SUITE_TAGS += collection

collection-test: collection ## the tarball installs, runs and documents its modules
	$(GO) test -count=1 -tags collection ./tests/collection/
