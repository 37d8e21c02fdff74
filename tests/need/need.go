// Package need is the one test gate of the project's suites.
//
// A suite is a build tag: `make <target>` (and so `make test` and CI) compiles the suite's
// files with its tag, plain `go test ./...` does not compile them at all. A test that runs was
// therefore asked for, and a missing prerequisite is a failure that names it, never a skip.
// The suites, their tags and what each requires are listed in the README's Tests section.
package need

import (
	"os"
	"os/exec"
	"testing"
)

// Command returns the path of the program name on PATH, or fails the test naming it and
// where it comes from (hint, e.g. "Debian: nix-bin, installed by .ci/deps").
func Command(t testing.TB, name, hint string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("this suite needs %s (%s): %v", name, hint, err)
	}
	return p
}

// File fails the test unless path exists; hint says what makes it (e.g. "make build").
func File(t testing.TB, path, hint string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("this suite needs %s (%s): %v", path, hint, err)
	}
}

// Root fails the test unless it runs as root; why says what root is for.
func Root(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("this suite needs root: %s", why)
	}
}
