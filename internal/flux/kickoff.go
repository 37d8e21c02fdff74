package flux

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"strings"
	"time"

	fluxmanifests "github.com/business-operations/bo.microvm/files/flux"
	"github.com/business-operations/bo.microvm/internal/gitea"
	"github.com/business-operations/bo.microvm/internal/kube"
	"github.com/business-operations/bo.microvm/internal/step"
)

// FieldManager is the server-side apply manager of every object flux_kickoff writes.
const FieldManager = "bo.microvm-flux-kickoff"

// Change is a before/after pair for diff mode. Secret values never appear in it.
type Change struct {
	Header        string
	Before, After string
}

// Result is what Run reports.
type Result struct {
	Changed  bool          `json:"changed"`
	Steps    []step.Result `json:"steps"`
	Commit   string        `json:"commit"`   // the repository head Flux is (to be) synced to
	Revision string        `json:"revision"` // as Flux reports it: BRANCH@sha1:COMMIT
	URL      string        `json:"url"`      // the in-cluster URL Flux syncs from
	Warnings []string      `json:"-"`
	Changes  []Change      `json:"-"`
}

// kickoff carries options, clients and what the checks learned for later steps.
type kickoff struct {
	o          Options
	kube       *kube.Client
	gitea      *gitea.Client
	giteaBase  string  // Gitea's base URL as this run reaches it: gitea_url, or the tunnel's loopback URL
	tunnel     *tunnel // the port-forward to Gitea when gitea_url is empty
	components []byte
	secrets    []string

	adminPass string
	token     string
	syncToken string
	head      string // repository head after the content step
	worktree  string
	wtChanges []string
	// contentPending: the work tree differs from the remote and is not pushed (check mode).
	contentPending bool
	// decrypt: the sops-age Secret exists or is made in this run, so the flux-system
	// Kustomization decrypts with it (preflight decides, before any step).
	decrypt bool
	// tls is Gitea's CA and serving certificate once the TLS step has read or made them.
	tls *giteaTLS
	// chartRepoField caches whether the cluster's Chart CRD has spec.repository.
	chartRepoField *bool
	result         *Result
}

// Run runs the kick-off. Errors never contain secret values (the admin password, tokens, the
// age key, cluster secret values).
func Run(ctx context.Context, opts Options) (*Result, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return &Result{}, err
	}
	k := &kickoff{o: o, result: &Result{URL: cloneURL(o.GiteaInClusterURL, o.Org, o.Repo)}}
	k.addSecret(o.GiteaAdminPassword, o.AgeKey)
	for _, v := range o.ClusterSecrets {
		k.addSecret(v)
	}
	res, err := k.run(ctx)
	return res, k.scrub(err)
}

func (k *kickoff) run(ctx context.Context) (*Result, error) {
	version := k.o.FluxVersion
	if version == "" {
		version = fluxmanifests.Default
	}
	var err error
	if k.components, err = fluxmanifests.Components(version); err != nil {
		return k.result, err
	}
	if err := guardKubeconfig(ctx, k.o.Git, k.o.Kubeconfig); err != nil {
		return k.result, err
	}
	if k.kube, err = kube.Load(k.o.Kubeconfig, k.o.Context); err != nil {
		return k.result, err
	}
	k.giteaBase = k.o.GiteaURL
	if k.giteaBase == "" {
		if k.giteaBase, err = k.openTunnel(ctx); err != nil {
			return k.result, err
		}
		defer k.tunnel.close()
	} else if plainHTTPOffHost(k.giteaBase) {
		k.warn("gitea_url %s is plain HTTP to another host: the Gitea admin password (when a token is made) and the API token cross the network in clear; leave gitea_url empty to reach Gitea through the API server's port-forward", k.giteaBase)
	}
	k.gitea = &gitea.Client{URL: k.giteaBase}
	defer func() {
		if k.worktree != "" {
			os.RemoveAll(k.worktree)
		}
	}()

	if err := k.preflight(ctx); err != nil {
		return k.result, err
	}
	rep := step.Report{}
	err = step.Run(ctx, k.guarded(k.steps()), k.o.CheckMode, &rep)
	k.result.Changed, k.result.Steps = rep.Changed, rep.Steps
	return k.result, err
}

// guarded wraps every check: its reason is scrubbed of secrets, and in check mode a check that
// fails after a step that would change something reports "would change" instead of failing
// (its state cannot be known before the steps before it run: no namespace, no token yet).
func (k *kickoff) guarded(steps []step.Step) []step.Step {
	pending := false
	out := make([]step.Step, len(steps))
	for i, s := range steps {
		check := s.Check
		s.Check = func(ctx context.Context) (bool, string, error) {
			needed, reason, err := check(ctx)
			if err != nil && k.o.CheckMode && pending {
				return true, k.scrubText("state unknown until the steps before run: " + err.Error()), nil
			}
			if needed && s.Kind == step.Change {
				pending = true
			}
			return needed, k.scrubText(reason), err
		}
		out[i] = s
	}
	return out
}

func (k *kickoff) scrubText(s string) string {
	for _, v := range k.secrets {
		s = strings.ReplaceAll(s, v, "********")
	}
	return s
}

func (k *kickoff) warn(format string, args ...any) {
	k.result.Warnings = append(k.result.Warnings, k.scrub(fmt.Errorf(format, args...)).Error())
}

func (k *kickoff) addSecret(values ...string) {
	for _, v := range values {
		if len(v) >= 4 {
			k.secrets = append(k.secrets, v)
		}
	}
}

