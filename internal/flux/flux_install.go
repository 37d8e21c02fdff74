// The Flux install: after the Gitea bootstrap (gitea_bootstrap.go) and the push (content.go),
// the flux-system namespace and the Secrets and ConfigMap Flux needs before its first sync, the
// pinned components, the sync objects, and the wait until the real controllers report the
// pushed commit.

package flux

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/business-operations/bo.microvm/internal/kube"
)

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
	if !k.o.GiteaPlainHTTP && k.tls == nil { // check mode before the TLS step made the CA
		return true, name + " is to get the Gitea CA made by the TLS step", nil
	}
	if want := k.syncCA(); !equalPEM(d["ca.crt"], want) {
		if want == "" {
			return true, name + " holds a ca.crt, but gitea_tls is off", nil
		}
		return true, name + " does not hold the Gitea CA as ca.crt", nil
	}
	return false, name + " holds a token that reads " + k.o.Org + "/" + k.o.Repo + k.caNote(), nil
}

// syncCA is the ca.crt Flux's Git credentials Secret holds: the Gitea CA with gitea_tls, none
// without. source-controller v1.9.5 reads the GitRepository's secretRef
// (internal/controller/gitrepository_controller.go getAuthOpts) with fluxcd/pkg/git v0.52.0
// NewAuthOptions (options.go: key "ca.crt", before the deprecated "caFile"; with username and
// password it is HTTPS basic auth plus that CA), and go-git verifies the server with it
// (gogit/clone.go CloneOptions.CABundle). The Secret must not carry tls.crt/tls.key: those keys
// are a client certificate there.
func (k *kickoff) syncCA() string {
	if k.o.GiteaPlainHTTP || k.tls == nil {
		return ""
	}
	return string(k.tls.caPEM)
}

func (k *kickoff) caNote() string {
	if k.syncCA() == "" {
		return ""
	}
	return " and the Gitea CA as ca.crt"
}

