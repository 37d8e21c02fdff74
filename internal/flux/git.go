package flux

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/business-operations/bo.microvm/internal/command"
)

// git runs git in one work tree. Credentials travel as an http.extraHeader given through
// GIT_CONFIG_* environment variables: never in argv (ps shows it), never in the remote URL
// (git prints it), never in a file.
type git struct {
	run    command.Runner
	dir    string
	env    []string
	secret string // the header value, scrubbed from errors
}

func newGit(run command.Runner, dir, user, password, authorName, authorEmail string) *git {
	header := "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
	return &git{
		run:    run,
		dir:    dir,
		secret: header,
		env: []string{
			"GIT_TERMINAL_PROMPT=0",
			"GIT_CONFIG_NOSYSTEM=1",
			"GIT_CONFIG_GLOBAL=/dev/null",
			"GIT_CONFIG_COUNT=1",
			"GIT_CONFIG_KEY_0=http.extraHeader",
			"GIT_CONFIG_VALUE_0=" + header,
			"GIT_AUTHOR_NAME=" + authorName,
			"GIT_AUTHOR_EMAIL=" + authorEmail,
			"GIT_COMMITTER_NAME=" + authorName,
			"GIT_COMMITTER_EMAIL=" + authorEmail,
			"LC_ALL=C",
		},
	}
}

// Secrets returns the values that must never be shown (the header and its base64 part).
func (g *git) Secrets() []string {
	return []string{g.secret, strings.TrimPrefix(g.secret, "Authorization: Basic ")}
}

func (g *git) do(ctx context.Context, args ...string) (string, error) {
	out, err := g.run.Run(ctx, command.Cmd{Name: "git", Args: args, Dir: g.dir, Env: g.env})
	if err != nil {
		return "", fmt.Errorf("git %s: %w", args[0], err)
	}
	return strings.TrimSpace(string(out.Stdout)), nil
}

// remoteHead returns the commit of branch at url, "" when the branch (or the repository's
// whole history) does not exist yet.
func (g *git) remoteHead(ctx context.Context, url, branch string) (string, error) {
	out, err := g.do(ctx, "ls-remote", url, "refs/heads/"+branch)
	if err != nil {
		return "", err
	}
	if out == "" {
		return "", nil
	}
	return strings.Fields(out)[0], nil
}

// checkout makes g.dir a work tree of url's branch (an unborn branch when the repository is
// empty) and returns the remote head ("" for an empty repository).
func (g *git) checkout(ctx context.Context, url, branch string) (string, error) {
	if _, err := g.do(ctx, "init", "-q", "-b", branch); err != nil {
		return "", err
	}
	head, err := g.remoteHead(ctx, url, branch)
	if err != nil || head == "" {
		return head, err
	}
	if _, err := g.do(ctx, "fetch", "-q", "--depth=1", url, "refs/heads/"+branch); err != nil {
		return "", err
	}
	if _, err := g.do(ctx, "checkout", "-q", "-B", branch, "FETCH_HEAD"); err != nil {
		return "", err
	}
	return head, nil
}

// stage adds every change of the work tree and returns `git status --porcelain` lines.
func (g *git) stage(ctx context.Context) ([]string, error) {
	if _, err := g.do(ctx, "add", "-A"); err != nil {
		return nil, err
	}
	out, err := g.do(ctx, "status", "--porcelain", "--untracked-files=all")
	if err != nil || out == "" {
		return nil, err
	}
	return strings.Split(out, "\n"), nil
}

// commitAndPush commits the staged tree and pushes it to url's branch; it returns the commit.
func (g *git) commitAndPush(ctx context.Context, url, branch, message string) (string, error) {
	if _, err := g.do(ctx, "commit", "-q", "-m", message); err != nil {
		return "", err
	}
	if _, err := g.do(ctx, "push", "-q", url, "HEAD:refs/heads/"+branch); err != nil {
		return "", err
	}
	return g.do(ctx, "rev-parse", "HEAD")
}