// scrub replaces every secret value in err's message.
func (k *kickoff) scrub(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := msg
	for _, s := range k.secrets {
		clean = strings.ReplaceAll(clean, s, "********")
	}
	if clean == msg {
		return err
	}
	return errors.New(clean)
}

func (k *kickoff) ref(apiVersion, kind, ns, name string) kube.Ref {
	return kube.Ref{APIVersion: apiVersion, Kind: kind, Namespace: ns, Name: name}
}

// getOptional reads ref; a missing object is (nil, nil).
func (k *kickoff) getOptional(ctx context.Context, ref kube.Ref) (kube.Object, error) {
	o, err := k.kube.Get(ctx, ref)
	if kube.IsNotFound(err) {
		return nil, nil
	}
	return o, err
}

// wait polls cond until it returns true or Timeout passes; then the error names what was last
// observed (cond's message).
func (k *kickoff) wait(ctx context.Context, what string, cond func(ctx context.Context) (bool, string, error)) error {
	ctx, cancel := context.WithTimeout(ctx, k.o.Timeout)
	defer cancel()
	last := "nothing observed yet"
	for {
		ok, msg, err := cond(ctx)
		if err != nil && ctx.Err() == nil {
			return err
		}
		if ok {
			return nil
		}
		if msg != "" {
			last = msg
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out after %s waiting for %s; last observed: %s", k.o.Timeout, what, last)
		case <-time.After(k.o.Poll):
		}
	}
}

func randomPassword() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// ensureNamespace creates a namespace when missing.
func (k *kickoff) ensureNamespace(ctx context.Context, name string) error {
	_, err := k.kube.Create(ctx, namespaceObject(name))
	if err != nil && !kube.IsConflict(err) {
		return err
	}
	return nil
}

// tokenAuth is how the API calls authenticate after the token step.
func (k *kickoff) tokenAuth() gitea.Auth { return tokenAuthOf(k.token) }

func tokenAuthOf(token string) gitea.Auth { return gitea.Auth{Token: token} }

// condition renders an object's Ready-like condition for messages.
func condition(o kube.Object, typ string) string {
	if o == nil {
		return "not found"
	}
	st, reason, msg, ok := o.Condition(typ)
	if !ok {
		return typ + " condition not reported yet"
	}
	s := typ + "=" + st
	if reason != "" {
		s += " (" + reason + ")"
	}
	if msg != "" {
		s += ": " + msg
	}
	return s
}

// isReady reports whether the condition typ is True.
func isReady(o kube.Object, typ string) bool {
	st, _, _, ok := o.Condition(typ)
	return ok && st == "True"
}

// subsetEqual reports whether every key of want equals the same key in have (after JSON
// normalisation, so int64 vs float64 does not matter).
func subsetEqual(want, have map[string]any) bool {
	for key, w := range want {
		h, ok := have[key]
		if !ok {
			return false
		}
		wm, wIsMap := w.(map[string]any)
		hm, hIsMap := h.(map[string]any)
		if wIsMap && hIsMap {
			if !subsetEqual(wm, hm) {
				return false
			}
			continue
		}
		if !reflect.DeepEqual(normalize(w), normalize(h)) {
			return false
		}
	}
	return true
}

func normalize(v any) any {
	switch t := v.(type) {
	case int:
		return float64(t)
	case int64:
		return float64(t)
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = normalize(e)
		}
		return out
	case map[string]any:
		out := map[string]any{}
		for key, e := range t {
			out[key] = normalize(e)
		}
		return out
	}
	return v
}

func isUnauthorized(err error) bool {
	c := gitea.StatusCode(err)
	return c == http.StatusUnauthorized || c == http.StatusForbidden
}

// steps is the kick-off in order (k0s-flux.md §6.3): the Gitea bootstrap, the repository
// content, then the Flux install. Each check reads real state only.
func (k *kickoff) steps() []step.Step {
	return []step.Step{
		// The Gitea bootstrap (gitea_bootstrap.go).
		{Title: "Gitea admin secret", Check: k.checkAdminSecret, Do: k.createAdminSecret},
		{Title: "Gitea TLS certificate", Check: k.checkTLS, Do: k.issueTLS},
		{Title: "Gitea chart", Check: k.checkChart, Do: k.applyChart},
		{Title: "Wait for Gitea", Kind: step.Wait, Check: k.checkGiteaReady, Do: k.waitGiteaReady},
		{Title: "Gitea API token", Check: k.checkToken, Do: k.createToken},
		{Title: "Gitea organization", Check: k.checkOrg, Do: k.createOrg},
		{Title: "Gitea repository", Check: k.checkRepo, Do: k.createRepo},
		// The site repository's committed content (content.go).
		{Title: "Repository content", Check: k.checkContent, Do: k.pushContent},
		// The Flux install (flux_install.go).
		{Title: "Flux namespace", Check: k.checkFluxNamespace, Do: k.createFluxNamespace},
		{Title: "Flux Git credentials", Check: k.checkSyncSecret, Do: k.createSyncSecret},
		{Title: "Cluster settings", Check: k.checkSettings, Do: k.applySettings},
		{Title: "Cluster secrets", Check: k.checkClusterSecrets, Do: k.applyClusterSecrets},
		{Title: "SOPS age key", Check: k.checkAgeKey, Do: k.createAgeKey},
		{Title: "Flux components", Check: k.checkComponents, Do: k.applyComponents},
		{Title: "Flux sync objects", Check: k.checkSync, Do: k.applySync},
		{Title: "Flux reconciliation", Check: k.checkReconciled, Do: k.reconcile},
	}
}
