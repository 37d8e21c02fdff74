package flux

import (
	"context"
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
	if p.Has("cluster_settings") {
		o.ClusterSettings = stringValues(p.Dict("cluster_settings"))
	}
	if p.Has("cluster_secrets") {
		o.ClusterSecrets = stringValues(p.Dict("cluster_secrets"))
	}
	res, err := Run(ctx, o)
	for _, w := range res.Warnings {
		inv.Warn("%s", w)
	}
	out := &ansible.Result{Changed: res.Changed}
	steps := make([]any, 0, len(res.Steps))
	for _, s := range res.Steps {
		steps = append(steps, map[string]any{"title": s.Title, "status": s.Status, "reason": s.Reason})
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

// stringValues turns a dict's values into ConfigMap/Secret strings as Ansible renders them.
func stringValues(p ansible.Params) map[string]string {
	out := make(map[string]string, len(p))
	for k, v := range p {
		out[k] = ansible.String(v)
	}
	return out
}
