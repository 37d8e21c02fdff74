// The repository content: the site repository's committed content under the pushed paths at
// HEAD (what `git ls-tree`/`git archive` give: untracked and ignored files never, symlinks as
// git stores them), plus the generated CLUSTER_PATH/flux-system/, pushed to Gitea only when
// it differs from the branch there.

package flux

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/business-operations/bo.microvm/internal/command"
)

// file is one file of the repository tree, as git stores it.
type file struct {
	data    []byte
	exec    bool // mode 100755
	symlink bool // mode 120000: data is the link target
}

// siteRepo runs git in the site repository (read only, no credentials).
type siteRepo struct {
	run command.Runner
	dir string // the work tree's top level
}

func (s siteRepo) git(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	out, err := s.run.Run(ctx, command.Cmd{Name: "git", Args: args, Dir: s.dir, Stdin: stdin,
		Env: []string{"LC_ALL=C", "GIT_LITERAL_PATHSPECS=1", "GIT_TERMINAL_PROMPT=0", "GIT_OPTIONAL_LOCKS=0"}})
	if err != nil {
		return nil, fmt.Errorf("git %s in the site repository: %w", args[0], err)
	}
	return out.Stdout, nil
}

// openSite finds the git work tree holding siteDir and siteDir's path in it ("" or "sub/").
func openSite(ctx context.Context, run command.Runner, siteDir string) (siteRepo, string, error) {
	out, err := run.Run(ctx, command.Cmd{Name: "git", Args: []string{"rev-parse", "--show-toplevel", "--show-prefix"}, Dir: siteDir, Env: []string{"LC_ALL=C"}})
	if err != nil {
		return siteRepo{}, "", fmt.Errorf("site_dir %s is not in a git work tree (the pushed content is the site repository's committed content at HEAD): %w", siteDir, err)
	}
	lines := strings.Split(strings.TrimRight(string(out.Stdout), "\n"), "\n")
	prefix := ""
	if len(lines) > 1 {
		prefix = lines[1]
	}
	return siteRepo{run: run, dir: lines[0]}, prefix, nil
}

// siteTree reads the committed files under the pushed paths at HEAD (paths relative to
// site_dir), leaving out gen (the generated flux-system directory). It warns about changes
// under the pushed paths that are not committed (they are not pushed) and submodules.
func (k *kickoff) siteTree(ctx context.Context, gen string) (map[string]file, error) {
	repo, prefix, err := openSite(ctx, k.o.Git, k.o.SiteDir)
	if err != nil {
		return nil, err
	}
	if _, err := repo.git(ctx, nil, "rev-parse", "--verify", "-q", "HEAD^{commit}"); err != nil {
		return nil, fmt.Errorf("site_dir %s: the site repository has no commit yet (only committed content is pushed)", k.o.SiteDir)
	}
	specs := make([]string, len(k.o.Paths))
	for i, p := range k.o.Paths {
		specs[i] = prefix + p
	}
	out, err := repo.git(ctx, nil, append([]string{"ls-tree", "-r", "-z", "--full-tree", "HEAD", "--"}, specs...)...)
	if err != nil {
		return nil, err
	}
	type entry struct{ mode, sha, name string }
	var entries []entry
	seen := make([]bool, len(specs))
	for _, rec := range strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00") {
		meta, name, ok := strings.Cut(rec, "\t")
		f := strings.Fields(meta)
		if !ok || len(f) != 3 {
			continue
		}
		in := false
		for i, sp := range specs {
			if name == sp || strings.HasPrefix(name, sp+"/") {
				in, seen[i] = true, true
			}
		}
		rel := strings.TrimPrefix(name, prefix)
		if !in || rel == gen || strings.HasPrefix(rel, gen+"/") {
			continue
		}
		if f[1] == "commit" {
			k.warn("site repository path %s is a git submodule: it is not pushed", rel)
			continue
		}
		entries = append(entries, entry{mode: f[0], sha: f[2], name: rel})
	}
	for i, ok := range seen {
		if !ok {
			return nil, fmt.Errorf("paths: %s has no committed file at HEAD of the site repository %s", k.o.Paths[i], repo.dir)
		}
	}
	// The blobs, in one `git cat-file --batch`: "<sha> blob <size>\n<content>\n" each.
	var req bytes.Buffer
	for _, e := range entries {
		req.WriteString(e.sha + "\n")
	}
	blobs, err := repo.git(ctx, req.Bytes(), "cat-file", "--batch")
	if err != nil {
		return nil, err
	}
	tree := map[string]file{}
	for _, e := range entries {
		nl := bytes.IndexByte(blobs, '\n')
		if nl < 0 {
			return nil, fmt.Errorf("git cat-file: short answer for %s", e.name)
		}
		head := strings.Fields(string(blobs[:nl]))
		if len(head) != 3 || head[0] != e.sha {
			return nil, fmt.Errorf("git cat-file: unexpected answer %q for %s", blobs[:nl], e.name)
		}
		size, err := strconv.Atoi(head[2])
		if err != nil || nl+1+size > len(blobs) {
			return nil, fmt.Errorf("git cat-file: bad size in %q for %s", blobs[:nl], e.name)
		}
		data := blobs[nl+1 : nl+1+size]
		blobs = blobs[min(nl+2+size, len(blobs)):]
		tree[e.name] = file{data: data, exec: e.mode == "100755", symlink: e.mode == "120000"}
	}
	k.warnUncommitted(ctx, repo, prefix, specs)
	return tree, nil
}

