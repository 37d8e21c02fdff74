package flux

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/business-operations/bo.microvm/internal/command"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func validOptions() Options {
	return Options{Kubeconfig: "/k", GiteaURL: "http://127.0.0.1:3000/", Repo: "lab", SiteDir: "/srv/site", ClusterPath: "./clusters/lab/"}
}

func TestOptionsValidation(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*Options)
		wantErr string
	}{
		{name: "valid options get their defaults", change: func(*Options) {}},
		{name: "a cluster path outside the repository is refused", change: func(o *Options) { o.ClusterPath = "../x" }, wantErr: `cluster_path "../x" must be a relative path`},
		{name: "an absolute cluster path is refused", change: func(o *Options) { o.ClusterPath = "/clusters/x" }, wantErr: "must be a relative path"},
		{name: "a pushed path outside the repository is refused", change: func(o *Options) { o.Paths = []string{"clusters/lab", "../../etc"} }, wantErr: `paths "../../etc"`},
		{name: "a gitea_url without scheme is refused", change: func(o *Options) { o.GiteaURL = "127.0.0.1:3000" }, wantErr: "must start with http:// or https://"},
		{name: "an invalid namespace is refused", change: func(o *Options) { o.GiteaNamespace = "Gitea_NS" }, wantErr: `gitea_namespace "Gitea_NS" is not a valid Kubernetes name`},
		{name: "a repository name with a slash is refused", change: func(o *Options) { o.Repo = "a/b" }, wantErr: "must be Gitea names"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := validOptions()
			tt.change(&o)
			got, err := o.withDefaults()
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "clusters/lab", got.ClusterPath)
			assert.Equal(t, []string{"clusters/lab"}, got.Paths)
			assert.Equal(t, "http://127.0.0.1:3000", got.GiteaURL)
			assert.Equal(t, "https://gitea-http.gitea.svc.cluster.local:3000", got.GiteaInClusterURL)
		})
	}
}

func testKickoff(t *testing.T, o Options) *kickoff {
	o, err := o.withDefaults()
	require.NoError(t, err)
	return &kickoff{o: o, result: &Result{}}
}

// golden compares got with testdata/name, rewriting it with -update.
func golden(t *testing.T, name string, got []byte) {
	p := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(p, got, 0o644))
	}
	want, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got))
}

func TestRenderedRepositoryFiles(t *testing.T) {
	o := validOptions()
	o.AgeKey = "AGE-SECRET-KEY-1X"
	k := testKickoff(t, o)
	golden(t, "gotk-sync.yaml", k.gotkSyncYAML())
	k.decrypt = true
	golden(t, "kustomization-sops.yaml", k.kustomizationYAML())
	golden(t, "chart-values.yaml", marshalYAML(k.giteaValues()))
	k.decrypt = false
	assert.NotContains(t, string(k.kustomizationYAML()), "patches")
}

func TestChartValuesMergeTheUsersValuesOverTheDefaults(t *testing.T) {
	o := validOptions()
	o.GiteaChart.Values = map[string]any{"service": map[string]any{"http": map[string]any{"type": "NodePort"}}, "gitea": map[string]any{"config": map[string]any{"server": map[string]any{"DOMAIN": "git.lab"}}}}
	v := testKickoff(t, o).giteaValues()
	server := v["gitea"].(map[string]any)["config"].(map[string]any)["server"].(map[string]any)
	assert.Equal(t, "git.lab", server["DOMAIN"])
	assert.Equal(t, "https://gitea-http.gitea.svc.cluster.local:3000/", server["ROOT_URL"], "the defaults beside a user's key stay")
	assert.Equal(t, "NodePort", v["service"].(map[string]any)["http"].(map[string]any)["type"])
}

func TestSubsetEqual(t *testing.T) {
	tests := []struct {
		name       string
		want, have map[string]any
		equal      bool
	}{
		{name: "fields the server added do not count", want: map[string]any{"a": "x"}, have: map[string]any{"a": "x", "defaulted": true}, equal: true},
		{name: "numbers compare by value across int and float", want: map[string]any{"n": int64(3)}, have: map[string]any{"n": float64(3)}, equal: true},
		{name: "a changed nested value differs", want: map[string]any{"m": map[string]any{"a": "x"}}, have: map[string]any{"m": map[string]any{"a": "y"}}, equal: false},
		{name: "a missing field differs", want: map[string]any{"a": "x"}, have: map[string]any{}, equal: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.equal, subsetEqual(tt.want, tt.have))
		})
	}
}

