// The Gitea bootstrap: everything until the in-cluster Gitea runs, holds an API token this
// module keeps, and has the organisation and the (empty) repository. The Flux side
// (flux_install.go) and the repository content (content.go) come after it.

package flux

import (
	"context"
	"fmt"

	"github.com/business-operations/bo.microvm/internal/kube"
)

// --- Gitea admin secret: created once, never overwritten.

func (k *kickoff) adminSecretRef() kube.Ref {
	return k.ref("v1", "Secret", k.o.GiteaNamespace, k.o.GiteaAdminSecret)
}

func (k *kickoff) checkAdminSecret(ctx context.Context) (bool, string, error) {
	s, err := k.getOptional(ctx, k.adminSecretRef())
	if err != nil {
		return false, "", err
	}
	if s == nil {
		return true, fmt.Sprintf("Secret %s/%s is absent", k.o.GiteaNamespace, k.o.GiteaAdminSecret), nil
	}
	d := secretData(s)
	if d["username"] == "" || d["password"] == "" {
		return false, "", fmt.Errorf("Secret %s/%s exists without username and password; fix or delete it (it is never overwritten)", k.o.GiteaNamespace, k.o.GiteaAdminSecret)
	}
	k.adminPass = d["password"]
	k.addSecret(k.adminPass)
	if d["username"] != k.o.GiteaAdminUser {
		k.warn("Secret %s/%s names admin %q, not gitea_admin_user %q: the Secret wins", k.o.GiteaNamespace, k.o.GiteaAdminSecret, d["username"], k.o.GiteaAdminUser)
		k.o.GiteaAdminUser = d["username"]
	}
	if k.o.GiteaAdminPassword != "" && k.o.GiteaAdminPassword != k.adminPass {
		k.warn("gitea_admin_password differs from the password in Secret %s/%s, which is never overwritten: the Secret's password is used", k.o.GiteaNamespace, k.o.GiteaAdminSecret)
	}
	return false, fmt.Sprintf("Secret %s/%s exists", k.o.GiteaNamespace, k.o.GiteaAdminSecret), nil
}

func (k *kickoff) createAdminSecret(ctx context.Context) error {
	if err := k.ensureNamespace(ctx, k.o.GiteaNamespace); err != nil {
		return err
	}
	pass := k.o.GiteaAdminPassword
	if pass == "" {
		var err error
		if pass, err = randomPassword(); err != nil {
			return err
		}
		k.addSecret(pass)
	}
	_, err := k.kube.Create(ctx, secretObject(k.o.GiteaNamespace, k.o.GiteaAdminSecret, map[string]string{"username": k.o.GiteaAdminUser, "password": pass}))
	if kube.IsConflict(err) { // created meanwhile by someone else: theirs wins
		_, _, err = k.checkAdminSecret(ctx)
		return err
	}
	k.adminPass = pass
	return err
}

// --- Gitea chart (a k0s Chart object; k0s's helm controller installs it).

func (k *kickoff) chartRef() kube.Ref {
	return k.ref("helm.k0sproject.io/v1beta1", "Chart", "kube-system", k.o.GiteaRelease)
}

func (k *kickoff) checkChart(ctx context.Context) (bool, string, error) {
	have, err := k.getOptional(ctx, k.chartRef())
	if err != nil {
		return false, "", err
	}
	if have == nil {
		return true, fmt.Sprintf("Chart kube-system/%s is absent", k.o.GiteaRelease), nil
	}
	want, err := k.chartObject(ctx)
	if err != nil {
		return false, "", err
	}
	if !subsetEqual(want.Map("spec"), have.Map("spec")) {
		if k.o.Diff {
			k.result.Changes = append(k.result.Changes, Change{Header: "Chart kube-system/" + k.o.GiteaRelease, Before: string(marshalYAML(have.Map("spec"))), After: string(marshalYAML(want.Map("spec")))})
		}
		return true, fmt.Sprintf("Chart kube-system/%s differs from the wanted chart and values", k.o.GiteaRelease), nil
	}
	return false, fmt.Sprintf("Chart kube-system/%s is up to date", k.o.GiteaRelease), nil
}

func (k *kickoff) applyChart(ctx context.Context) error {
	want, err := k.chartObject(ctx)
	if err != nil {
		return err
	}
	_, err = k.kube.Apply(ctx, want, FieldManager)
	return err
}

// --- Gitea healthy: the chart's Deployment Available and /api/healthz 200 through gitea_url.

