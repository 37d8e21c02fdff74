// Package fluxkickoff is the bo.microvm.flux_kickoff module: it deploys the in-cluster Gitea,
// pushes the site repository's cluster path with pinned Flux manifests, applies cluster
// settings and secrets, and starts Flux reconciliation from that Gitea.
package fluxkickoff

import (
	"context"
	_ "embed"

	fluxmanifests "github.com/business-operations/bo.microvm/files/flux"
	"github.com/business-operations/bo.microvm/internal/ansible"
	"github.com/business-operations/bo.microvm/internal/flux"
	"github.com/business-operations/bo.microvm/internal/multicall"
)

//go:embed doc.yml
var doc []byte

func init() {
	versions := []any{}
	for _, v := range fluxmanifests.Versions() {
		versions = append(versions, v)
	}
	multicall.Register(doc, ansible.Module{
		Name: "flux_kickoff",
		Spec: ansible.Spec{Options: []ansible.Option{
			{Name: "kubeconfig", Type: ansible.Path, Required: true},
			{Name: "context"},
			{Name: "gitea_url"},
			{Name: "gitea_incluster_url"},
			{Name: "gitea_tls", Type: ansible.Bool, Default: true},
			{Name: "gitea_tls_secret", Default: "gitea-tls"},
			{Name: "gitea_namespace", Default: "gitea"},
			{Name: "gitea_release", Default: "gitea"},
			{Name: "gitea_deployment"},
			{Name: "gitea_chart", Type: ansible.Dict, ApplyDefaults: true, Options: []ansible.Option{
				{Name: "name", Default: "gitea/gitea"},
				{Name: "repo_url", Default: "https://dl.gitea.com/charts/"},
				{Name: "version", Default: "12.4.0"},
				{Name: "timeout", Default: "10m"},
				{Name: "values", Type: ansible.Dict, Default: map[string]any{}},
			}},
			{Name: "gitea_admin_secret", Default: "gitea-admin"},
			{Name: "gitea_admin_user", Default: "gitea_admin"},
			{Name: "gitea_admin_email", Default: "gitea_admin@local.domain"},
			{Name: "gitea_admin_password", NoLog: true},
			{Name: "gitea_token_secret", Default: "gitea-bootstrap-token"},
			{Name: "gitea_token_name", Default: "bo-microvm-kickoff"},
			{Name: "gitea_sync_token_name", Default: "bo-microvm-flux-sync"},
			{Name: "org", Default: "flux"},
			{Name: "repo", Required: true},
			{Name: "branch", Default: "main"},
			{Name: "site_dir", Type: ansible.Path, Required: true},
			{Name: "cluster_path", Required: true},
			{Name: "paths", Type: ansible.List, Elements: ansible.Str},
			{Name: "flux_version", Default: fluxmanifests.Default, Choices: versions},
			{Name: "interval", Default: "1m0s"},
			{Name: "cluster_settings", Type: ansible.Dict},
			{Name: "cluster_secrets", Type: ansible.Dict, NoLog: true},
			{Name: "age_key", NoLog: true},
			{Name: "timeout", Type: ansible.Int, Default: 300},
			{Name: "poll_interval", Type: ansible.Float, Default: 2.0},
		}},
		CheckMode: ansible.Full,
		DiffMode:  ansible.Full,
		Run: func(ctx context.Context, inv *ansible.Invocation) (*ansible.Result, error) {
			return flux.Module(ctx, inv)
		},
	})
}
