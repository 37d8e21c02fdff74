package flux

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/business-operations/bo.microvm/internal/kube"
)

// steps is the kick-off in order (k0s-flux.md §6.3). Each check reads real state only.
func (k *kickoff) steps() []step {
	return []step{
		{title: "Gitea admin secret", check: k.checkAdminSecret, run: k.createAdminSecret},
		{title: "Gitea chart", check: k.checkChart, run: k.applyChart},
		{title: "Wait for Gitea", waitOnly: true, check: k.checkGiteaReady, run: k.waitGiteaReady},
		{title: "Gitea API token", check: k.checkToken, run: k.createToken},
		{title: "Gitea organization", check: k.checkOrg, run: k.createOrg},
		{title: "Gitea repository", check: k.checkRepo, run: k.createRepo},
		{title: "Repository content", check: k.checkContent, run: k.pushContent},
		{title: "Flux namespace", check: k.checkFluxNamespace, run: k.createFluxNamespace},
		{title: "Flux Git credentials", check: k.checkSyncSecret, run: k.createSyncSecret},
		{title: "Cluster settings", check: k.checkSettings, run: k.applySettings},
		{title: "Cluster secrets", check: k.checkClusterSecrets, run: k.applyClusterSecrets},
		{title: "SOPS age key", check: k.checkAgeKey, run: k.createAgeKey},
		{title: "Flux components", check: k.checkComponents, run: k.applyComponents},
		{title: "Flux sync objects", check: k.checkSync, run: k.applySync},
		{title: "Flux reconciliation", check: k.checkReconciled, run: k.reconcile},
	}
}

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
	want := k.chartObject()
	if !subsetEqual(want.Map("spec"), have.Map("spec")) {
		if k.o.Diff {
			k.result.Changes = append(k.result.Changes, Change{Header: "Chart kube-system/" + k.o.GiteaRelease, Before: string(marshalYAML(have.Map("spec"))), After: string(marshalYAML(want.Map("spec")))})
		}
		return true, fmt.Sprintf("Chart kube-system/%s differs from the wanted chart and values", k.o.GiteaRelease), nil
	}
	return false, fmt.Sprintf("Chart kube-system/%s is up to date", k.o.GiteaRelease), nil
}

