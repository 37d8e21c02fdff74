package flux

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/business-operations/bo.microvm/internal/command"
)

// guardKubeconfig refuses a kubeconfig (cluster-admin credentials) that lies inside a git work
// tree which does not ignore it: one `git add -A` there would commit it. A kubeconfig outside
// any work tree (the roles' default is ~/.kube/CLUSTER.conf) or an ignored one passes.
func guardKubeconfig(ctx context.Context, run command.Runner, kubeconfig string) error {
	p, err := filepath.Abs(kubeconfig)
	if err != nil {
		return err
	}
	p, _ = filepath.EvalSymlinks(p) // a dangling path is reported by the kubeconfig read
	if p == "" {
		return nil
	}
	dir, base := filepath.Split(p)
	env := []string{"LC_ALL=C", "GIT_TERMINAL_PROMPT=0", "GIT_OPTIONAL_LOCKS=0"}
	top, err := run.Run(ctx, command.Cmd{Name: "git", Args: []string{"rev-parse", "--show-toplevel"}, Dir: dir, Env: env})
	var ce *command.Error
	if errors.As(err, &ce) {
		return nil // not in a work tree (git says so with status 128)
	}
	if err != nil {
		return fmt.Errorf("kubeconfig: cannot tell whether %s is inside a git work tree: %w", p, err)
	}
	tree := strings.TrimSpace(string(top.Stdout))
	// Tracked: committed (or staged) already.
	if _, err := run.Run(ctx, command.Cmd{Name: "git", Args: []string{"ls-files", "--error-unmatch", "--", base}, Dir: dir, Env: env}); err == nil {
		return fmt.Errorf("kubeconfig %s is tracked by the git work tree %s: it holds cluster-admin credentials; remove it from git (git rm --cached) and keep it outside the repository (default ~/.kube/CLUSTER.conf)", p, tree)
	}
	_, err = run.Run(ctx, command.Cmd{Name: "git", Args: []string{"check-ignore", "-q", "--", base}, Dir: dir, Env: env})
	if err == nil {
		return nil // ignored
	}
	if errors.As(err, &ce) && ce.ExitCode == 1 {
		return fmt.Errorf("kubeconfig %s is inside the git work tree %s and not ignored by git: one `git add -A` would commit cluster-admin credentials; keep it outside the repository (default ~/.kube/CLUSTER.conf) or add it to .gitignore", p, tree)
	}
	return fmt.Errorf("kubeconfig: git check-ignore %s: %w", p, err)
}