// warnUncommitted names the changes under the pushed paths that HEAD does not hold: they are
// not pushed (the push is the committed content), which a user who just edited a file should
// hear. Ignored files are not named: they are never pushed.
func (k *kickoff) warnUncommitted(ctx context.Context, repo siteRepo, prefix string, specs []string) {
	out, err := repo.git(ctx, nil, append([]string{"status", "--porcelain=v1", "-z", "--untracked-files=all", "--"}, specs...)...)
	if err != nil {
		k.warn("cannot list uncommitted changes of the site repository: %v", err)
		return
	}
	var names []string
	recs := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	for i := 0; i < len(recs); i++ {
		r := recs[i]
		if len(r) < 4 {
			continue
		}
		xy, name := r[:2], strings.TrimPrefix(r[3:], prefix)
		what := "modified"
		switch {
		case xy == "??":
			what = "untracked"
		case strings.ContainsAny(xy, "D"):
			what = "deleted"
		case strings.ContainsAny(xy, "RC"):
			what = "renamed"
			i++ // the next record is the rename's source
		case strings.ContainsAny(xy, "A"):
			what = "added, not committed"
		}
		names = append(names, name+" ("+what+")")
	}
	if len(names) > 0 {
		k.warn("site repository changes under paths are not committed, so not pushed (the push is HEAD's committed content): %s", strings.Join(names, ", "))
	}
}

// desiredTree is the repository content: the committed files under the site repository's
// pushed paths plus the generated CLUSTER_PATH/flux-system/ directory, which replaces whatever
// the site repository has there (it is generated, as flux bootstrap owns it).
func (k *kickoff) desiredTree(ctx context.Context) (map[string]file, error) {
	gen := path.Join(k.o.ClusterPath, "flux-system")
	tree, err := k.siteTree(ctx, gen)
	if err != nil {
		return nil, err
	}
	tree[gen+"/gotk-components.yaml"] = file{data: k.components}
	tree[gen+"/gotk-sync.yaml"] = file{data: k.gotkSyncYAML()}
	tree[gen+"/kustomization.yaml"] = file{data: k.kustomizationYAML()}
	return tree, nil
}

// writeTree makes dir (a git work tree) hold exactly tree.
func writeTree(dir string, tree map[string]file) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() == ".git" {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	names := make([]string, 0, len(tree))
	for n := range tree {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if strings.HasPrefix(n, ".git/") || n == ".git" {
			continue
		}
		fp := filepath.Join(dir, filepath.FromSlash(n))
		if err := os.MkdirAll(filepath.Dir(fp), 0o700); err != nil {
			return err
		}
		f := tree[n]
		if f.symlink {
			if err := os.Symlink(string(f.data), fp); err != nil {
				return err
			}
			continue
		}
		mode := os.FileMode(0o600)
		if f.exec {
			mode = 0o700
		}
		if err := os.WriteFile(fp, f.data, mode); err != nil {
			return err
		}
	}
	return nil
}

