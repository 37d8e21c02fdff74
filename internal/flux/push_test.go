package flux

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/business-operations/bo.microvm/internal/command"
	"github.com/business-operations/bo.microvm/tests/need"
)

// racingGit runs real git, but just before the module's first push it lets someone else push
// a commit to the same branch, so that push is rejected as non-fast-forward.
type racingGit struct {
	t      *testing.T
	remote string
	raced  bool
	pushes int
}

func (r *racingGit) Run(ctx context.Context, c command.Cmd) (command.Output, error) {
	if len(c.Args) > 0 && c.Args[0] == "push" {
		r.pushes++
		if !r.raced {
			r.raced = true
			other := r.t.TempDir()
			gitOK(r.t, "", "clone", "-q", r.remote, other)
			require.NoError(r.t, os.WriteFile(filepath.Join(other, "other.txt"), []byte("someone else\n"), 0o644))
			gitOK(r.t, other, "add", "-A")
			gitOK(r.t, other, "-c", "user.name=o", "-c", "user.email=o@o", "commit", "-q", "-m", "other")
			gitOK(r.t, other, "push", "-q", "origin", "HEAD:refs/heads/main")
		}
	}
	return command.Exec{}.Run(ctx, c)
}

func gitOK(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "git %v: %s", args, out)
	return strings.TrimSpace(string(out))
}

func TestPushRejectedAsNonFastForwardStartsOverFromTheNewHeadOnce(t *testing.T) {
	need.Command(t, "git", "installed by .ci/deps")
	remote := filepath.Join(t.TempDir(), "lab.git")
	gitOK(t, "", "init", "-q", "--bare", "-b", "main", remote)
	seed := t.TempDir()
	gitOK(t, "", "clone", "-q", remote, seed)
	require.NoError(t, os.WriteFile(filepath.Join(seed, "seed.txt"), []byte("seed\n"), 0o644))
	gitOK(t, seed, "add", "-A")
	gitOK(t, seed, "-c", "user.name=s", "-c", "user.email=s@s", "commit", "-q", "-m", "seed")
	gitOK(t, seed, "push", "-q", "origin", "HEAD:refs/heads/main")

	siteDir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(siteDir, "clusters/lab"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(siteDir, "clusters/lab/a.yaml"), []byte("a: 1\n"), 0o644))
	gitOK(t, siteDir, "init", "-q")
	gitOK(t, siteDir, "add", "-A")
	gitOK(t, siteDir, "-c", "user.name=s", "-c", "user.email=s@s", "commit", "-q", "-m", "site")
	race := &racingGit{t: t, remote: remote}
	o := validOptions()
	o.SiteDir = siteDir
	k := testKickoff(t, o)
	k.o.Git = race
	k.giteaBase = "file://" + filepath.Dir(remote) // pushURL() = giteaBase/ORG/REPO.git
	require.NoError(t, os.MkdirAll(filepath.Join(filepath.Dir(remote), "flux"), 0o755))
	require.NoError(t, os.Rename(remote, filepath.Join(filepath.Dir(remote), "flux", "lab.git")))
	race.remote = filepath.Join(filepath.Dir(remote), "flux", "lab.git")
	k.token = "unused-for-file-urls"
	k.components = []byte("components\n")
	defer os.RemoveAll(k.worktree)

	needed, _, err := k.checkContent(context.Background())
	require.NoError(t, err)
	require.True(t, needed)
	require.NoError(t, k.pushContent(context.Background()))
	assert.Equal(t, 2, race.pushes, "one rejected push, one after starting over")

	head := gitOK(t, "", "--git-dir", race.remote, "rev-parse", "refs/heads/main")
	assert.Equal(t, head, k.result.Commit)
	files := gitOK(t, "", "--git-dir", race.remote, "ls-tree", "-r", "--name-only", "main")
	assert.Equal(t, strings.Join([]string{"clusters/lab/a.yaml", "clusters/lab/flux-system/gotk-components.yaml",
		"clusters/lab/flux-system/gotk-sync.yaml", "clusters/lab/flux-system/kustomization.yaml"}, "\n"), files,
		"the tree is the wanted one: the other pusher's file is replaced, not merged")
	parents := gitOK(t, "", "--git-dir", race.remote, "log", "--format=%s", "main")
	assert.Equal(t, "Update clusters/lab and Flux v2.9.5 manifests\nother\nseed", parents, "the other commit is kept in history")
}
