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
	"sort"
	"strings"
	"time"

	fluxmanifests "github.com/business-operations/bo.microvm/files/flux"
	"github.com/business-operations/bo.microvm/internal/gitea"
	"github.com/business-operations/bo.microvm/internal/kube"
)

// FieldManager is the server-side apply manager of every object flux_kickoff writes.
const FieldManager = "bo.microvm-flux-kickoff"

// Step statuses in a Result.
const (
	StatusChanged   = "changed"      // the step ran and changed something
	StatusOK        = "ok"           // real state already matched; nothing done
	StatusWaited    = "waited"       // the step only waited for something to become ready
	StatusPending   = "would change" // check mode: the step would run
	StatusWouldWait = "would wait"   // check mode: the step would wait for something to become ready
)

// StepResult is one step's outcome.
type StepResult struct {
	Title  string `json:"title"`
	Status string `json:"status"`
	Reason string `json:"reason"`
}

// Change is a before/after pair for diff mode. Secret values never appear in it.
type Change struct {
	Header        string
	Before, After string
}

// Result is what Run reports.
type Result struct {
	Changed  bool         `json:"changed"`
	Steps    []StepResult `json:"steps"`
	Commit   string       `json:"commit"`   // the repository head Flux is (to be) synced to
	Revision string       `json:"revision"` // as Flux reports it: BRANCH@sha1:COMMIT
	URL      string       `json:"url"`      // the in-cluster URL Flux syncs from
	Warnings []string     `json:"-"`
	Changes  []Change     `json:"-"`
}

// step is one phase: a title, a check of real state, and a run.
type step struct {
	title string
	// waitOnly marks steps that change nothing (a run only waits).
	waitOnly bool
	// check reads real state: run is needed when it returns true, with the reason.
	check func(ctx context.Context) (needed bool, reason string, err error)
	run   func(ctx context.Context) error
}

// kickoff carries options, clients and what the checks learned for later steps.
type kickoff struct {
	o          Options
	kube       *kube.Client
	gitea      *gitea.Client
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
	if k.kube, err = kube.Load(k.o.Kubeconfig, k.o.Context); err != nil {
		return k.result, err
	}
	k.gitea = &gitea.Client{URL: k.o.GiteaURL}
	defer func() {
		if k.worktree != "" {
			os.RemoveAll(k.worktree)
		}
	}()

	if err := k.preflight(ctx); err != nil {
		return k.result, err
	}
	pending := false
	for _, s := range k.steps() {
		needed, reason, err := s.check(ctx)
		if err != nil {
			if k.o.CheckMode && pending {
				k.record(s, StatusPending, "state unknown until the steps before run: "+err.Error())
				continue
			}
			return k.result, fmt.Errorf("%s: %w", s.title, err)
		}
		if !needed {
			k.record(s, StatusOK, reason)
			continue
		}
		if k.o.CheckMode {
			pending = pending || !s.waitOnly
			if s.waitOnly {
				k.record(s, StatusWouldWait, reason)
			} else {
				k.record(s, StatusPending, reason)
			}
			continue
		}
		if err := s.run(ctx); err != nil {
			return k.result, fmt.Errorf("%s: %w", s.title, err)
		}
		if s.waitOnly {
			k.record(s, StatusWaited, reason)
		} else {
			k.record(s, StatusChanged, reason)
		}
	}
	return k.result, nil
}

func (k *kickoff) record(s step, status, reason string) {
	k.result.Steps = append(k.result.Steps, StepResult{Title: s.title, Status: status, Reason: k.scrub(errors.New(reason)).Error()})
	if status == StatusChanged || (status == StatusPending && !s.waitOnly) {
		k.result.Changed = true
	}
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

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for key := range m {
		out = append(out, key)
	}
	sort.Strings(out)
	return out
}

func isUnauthorized(err error) bool {
	c := gitea.StatusCode(err)
	return c == http.StatusUnauthorized || c == http.StatusForbidden
}