func (k *kickoff) applyChart(ctx context.Context) error {
	_, err := k.kube.Apply(ctx, k.chartObject(), FieldManager)
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
	if err := k.gitea.Healthy(ctx); err != nil {
		return false, fmt.Sprintf("%s; %s: %v", dep, k.o.GiteaURL+"/api/healthz", err), nil
	}
	return true, dep + "; " + k.o.GiteaURL + "/api/healthz answers 200", nil
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

// --- Repository content: the wanted tree, committed and pushed only when it differs.

func (k *kickoff) pushURL() string { return cloneURL(k.o.GiteaURL, k.o.Org, k.o.Repo) }

func (k *kickoff) checkContent(ctx context.Context) (bool, string, error) {
	if k.token == "" {
		return false, "", fmt.Errorf("no valid Gitea API token")
	}
	tree, err := k.desiredTree()
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
		return false, fmt.Sprintf("%s %s is at %s with the wanted content", k.o.Org+"/"+k.o.Repo, k.o.Branch, short(head)), nil
	}
	if k.o.Diff {
		k.result.Changes = append(k.result.Changes, Change{Header: "repository " + k.o.Org + "/" + k.o.Repo + " " + k.o.Branch, After: Prepared(k.wtChanges)})
	}
	if head == "" {
		return true, fmt.Sprintf("%s is empty: %d files to push", k.o.Org+"/"+k.o.Repo, len(k.wtChanges)), nil
	}
	return true, fmt.Sprintf("%d files differ from %s %s at %s", len(k.wtChanges), k.o.Org+"/"+k.o.Repo, k.o.Branch, short(head)), nil
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

func short(sha string) string {
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

// --- Namespace and Secrets Flux needs before its first sync.

func (k *kickoff) checkFluxNamespace(ctx context.Context) (bool, string, error) {
	ns, err := k.getOptional(ctx, k.ref("v1", "Namespace", "", Namespace))
	if err != nil || ns != nil {
		return false, "namespace " + Namespace + " exists", err
	}
	return true, "namespace " + Namespace + " is absent", nil
}

func (k *kickoff) createFluxNamespace(ctx context.Context) error {
	return k.ensureNamespace(ctx, Namespace)
}

// The Git credentials Flux syncs with: a read-only token of the admin (Secret flux-system/flux-system).
func (k *kickoff) checkSyncSecret(ctx context.Context) (bool, string, error) {
	name := "Secret " + Namespace + "/" + Namespace
	s, err := k.getOptional(ctx, k.ref("v1", "Secret", Namespace, Namespace))
	if err != nil {
		return false, "", err
	}
	if s == nil || secretData(s)["password"] == "" {
		return true, name + " holds no Git credentials", nil
	}
	d := secretData(s)
	k.addSecret(d["password"])
	ok, err := k.gitea.RepoExists(ctx, tokenAuthOf(d["password"]), k.o.Org, k.o.Repo)
	if isUnauthorized(err) || (err == nil && !ok) {
		return true, name + " holds a token that cannot read " + k.o.Org + "/" + k.o.Repo, nil
	}
	if err != nil {
		return false, "", err
	}
	k.syncToken = d["password"]
	return false, name + " holds a token that reads " + k.o.Org + "/" + k.o.Repo, nil
}

func (k *kickoff) createSyncSecret(ctx context.Context) error {
	tok, err := k.replaceToken(ctx, k.o.SyncTokenName, []string{"read:repository"})
	if err != nil {
		return err
	}
	k.syncToken = tok
	_, err = k.kube.Apply(ctx, secretObject(Namespace, Namespace, map[string]string{"username": k.o.GiteaAdminUser, "password": tok}), FieldManager)
	return err
}

func (k *kickoff) checkSettings(ctx context.Context) (bool, string, error) {
	if k.o.ClusterSettings == nil {
		return false, "no cluster_settings given", nil
	}
	cm, err := k.getOptional(ctx, k.ref("v1", "ConfigMap", Namespace, "cluster-settings"))
	if err != nil {
		return false, "", err
	}
	var have map[string]string
	if cm != nil {
		have = stringMap(cm.Map("data"))
	}
	if cm != nil && equalStrings(have, k.o.ClusterSettings) {
		return false, "ConfigMap " + Namespace + "/cluster-settings is up to date", nil
	}
	if k.o.Diff {
		k.result.Changes = append(k.result.Changes, Change{Header: "ConfigMap " + Namespace + "/cluster-settings", Before: string(marshalYAML(have)), After: string(marshalYAML(k.o.ClusterSettings))})
	}
	if cm == nil {
		return true, "ConfigMap " + Namespace + "/cluster-settings is absent", nil
	}
	return true, "ConfigMap " + Namespace + "/cluster-settings differs in " + strings.Join(diffKeys(have, k.o.ClusterSettings), ", "), nil
}

func (k *kickoff) applySettings(ctx context.Context) error {
	_, err := k.kube.Apply(ctx, configMapObject(Namespace, "cluster-settings", k.o.ClusterSettings), FieldManager)
	return err
}

func (k *kickoff) checkClusterSecrets(ctx context.Context) (bool, string, error) {
	if k.o.ClusterSecrets == nil {
		return false, "no cluster_secrets given", nil
	}
	s, err := k.getOptional(ctx, k.ref("v1", "Secret", Namespace, "cluster-secrets"))
	if err != nil {
		return false, "", err
	}
	if s == nil {
		return true, "Secret " + Namespace + "/cluster-secrets is absent", nil
	}
	have := secretData(s)
	if equalStrings(have, k.o.ClusterSecrets) {
		return false, "Secret " + Namespace + "/cluster-secrets is up to date", nil
	}
	return true, "Secret " + Namespace + "/cluster-secrets differs in " + strings.Join(diffKeys(have, k.o.ClusterSecrets), ", "), nil
}

func (k *kickoff) applyClusterSecrets(ctx context.Context) error {
	_, err := k.kube.Apply(ctx, secretObject(Namespace, "cluster-secrets", k.o.ClusterSecrets), FieldManager)
	return err
}

// The SOPS age key: created when absent, never rotated by this module.
func (k *kickoff) checkAgeKey(ctx context.Context) (bool, string, error) {
	if k.o.AgeKey == "" {
		return false, "no age_key given", nil
	}
	s, err := k.getOptional(ctx, k.ref("v1", "Secret", Namespace, "sops-age"))
	if err != nil {
		return false, "", err
	}
	if s == nil {
		return true, "Secret " + Namespace + "/sops-age is absent", nil
	}
	if strings.TrimSpace(secretData(s)["age.agekey"]) != strings.TrimSpace(k.o.AgeKey) {
		k.warn("Secret %s/sops-age holds another age key; it is never replaced by this module: delete the Secret to rotate the key", Namespace)
	}
	return false, "Secret " + Namespace + "/sops-age exists", nil
}

func (k *kickoff) createAgeKey(ctx context.Context) error {
	key := k.o.AgeKey
	if !strings.HasSuffix(key, "\n") {
		key += "\n"
	}
	_, err := k.kube.Create(ctx, secretObject(Namespace, "sops-age", map[string]string{"age.agekey": key}))
	if kube.IsConflict(err) {
		return nil
	}
	return err
}

func equalStrings(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for key, v := range a {
		if w, ok := b[key]; !ok || w != v {
			return false
		}
	}
	return true
}

// diffKeys names the keys added, removed or changed (never values).
func diffKeys(have, want map[string]string) []string {
	var out []string
	for _, key := range sortedKeys(want) {
		if h, ok := have[key]; !ok || h != want[key] {
			out = append(out, key)
		}
	}
	for _, key := range sortedKeys(have) {
		if _, ok := want[key]; !ok {
			out = append(out, key+" (removed)")
		}
	}
	return out
}