func (k *kickoff) createSyncSecret(ctx context.Context) error {
	tok := k.syncToken
	if tok == "" { // no token that reads the repository: make one (else only ca.crt changes)
		var err error
		if tok, err = k.replaceToken(ctx, k.o.SyncTokenName, []string{"read:repository"}); err != nil {
			return err
		}
	}
	k.syncToken = tok
	data := map[string]string{"username": k.o.GiteaAdminUser, "password": tok}
	if ca := k.syncCA(); ca != "" {
		data["ca.crt"] = ca
	}
	// Server-side apply by one field manager: a ca.crt left from a run with gitea_tls goes when
	// it is off.
	_, err := k.kube.Apply(ctx, secretObject(Namespace, Namespace, data), FieldManager)
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

func (k *kickoff) ageKeyRef() kube.Ref { return k.ref("v1", "Secret", Namespace, "sops-age") }

// The SOPS age key: created when absent, never rotated by this module.
func (k *kickoff) checkAgeKey(ctx context.Context) (bool, string, error) {
	if k.o.AgeKey == "" {
		return false, "no age_key given", nil
	}
	s, err := k.getOptional(ctx, k.ageKeyRef())
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
	for _, key := range slices.Sorted(maps.Keys(want)) {
		if h, ok := have[key]; !ok || h != want[key] {
			out = append(out, key)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(have)) {
		if _, ok := want[key]; !ok {
			out = append(out, key+" (removed)")
		}
	}
	return out
}

func (k *kickoff) kustomizationRef() kube.Ref {
	return k.ref("kustomize.toolkit.fluxcd.io/v1", "Kustomization", Namespace, Namespace)
}

func (k *kickoff) gitRepositoryRef() kube.Ref {
	return k.ref("source.toolkit.fluxcd.io/v1", "GitRepository", Namespace, Namespace)
}

// existingKustomization returns the flux-system Kustomization, or nil when it (or Flux's
// CRDs) do not exist.
func (k *kickoff) existingKustomization(ctx context.Context) (kube.Object, error) {
	o, err := k.kube.Get(ctx, k.kustomizationRef())
	if kube.IsNotFound(err) || (err != nil && strings.Contains(err.Error(), "is its CRD installed")) {
		return nil, nil
	}
	return o, err
}

// preflight refuses, before anything changes, to take over a flux-system Kustomization that
// syncs another path: flux bootstrap refuses the same way.
func (k *kickoff) preflight(ctx context.Context) error {
	// Decryption follows the cluster: the flux-system Kustomization decrypts whenever the
	// sops-age Secret exists (made by an earlier run, or by hand), not only in a run that is
	// given age_key: a later run without it must not push a kustomization without decryption.
	k.decrypt = k.o.AgeKey != ""
	if !k.decrypt {
		s, err := k.getOptional(ctx, k.ageKeyRef())
		if err != nil {
			return err
		}
		k.decrypt = s != nil
	}
	ks, err := k.existingKustomization(ctx)
	if err != nil || ks == nil {
		return err
	}
	have, want := ks.Str("spec", "path"), "./"+k.o.ClusterPath
	if path.Clean(strings.TrimPrefix(have, "./")) != k.o.ClusterPath {
		return fmt.Errorf("sync path configuration (%q) would overwrite path (%q) of existing Kustomization %s/%s; "+
			"use the cluster_path the cluster was bootstrapped with, or delete the Kustomization first", want, have, Namespace, Namespace)
	}
	return nil
}

// --- Flux components: applied once; afterwards Flux upgrades itself from Git.

func (k *kickoff) componentObjects() ([]kube.Object, error) {
	objs, err := kube.DecodeManifests(k.components)
	if err != nil {
		return nil, fmt.Errorf("decode the shipped gotk-components.yaml: %w", err)
	}
	return objs, nil
}

func (k *kickoff) checkComponents(ctx context.Context) (bool, string, error) {
	ks, err := k.existingKustomization(ctx)
	if err != nil {
		return false, "", err
	}
	if ks != nil && ks.Str("status", "lastAppliedRevision") != "" {
		return false, "Kustomization flux-system has applied " + ks.Str("status", "lastAppliedRevision") + ": Flux manages its own components from Git", nil
	}
	objs, err := k.componentObjects()
	if err != nil {
		return false, "", err
	}
	for _, o := range objs {
		if o.Str("kind") != "Deployment" && o.Str("kind") != "CustomResourceDefinition" {
			continue
		}
		have, err := k.getOptional(ctx, o.Ref())
		if err != nil {
			return false, "", err
		}
		if have == nil {
			return true, fmt.Sprintf("%s is absent", o.Ref()), nil
		}
		if want := o.Str("metadata", "labels", "app.kubernetes.io/version"); want != "" && have.Str("metadata", "labels", "app.kubernetes.io/version") != want {
			return true, fmt.Sprintf("%s is not version %s", o.Ref(), want), nil
		}
	}
	return false, "Flux " + k.fluxVersion() + " components are installed", nil
}

// applyComponents server-side applies CRDs and namespaces first, waits until the CRDs are
// Established, then applies the rest and waits until the controllers are Available.
func (k *kickoff) applyComponents(ctx context.Context) error {
	objs, err := k.componentObjects()
	if err != nil {
		return err
	}
	var first, rest []kube.Object
	for _, o := range objs {
		switch o.Str("kind") {
		case "CustomResourceDefinition", "Namespace":
			first = append(first, o)
		default:
			rest = append(rest, o)
		}
	}
	for _, o := range first {
		if _, err := k.kube.Apply(ctx, o, FieldManager); err != nil {
			return fmt.Errorf("apply %s: %w", o.Ref(), err)
		}
	}
	for _, o := range first {
		if o.Str("kind") != "CustomResourceDefinition" {
			continue
		}
		ref := o.Ref()
		if err := k.wait(ctx, ref.String()+" to be Established", func(ctx context.Context) (bool, string, error) {
			crd, err := k.getOptional(ctx, ref)
			if err != nil || crd == nil {
				return false, condition(crd, "Established"), err
			}
			return isReady(crd, "Established"), condition(crd, "Established"), nil
		}); err != nil {
			return err
		}
	}
	k.kube.ResetDiscovery()
	for _, o := range rest {
		if _, err := k.kube.Apply(ctx, o, FieldManager); err != nil {
			return fmt.Errorf("apply %s: %w", o.Ref(), err)
		}
	}
	for _, o := range rest {
		if o.Str("kind") != "Deployment" {
			continue
		}
		ref := o.Ref()
		if err := k.wait(ctx, ref.String()+" to be Available", func(ctx context.Context) (bool, string, error) {
			d, err := k.getOptional(ctx, ref)
			if err != nil || d == nil {
				return false, condition(d, "Available"), err
			}
			return isReady(d, "Available"), ref.String() + ": " + condition(d, "Available"), nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// --- GitRepository and Kustomization flux-system, syncing from the in-cluster URL.

func (k *kickoff) checkSync(ctx context.Context) (bool, string, error) {
	repo, ks := k.appliedSyncObjects()
	for _, want := range []kube.Object{repo, ks} {
		have, err := k.getOptional(ctx, want.Ref())
		if err != nil {
			if strings.Contains(err.Error(), "is its CRD installed") {
				return true, "Flux's CRDs are not installed yet", nil
			}
			return false, "", err
		}
		if have == nil {
			return true, want.Ref().String() + " is absent", nil
		}
		if !subsetEqual(want.Map("spec"), have.Map("spec")) {
			return true, want.Ref().String() + " differs from the wanted sync configuration", nil
		}
	}
	return false, "GitRepository and Kustomization flux-system sync " + k.result.URL + " path ./" + k.o.ClusterPath, nil
}

func (k *kickoff) applySync(ctx context.Context) error {
	if err := k.preflight(ctx); err != nil {
		return err
	}
	repo, ks := k.appliedSyncObjects()
	for _, o := range []kube.Object{repo, ks} {
		if _, err := k.kube.Apply(ctx, o, FieldManager); err != nil {
			return fmt.Errorf("apply %s: %w", o.Ref(), err)
		}
	}
	return nil
}

// --- Reconciliation: requested with reconcile.fluxcd.io/requestedAt and awaited until both
// objects report the pushed commit.

// RequestedAtAnnotation is Flux's "reconcile now" annotation.
const RequestedAtAnnotation = "reconcile.fluxcd.io/requestedAt"

// syncState reports whether Flux applied k.result.Revision, and what it reports otherwise.
func (k *kickoff) syncState(ctx context.Context) (bool, string, error) {
	want := k.result.Revision
	repo, err := k.getOptional(ctx, k.gitRepositoryRef())
	if err != nil {
		return false, "", err
	}
	ks, err := k.getOptional(ctx, k.kustomizationRef())
	if err != nil {
		return false, "", err
	}
	repoRev, ksRev := "", ""
	if repo != nil {
		repoRev = repo.Str("status", "artifact", "revision")
	}
	if ks != nil {
		ksRev = ks.Str("status", "lastAppliedRevision")
	}
	msg := fmt.Sprintf("GitRepository %s/%s: %s, revision %q; Kustomization %s/%s: %s, lastAppliedRevision %q",
		Namespace, Namespace, condition(repo, "Ready"), repoRev, Namespace, Namespace, condition(ks, "Ready"), ksRev)
	ok := repo != nil && ks != nil && isReady(repo, "Ready") && isReady(ks, "Ready") && repoRev == want && ksRev == want
	return ok, msg, nil
}

// buildFailed reports kustomize-controller's own message when it handled this run's
// reconcile request, tried the wanted revision and could not build it: that does not change
// by waiting (a new commit is needed), so the run fails at once with it.
//
// Only a finished reconciliation counts, which kustomize-controller marks with the Reconciling
// condition's reason ProgressingWithRetry (v1.9.5 internal/controller/kustomization_controller.go,
// finalizeStatus; while one runs the reason is Progressing, reconcile's MarkReconciling). Without
// that check a run failed on a build that had already been fixed (CI 2026-12-07, flux-test):
// the controller's log has the old, broken revision failing (having handled this run's
// request) and the wanted one applied 1.4 s later, while the run had read Ready=False
// BuildFailed with lastAttemptedRevision the wanted revision. What fits: the new reconcile
// started from a cached object that still had Ready Unknown, so its status patch (fluxcd/pkg
// runtime v0.110.3 patch/patch.go patchStatusConditions applies only what differs from that
// object) left the old Ready on the server until the build succeeded.
func (k *kickoff) buildFailed(ctx context.Context, requestedAt string) (string, error) {
	ks, err := k.getOptional(ctx, k.kustomizationRef())
	if err != nil || ks == nil {
		return "", err
	}
	st, reason, msg, _ := ks.Condition("Ready")
	_, progress, _, reconciling := ks.Condition("Reconciling")
	finished := reconciling && progress == "ProgressingWithRetry"
	if st == "False" && reason == "BuildFailed" && finished && ks.Str("status", "lastAttemptedRevision") == k.result.Revision &&
		ks.Str("status", "lastHandledReconcileAt") == requestedAt {
		return fmt.Sprintf("Kustomization %s/%s cannot build %s: %s: %s", Namespace, Namespace, k.result.Revision, reason, msg), nil
	}
	return "", nil
}

func (k *kickoff) checkReconciled(ctx context.Context) (bool, string, error) {
	if k.result.Revision == "" {
		return true, "nothing pushed yet", nil
	}
	if k.contentPending {
		return true, "a new commit is to be pushed", nil
	}
	ok, msg, err := k.syncState(ctx)
	if err != nil {
		if strings.Contains(err.Error(), "is its CRD installed") {
			return true, "Flux is not installed yet", nil
		}
		return false, "", err
	}
	if ok {
		return false, "Flux applied " + k.result.Revision, nil
	}
	return true, "Flux has not applied " + k.result.Revision + " yet: " + msg, nil
}

func (k *kickoff) reconcile(ctx context.Context) error {
	now := k.o.Now().UTC().Format(time.RFC3339Nano)
	patch := map[string]any{"metadata": map[string]any{"annotations": map[string]any{RequestedAtAnnotation: now}}}
	for _, ref := range []kube.Ref{k.gitRepositoryRef(), k.kustomizationRef()} {
		if _, err := k.kube.MergePatch(ctx, ref, "", patch); err != nil {
			return fmt.Errorf("request reconciliation of %s: %w", ref, err)
		}
	}
	return k.wait(ctx, "Flux to apply "+k.result.Revision, func(ctx context.Context) (bool, string, error) {
		ok, msg, err := k.syncState(ctx)
		if err != nil || ok {
			return ok, msg, err
		}
		failed, err := k.buildFailed(ctx, now)
		if err == nil && failed != "" {
			err = errors.New(failed)
		}
		return false, msg, err
	})
}