func (k *kickoff) giteaState(ctx context.Context) (bool, string, error) {
	d, err := k.getOptional(ctx, k.ref("apps/v1", "Deployment", k.o.GiteaNamespace, k.o.GiteaDeployment))
	if err != nil {
		return false, "", err
	}
	dep := fmt.Sprintf("Deployment %s/%s: %s", k.o.GiteaNamespace, k.o.GiteaDeployment, condition(d, "Available"))
	if d == nil || !isReady(d, "Available") {
		// What k0s's helm controller reports about the release says why, when it failed.
		if chart, err := k.getOptional(ctx, k.chartRef()); err == nil && chart != nil && chart.Str("status", "error") != "" {
			dep += fmt.Sprintf("; Chart kube-system/%s: error: %s", k.o.GiteaRelease, chart.Str("status", "error"))
		}
		return false, dep, nil
	}
	where := k.giteaBase + "/api/healthz"
	if k.tunnel != nil {
		where = fmt.Sprintf("/api/healthz through the API server's port-forward to Service %s/%s", k.o.GiteaNamespace, k.giteaService())
		if _, _, err := k.giteaEndpoint(ctx); err != nil {
			return false, dep + "; " + err.Error(), nil
		}
	}
	if err := k.gitea.Healthy(ctx); err != nil {
		if k.tunnel != nil && k.tunnel.err() != nil {
			err = k.tunnel.err()
		}
		msg := fmt.Sprintf("%s; %s: %v", dep, where, err)
		// A failed helm upgrade leaves the old release running (Available) with the old
		// values: k0s's error says why Gitea does not serve what this run asked for.
		if chart, cerr := k.getOptional(ctx, k.chartRef()); cerr == nil && chart != nil && chart.Str("status", "error") != "" {
			msg += fmt.Sprintf("; Chart kube-system/%s: error: %s", k.o.GiteaRelease, chart.Str("status", "error"))
		}
		return false, msg, nil
	}
	return true, dep + "; " + where + " answers 200", nil
}

func (k *kickoff) checkGiteaReady(ctx context.Context) (bool, string, error) {
	ok, msg, err := k.giteaState(ctx)
	return !ok, msg, err
}

func (k *kickoff) waitGiteaReady(ctx context.Context) error {
	return k.wait(ctx, "Gitea to be available", k.giteaState)
}

// --- API token: kept in a Secret, validated before reuse, replaced when Gitea rejects it.

func (k *kickoff) tokenSecretRef() kube.Ref {
	return k.ref("v1", "Secret", k.o.GiteaNamespace, k.o.TokenSecret)
}

func (k *kickoff) checkToken(ctx context.Context) (bool, string, error) {
	s, err := k.getOptional(ctx, k.tokenSecretRef())
	if err != nil {
		return false, "", err
	}
	name := fmt.Sprintf("Secret %s/%s", k.o.GiteaNamespace, k.o.TokenSecret)
	if s == nil || secretData(s)["token"] == "" {
		return true, name + " holds no token", nil
	}
	tok := secretData(s)["token"]
	k.addSecret(tok)
	login, err := k.gitea.User(ctx, tokenAuthOf(tok))
	if isUnauthorized(err) {
		return true, name + " holds a token Gitea rejects (" + err.Error() + ")", nil
	}
	if err != nil {
		return false, "", err
	}
	if login != k.o.GiteaAdminUser {
		return true, fmt.Sprintf("%s holds a token of user %q, not %q", name, login, k.o.GiteaAdminUser), nil
	}
	k.token = tok
	return false, name + " holds a token Gitea accepts", nil
}

// replaceToken deletes the token name (a lost token's name would make the create answer 400)
// and creates it again with scopes, returning the new token.
func (k *kickoff) replaceToken(ctx context.Context, name string, scopes []string) (string, error) {
	if k.adminPass == "" {
		return "", fmt.Errorf("the Gitea admin password is not known (Secret %s/%s)", k.o.GiteaNamespace, k.o.GiteaAdminSecret)
	}
	if err := k.gitea.DeleteToken(ctx, k.o.GiteaAdminUser, k.adminPass, name); err != nil {
		return "", err
	}
	tok, err := k.gitea.CreateToken(ctx, k.o.GiteaAdminUser, k.adminPass, name, scopes)
	if err != nil {
		return "", err
	}
	k.addSecret(tok)
	return tok, nil
}

func (k *kickoff) createToken(ctx context.Context) error {
	tok, err := k.replaceToken(ctx, k.o.TokenName, []string{"write:organization", "write:repository", "read:user"})
	if err != nil {
		return err
	}
	if _, err := k.kube.Apply(ctx, secretObject(k.o.GiteaNamespace, k.o.TokenSecret, map[string]string{"token": tok}), FieldManager); err != nil {
		return fmt.Errorf("store the new token (the token %q exists in Gitea and is replaced on the next run): %w", k.o.TokenName, err)
	}
	k.token = tok
	return nil
}

// --- Organisation and repository: GET, then POST when 404.

func (k *kickoff) checkOrg(ctx context.Context) (bool, string, error) {
	ok, err := k.gitea.OrgExists(ctx, k.tokenAuth(), k.o.Org)
	if err != nil || ok {
		return false, "organization " + k.o.Org + " exists", err
	}
	return true, "organization " + k.o.Org + " is absent", nil
}

func (k *kickoff) createOrg(ctx context.Context) error {
	return k.gitea.CreateOrg(ctx, k.tokenAuth(), k.o.Org)
}

func (k *kickoff) checkRepo(ctx context.Context) (bool, string, error) {
	name := k.o.Org + "/" + k.o.Repo
	ok, err := k.gitea.RepoExists(ctx, k.tokenAuth(), k.o.Org, k.o.Repo)
	if err != nil || ok {
		return false, "repository " + name + " exists", err
	}
	return true, "repository " + name + " is absent", nil
}

func (k *kickoff) createRepo(ctx context.Context) error {
	return k.gitea.CreateOrgRepo(ctx, k.tokenAuth(), k.o.Org, k.o.Repo, k.o.Branch)
}
