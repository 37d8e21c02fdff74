package flux

import (
	"context"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/business-operations/bo.microvm/internal/kube"
)

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
	return k.wait(ctx, "Flux to apply "+k.result.Revision, k.syncState)
}
