package multicall_test

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/business-operations/bo.microvm/internal/ansible"
	"github.com/business-operations/bo.microvm/internal/multicall"
	_ "github.com/business-operations/bo.microvm/modules/flux_kickoff"
	_ "github.com/business-operations/bo.microvm/modules/k0s_bootstrap"
	_ "github.com/business-operations/bo.microvm/modules/k8s_node"
	_ "github.com/business-operations/bo.microvm/modules/microvm_info"
	_ "github.com/business-operations/bo.microvm/modules/microvm_install"
	_ "github.com/business-operations/bo.microvm/modules/microvm_service"
	_ "github.com/business-operations/bo.microvm/modules/microvm_volume"
	_ "github.com/business-operations/bo.microvm/modules/ping"
)

func repo() string { r, _ := filepath.Abs("../.."); return r }

// The test imports the module packages itself (modules/main.go is package main); this keeps
// its list and modules/main.go's in step with the directories.
func TestEveryModuleDirectoryIsRegisteredOnceInTheBinary(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join(repo(), "modules", "*", "main.go"))
	require.NoError(t, err)
	var names []string
	for _, d := range dirs {
		names = append(names, filepath.Base(filepath.Dir(d)))
	}
	assert.Equal(t, names, multicall.Names(), "modules/<name>/ registers the module <name>")
	main, err := os.ReadFile(filepath.Join(repo(), "modules", "main.go"))
	require.NoError(t, err)
	for _, n := range names {
		assert.Contains(t, string(main), `_ "github.com/business-operations/bo.microvm/modules/`+n+`"`, "modules/main.go imports %s", n)
	}
}

func TestModuleMainsAreThin(t *testing.T) {
	for _, n := range multicall.Names() {
		b, err := os.ReadFile(filepath.Join(repo(), "modules", n, "main.go"))
		require.NoError(t, err)
		lines := bytes.Count(b, []byte("\n"))
		assert.LessOrEqual(t, lines, 80, "modules/%s/main.go is %d lines: its prose goes to doc.yml, its logic to its package", n, lines)
		for i, l := range strings.Split(string(b), "\n") {
			assert.LessOrEqual(t, len(l), 160, "modules/%s/main.go:%d is %d characters", n, i+1, len(l))
		}
	}
}

// ansible-core 2.14's ansible-doc renders I() B() M() U() L() C() and prints the newer
// markup (2.15+: O() V() RV() E() P()) raw.
var newMarkup = regexp.MustCompile(`(^|[^A-Za-z0-9_])(O|V|RV|E|P)\(`)

func TestRenderedDocsUseOnlyMarkupAnsibleDoc214Renders(t *testing.T) {
	for _, m := range multicall.Modules() {
		var b bytes.Buffer
		require.NoError(t, ansible.WriteDoc(&b, m))
		for i, l := range strings.Split(b.String(), "\n") {
			assert.False(t, newMarkup.MatchString(l), "%s.yml:%d uses markup ansible-doc 2.14 prints raw: %s", m.Name, i+1, l)
		}
	}
	// The hand-written documentation of the controller-side actions (plugins/modules/*.py).
	docs, err := filepath.Glob(filepath.Join(repo(), "plugins", "modules", "*.py"))
	require.NoError(t, err)
	require.NotEmpty(t, docs, "microvm_known_hosts.py documents the action of that name")
	for _, p := range docs {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		for i, l := range strings.Split(string(b), "\n") {
			assert.False(t, newMarkup.MatchString(l), "%s:%d uses markup ansible-doc 2.14 prints raw: %s", filepath.Base(p), i+1, l)
		}
	}
}

func TestTheCommittedSidecarDocsAreWhatTheBinaryRenders(t *testing.T) {
	for _, m := range multicall.Modules() {
		var b bytes.Buffer
		require.NoError(t, ansible.WriteDoc(&b, m))
		want, err := os.ReadFile(filepath.Join(repo(), "plugins", "modules", m.Name+".yml"))
		require.NoError(t, err)
		assert.Equal(t, string(want), b.String(), "plugins/modules/%s.yml is stale: run make docs", m.Name)
	}
}

func TestLookupTakesEveryNameAnsibleCorePasses(t *testing.T) {
	for _, name := range []string{"bo.microvm.ping", "bo.microvm.ping_linux_amd64", "ping_linux_arm64", "ping",
		"/root/.ansible/tmp/ansible-tmp-1/AnsiballZ_ping_linux_amd64"} {
		m, ok := multicall.Lookup(name)
		assert.True(t, ok, name)
		assert.Equal(t, "ping", m.Name, name)
	}
	_, ok := multicall.Lookup("bo.microvm.nope")
	assert.False(t, ok)
}