// --- Repository content: the wanted tree, committed and pushed only when it differs.

func (k *kickoff) pushURL() string { return cloneURL(k.giteaBase, k.o.Org, k.o.Repo) }

func (k *kickoff) checkContent(ctx context.Context) (bool, string, error) {
	if k.token == "" {
		return false, "", fmt.Errorf("no valid Gitea API token")
	}
	tree, err := k.desiredTree(ctx)
	if err != nil {
		return false, "", err
	}
	if k.worktree != "" {
		os.RemoveAll(k.worktree)
	}
	if k.worktree, err = os.MkdirTemp("", "flux-kickoff-"); err != nil {
		return false, "", err
	}
	g := newGit(k.o.Git, k.worktree, k.o.GiteaAdminUser, k.token, k.o.AuthorName, k.o.AuthorEmail)
	k.addSecret(g.Secrets()...)
	head, err := g.checkout(ctx, k.pushURL(), k.o.Branch)
	if err != nil {
		return false, "", err
	}
	if err := writeTree(k.worktree, tree); err != nil {
		return false, "", err
	}
	if k.wtChanges, err = g.stage(ctx); err != nil {
		return false, "", err
	}
	k.head = head
	k.setRevision(head)
	k.contentPending = len(k.wtChanges) > 0
	if len(k.wtChanges) == 0 {
		return false, fmt.Sprintf("%s %s is at %s with the wanted content", k.o.Org+"/"+k.o.Repo, k.o.Branch, shortCommit(head)), nil
	}
	if k.o.Diff {
		k.result.Changes = append(k.result.Changes, Change{Header: "repository " + k.o.Org + "/" + k.o.Repo + " " + k.o.Branch, After: Prepared(k.wtChanges)})
	}
	if head == "" {
		return true, fmt.Sprintf("%s is empty: %d files to push", k.o.Org+"/"+k.o.Repo, len(k.wtChanges)), nil
	}
	return true, fmt.Sprintf("%d files differ from %s %s at %s", len(k.wtChanges), k.o.Org+"/"+k.o.Repo, k.o.Branch, shortCommit(head)), nil
}

func (k *kickoff) pushContent(ctx context.Context) error {
	g := newGit(k.o.Git, k.worktree, k.o.GiteaAdminUser, k.token, k.o.AuthorName, k.o.AuthorEmail)
	msg := "Update " + k.o.ClusterPath + " and Flux " + strings.TrimSpace(k.fluxVersion()) + " manifests"
	if k.head == "" {
		msg = "Add " + k.o.ClusterPath + " and Flux " + k.fluxVersion() + " manifests"
	}
	sha, err := g.commitAndPush(ctx, k.pushURL(), k.o.Branch, msg)
	if err != nil {
		// Non-fast-forward (someone pushed meanwhile): start again from the new head, once.
		if needed, _, cerr := k.checkContent(ctx); cerr != nil || !needed {
			if cerr != nil {
				return err
			}
			return nil
		}
		g = newGit(k.o.Git, k.worktree, k.o.GiteaAdminUser, k.token, k.o.AuthorName, k.o.AuthorEmail)
		if sha, err = g.commitAndPush(ctx, k.pushURL(), k.o.Branch, msg); err != nil {
			return err
		}
	}
	k.head = sha
	k.setRevision(sha)
	k.contentPending = false
	return nil
}

func (k *kickoff) fluxVersion() string {
	if k.o.FluxVersion == "" {
		return "v2.9.5"
	}
	return k.o.FluxVersion
}

func (k *kickoff) setRevision(sha string) {
	k.result.Commit = sha
	k.result.Revision = ""
	if sha != "" {
		k.result.Revision = k.o.Branch + "@sha1:" + sha
	}
}

// shortCommit is a git commit ID cut to its first 12 characters for messages, or
// "(no commit)" for a branch without one.
func shortCommit(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	if sha == "" {
		return "(no commit)"
	}
	return sha
}

// Prepared renders git status lines for diff mode (file names only, never content).
func Prepared(lines []string) string { return strings.Join(lines, "\n") + "\n" }
