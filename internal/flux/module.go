package flux

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/business-operations/bo.microvm/internal/ansible"
)

// Module runs the kick-off for the flux_kickoff module: options from the validated
// parameters, check and diff mode from the task, and the result as the module reports it.
func Module(ctx context.Context, inv *ansible.Invocation) (*ansible.Result, error) {
	p := inv.Params
	chart := p.Dict("gitea_chart")
	o := Options{
		Kubeconfig:         p.Str("kubeconfig"),
		Context:            p.Str("context"),
		GiteaURL:           p.Str("gitea_url"),
		GiteaInClusterURL:  p.Str("gitea_incluster_url"),
		GiteaPlainHTTP:     !p.Bool("gitea_tls"),
		GiteaTLSSecret:     p.Str("gitea_tls_secret"),
		GiteaNamespace:     p.Str("gitea_namespace"),
		GiteaRelease:       p.Str("gitea_release"),
		GiteaDeployment:    p.Str("gitea_deployment"),
		GiteaChart:         Chart{Name: chart.Str("name"), RepoURL: chart.Str("repo_url"), Version: chart.Str("version"), Timeout: chart.Str("timeout"), Values: chart.Dict("values")},
		GiteaAdminSecret:   p.Str("gitea_admin_secret"),
		GiteaAdminUser:     p.Str("gitea_admin_user"),
		GiteaAdminEmail:    p.Str("gitea_admin_email"),
		GiteaAdminPassword: p.Str("gitea_admin_password"),
		TokenSecret:        p.Str("gitea_token_secret"),
		TokenName:          p.Str("gitea_token_name"),
		SyncTokenName:      p.Str("gitea_sync_token_name"),
		Org:                p.Str("org"),
		Repo:               p.Str("repo"),
		Branch:             p.Str("branch"),
		SiteDir:            p.Str("site_dir"),
		ClusterPath:        p.Str("cluster_path"),
		Paths:              p.Strs("paths"),
		FluxVersion:        p.Str("flux_version"),
		Interval:           p.Str("interval"),
		AgeKey:             p.Str("age_key"),
		Timeout:            time.Duration(p.Int("timeout")) * time.Second,
		Poll:               time.Duration(p.Float("poll_interval") * float64(time.Second)),
		CheckMode:          inv.CheckMode,
		Diff:               inv.Diff,
	}
	var err error
	if p.Has("cluster_settings") {
		if o.ClusterSettings, err = ScalarValues("cluster_settings", p.Dict("cluster_settings")); err != nil {
			return &ansible.Result{}, err
		}
	}
	if p.Has("cluster_secrets") {
		if o.ClusterSecrets, err = ScalarValues("cluster_secrets", p.Dict("cluster_secrets")); err != nil {
			return &ansible.Result{}, err
		}
	}
	res, err := Run(ctx, o)
	for _, w := range res.Warnings {
		inv.Warn("%s", w)
	}
	out := &ansible.Result{Changed: res.Changed}
	steps := make([]any, 0, len(res.Steps))
	for _, s := range res.Steps {
		steps = append(steps, map[string]any{"title": s.Title, "status": string(s.Status), "reason": s.Reason})
	}
	out.Set("steps", steps).Set("url", res.URL)
	if res.Commit != "" {
		out.Set("commit", res.Commit).Set("revision", res.Revision)
	}
	for _, c := range res.Changes {
		out.Diff = append(out.Diff, ansible.Diff{BeforeHeader: c.Header, AfterHeader: c.Header, Before: c.Before, After: c.After})
	}
	return out, err
}

// ScalarValues renders a dict's values as the ConfigMap/Secret strings Flux substitutes
// (postBuild.substituteFrom): the JSON/YAML scalar text, so true is "true" (not Python's
// "True"), 1 is "1", 1.5 is "1.5" and a string is itself. A dict, a list or a null value is an
// error naming option.key (its value is never shown: cluster_secrets are secret).
func ScalarValues(option string, p ansible.Params) (map[string]string, error) {
	out := make(map[string]string, len(p))
	for k, v := range p {
		switch t := v.(type) {
		case string:
			out[k] = t
		case bool:
			out[k] = strconv.FormatBool(t)
		case int64:
			out[k] = strconv.FormatInt(t, 10)
		case int:
			out[k] = strconv.Itoa(t)
		case float64:
			if math.IsInf(t, 0) || math.IsNaN(t) {
				return nil, ansible.ParamError(option, "key %q is not a finite number", k)
			}
			s := strconv.FormatFloat(t, 'g', -1, 64)
			if !strings.ContainsAny(s, ".e") {
				s += ".0" // a float stays a float, as JSON writes it (3.0)
			}
			out[k] = s
		case nil:
			return nil, ansible.ParamError(option, "key %q is null: give a string, a number or a boolean", k)
		default:
			return nil, ansible.ParamError(option, "key %q is a %s: values must be strings, numbers or booleans (a ConfigMap or Secret holds one string per key; render structured data yourself, e.g. with to_json)", k, kindOf(v))
		}
	}
	return out, nil
}

func kindOf(v any) string {
	switch v.(type) {
	case map[string]any:
		return "dict"
	case []any:
		return "list"
	}
	return fmt.Sprintf("%T", v)
}