func TestDiffKeysNamesKeysNeverValues(t *testing.T) {
	got := diffKeys(map[string]string{"a": "secret1", "gone": "x", "same": "s"}, map[string]string{"a": "secret2", "new": "n", "same": "s"})
	assert.Equal(t, []string{"a", "new", "gone (removed)"}, got)
}

func TestGitGetsCredentialsOnlyThroughTheEnvironment(t *testing.T) {
	f := &command.Fake{}
	f.Expect(command.Expect{Match: "git init -q -b main"})
	f.Expect(command.Expect{Match: "git ls-remote http://127.0.0.1:3000/flux/lab.git refs/heads/main", Stdout: "0123456789abcdef0123456789abcdef01234567\trefs/heads/main\n"})
	f.Expect(command.Expect{Match: "git fetch -q --depth=1 http://127.0.0.1:3000/flux/lab.git refs/heads/main"})
	f.Expect(command.Expect{Match: "git checkout -q -B main FETCH_HEAD"})
	g := newGit(f, t.TempDir(), "gitea_admin", "s3cr3t-token", "Flux", "flux@localhost")
	head, err := g.checkout(context.Background(), "http://127.0.0.1:3000/flux/lab.git", "main")
	require.NoError(t, err)
	assert.Equal(t, "0123456789abcdef0123456789abcdef01234567", head)
	for _, c := range f.Cmds() {
		assert.NotContains(t, strings.Join(c.Args, " "), "s3cr3t-token")
		assert.Contains(t, c.Env, "GIT_CONFIG_KEY_0=http.extraHeader")
		assert.Contains(t, c.Env, "GIT_TERMINAL_PROMPT=0")
	}
}

func TestGitReportsAnEmptyRepositoryAsNoHead(t *testing.T) {
	f := &command.Fake{}
	f.Expect(command.Expect{Match: "git init -q -b main"})
	f.Expect(command.Expect{Match: "git ls-remote http://g/flux/lab.git refs/heads/main"})
	g := newGit(f, t.TempDir(), "u", "p", "Flux", "flux@localhost")
	head, err := g.checkout(context.Background(), "http://g/flux/lab.git", "main")
	require.NoError(t, err)
	assert.Empty(t, head)
	assert.Len(t, f.Calls(), 2, "nothing is fetched from an empty repository")
}

func TestScrubRemovesEverySecretFromMessages(t *testing.T) {
	k := &kickoff{result: &Result{}}
	k.addSecret("hunter22", "tok-123456", "abc") // too short values are not scrubbed (they would mangle text)
	err := k.scrub(assert.AnError)
	assert.Equal(t, assert.AnError, err, "an error without secrets is kept as is")
	err = k.scrub(errorString("login hunter22 with tok-123456 failed abc"))
	assert.Equal(t, "login ******** with ******** failed abc", err.Error())
}

type errorString string

func (e errorString) Error() string { return string(e) }

func TestAnEmptyGiteaURLIsValid(t *testing.T) {
	o := validOptions()
	o.GiteaURL = ""
	got, err := o.withDefaults()
	require.NoError(t, err, "empty: through the API server's port-forward")
	assert.Empty(t, got.GiteaURL)
}

func TestPlainHTTPOffHost(t *testing.T) {
	for u, want := range map[string]bool{
		"http://198.18.0.101:30300":     true,
		"http://gitea.example.org":      true,
		"http://gitea.example.org/sub":  true,
		"http://127.0.0.1:3000":         false,
		"http://127.0.0.2:3000":         false,
		"http://[::1]:3000":             false,
		"http://localhost:3000/x":       false,
		"https://198.18.0.101:443":      false,
		"https://gitea.example.org/git": false,
	} {
		assert.Equal(t, want, plainHTTPOffHost(u), u)
	}
}
