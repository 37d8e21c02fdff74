// Command flux_kickoff is the bo.microvm.flux_kickoff module: it deploys the in-cluster Gitea,
// pushes the site repository's cluster path with pinned Flux manifests, applies cluster
// settings and secrets, and starts Flux reconciliation from that Gitea.
package main

import (
	"context"

	fluxmanifests "github.com/business-operations/bo.microvm/files/flux"
	"github.com/business-operations/bo.microvm/internal/ansible"
	"github.com/business-operations/bo.microvm/internal/flux"
	"github.com/business-operations/bo.microvm/internal/step"
)

func main() {
	versions := []any{}
	for _, v := range fluxmanifests.Versions() {
		versions = append(versions, v)
	}
	ansible.Main(ansible.Module{
		Name:             "flux_kickoff",
		ShortDescription: "Deploy an in-cluster Gitea, push the site repository to it and start Flux from it",
		Description: []string{
			"Runs where the site repository lives (usually the Ansible controller, C(delegate_to: localhost)) with the cluster's admin kubeconfig, in ordered steps; each step first reads real state and runs only when that state differs, so a second run changes nothing.",
			"Steps: the Gitea admin Secret (created once with a random or given password, never overwritten); the Gitea chart as a k0s C(helm.k0sproject.io/v1beta1) C(Chart) in C(kube-system) (sqlite, no sub-charts, admin from that Secret); wait until its Deployment is Available and C(/api/healthz) answers through I(gitea_url); an API token kept in a Secret and validated before reuse (a token Gitea rejects is deleted by name and created again, so a lost token never loops on Gitea's 400 for a used name); the organization and the private repository; the repository content.",
			"The repository content is the site repository's committed content under I(paths) at C(HEAD) (what C(git ls-tree)/C(git archive) give: untracked and git-ignored files are never pushed, symlinks are pushed as git stores them, submodules are left out with a warning) plus the generated C(CLUSTER_PATH/flux-system/) (C(gotk-components.yaml) of the pinned Flux version shipped in the collection, C(gotk-sync.yaml), C(kustomization.yaml)); it is committed and pushed through I(gitea_url) only when it differs. A change under I(paths) that is not committed is not pushed and is named in a warning. Credentials reach git as an C(http.extraHeader) in the environment, never on a command line or in a URL.",
			"Then, before Flux's first sync: the C(flux-system) namespace, the Git credentials Secret C(flux-system) (a read-only token), the ConfigMap C(cluster-settings), the Secret C(cluster-secrets) and the SOPS Secret C(sops-age) (key C(age.agekey); created when absent, never replaced). Whenever the C(sops-age) Secret exists (from this run, an earlier one, or made by hand) the C(flux-system) Kustomization decrypts SOPS files with it, also in runs without I(age_key). The Flux components are applied once (skipped once the C(flux-system) Kustomization has applied a revision, as C(flux bootstrap) does); the C(GitRepository) and C(Kustomization) C(flux-system) point at I(gitea_incluster_url). Reconciliation is requested with the C(reconcile.fluxcd.io/requestedAt) annotation and awaited until both report the pushed commit.",
			"Refuses, before changing anything, an existing C(flux-system) Kustomization that syncs another path, as C(flux bootstrap) does, and a I(kubeconfig) inside a git work tree that does not ignore it (one C(git add -A) would commit cluster-admin credentials).",
			"Secrets (I(gitea_admin_password), I(age_key), I(cluster_secrets), the tokens) never appear in results, diffs, warnings or command lines.",
		},
		Notes: []string{
			"Flux components shipped: source-controller, kustomize-controller and helm-controller of the pinned version (see C(files/flux/VERSIONS) in the collection); notification-controller is not shipped.",
			"The Chart object needs k0s's helm controller (any k0s controller); the chart version and values are pinned by I(gitea_chart). The module reads the cluster's Chart CRD: on k0s v1.35.1 and later (the CRD has C(spec.repository)) the chart is I(gitea_chart.name) from C(spec.repository.url) = I(gitea_chart.repo_url); on older k0s (tested: the CRD of v1.33.9; v1.34 and v1.35.0 have the same) C(chartName) is the chart archive's URL, C(REPO_URL/NAME-VERSION.tgz) (the layout of dl.gitea.com/charts), or I(gitea_chart.name) itself when that is a URL (C(https://...), C(oci://...)), which k0s's Helm downloads without a repository in k0s.yaml.",
			"Check mode runs every check and reports what would change; steps after a pending one report C(would change) when their state cannot be known yet.",
		},
		Spec: ansible.Spec{Options: []ansible.Option{
			{Name: "kubeconfig", Type: ansible.Path, Required: true, Description: []string{"Admin kubeconfig of the cluster (k0s's C(/var/lib/k0s/pki/admin.conf) as fetched to the controller)."}},
			{Name: "context", Description: []string{"Kubeconfig context; the current one when omitted."}},
			{Name: "gitea_url", Required: true, Description: []string{"Gitea as reachable from where the module runs (a NodePort on a worker, or a port-forward), e.g. C(http://198.18.0.101:30300). Used for the API and the push."}},
			{Name: "gitea_incluster_url", Description: []string{"Gitea as Flux reaches it in the cluster.", "Default C(http://RELEASE-http.NAMESPACE.svc.cluster.local:3000)."}},
			{Name: "gitea_namespace", Default: "gitea", Description: []string{"Namespace of the Gitea release, its admin Secret and the API token Secret."}},
			{Name: "gitea_release", Default: "gitea", Description: []string{"Helm release name; also the name of the C(Chart) object in C(kube-system)."}},
			{Name: "gitea_deployment", Description: []string{"The chart's Deployment waited for; default I(gitea_release)."}},
			{Name: "gitea_chart", Type: ansible.Dict, ApplyDefaults: true, Description: []string{"The Gitea Helm chart."}, Options: []ansible.Option{
				{Name: "name", Default: "gitea/gitea", Description: []string{"C(chartName) of the Chart object."}},
				{Name: "repo_url", Default: "https://dl.gitea.com/charts/", Description: []string{"Chart repository URL."}},
				{Name: "version", Default: "12.4.0", Description: []string{"Chart version."}},
				{Name: "timeout", Default: "10m", Description: []string{"Helm install timeout."}},
				{Name: "values", Type: ansible.Dict, Default: map[string]any{}, Description: []string{"Values merged over the bootstrap defaults (sqlite, sub-charts off, admin from I(gitea_admin_secret), C(ROOT_URL) = I(gitea_incluster_url)), e.g. C(service.http.type: NodePort)."}},
			}},
			{Name: "gitea_admin_secret", Default: "gitea-admin", Description: []string{"Secret (keys C(username), C(password)) the chart's C(gitea.admin.existingSecret) reads. Created once; never overwritten."}},
			{Name: "gitea_admin_user", Default: "gitea_admin", Description: []string{"Admin user name written into a new admin Secret."}},
			{Name: "gitea_admin_email", Default: "gitea_admin@local.domain", Description: []string{"Admin e-mail address."}},
			{Name: "gitea_admin_password", NoLog: true, Description: []string{"Admin password written into a new admin Secret; a random one when omitted. Ignored (with a warning) when the Secret exists."}},
			{Name: "gitea_token_secret", Default: "gitea-bootstrap-token", Description: []string{"Secret in I(gitea_namespace) keeping the API token (key C(token))."}},
			{Name: "gitea_token_name", Default: "bo-microvm-kickoff", Description: []string{"Gitea name of the API token (scopes C(write:organization), C(write:repository), C(read:user))."}},
			{Name: "gitea_sync_token_name", Default: "bo-microvm-flux-sync", Description: []string{"Gitea name of Flux's read-only token (scope C(read:repository)), kept in Secret C(flux-system/flux-system)."}},
			{Name: "org", Default: "flux", Description: []string{"Gitea organization of the repository."}},
			{Name: "repo", Required: true, Description: []string{"Repository name, e.g. the cluster name."}},
			{Name: "branch", Default: "main", Description: []string{"Branch pushed and synced."}},
			{Name: "site_dir", Type: ansible.Path, Required: true, Description: []string{"The site repository on the machine the module runs on."}},
			{Name: "cluster_path", Required: true, Description: []string{"Path in the repository Flux syncs, e.g. C(clusters/lab); C(CLUSTER_PATH/flux-system/) is generated."}},
			{Name: "paths", Type: ansible.List, Elements: ansible.Str, Description: []string{"Site repository paths pushed (the repository holds exactly these and the generated files); default I(cluster_path) only."}},
			{Name: "flux_version", Default: fluxmanifests.Default, Choices: versions, Description: []string{"Flux version whose shipped manifests are installed."}},
			{Name: "interval", Default: "1m0s", Description: []string{"The GitRepository's poll interval."}},
			{Name: "cluster_settings", Type: ansible.Dict, Description: []string{"Data of the ConfigMap C(flux-system/cluster-settings) (for C(postBuild.substituteFrom)); left alone when omitted.", "Values are written as their JSON/YAML scalar text: C(true), C(1), C(1.5), strings as they are. A dict, list or null value is an error naming the key (render structured data yourself, e.g. with C(to_json))."}},
			{Name: "cluster_secrets", Type: ansible.Dict, NoLog: true, Description: []string{"Data of the Secret C(flux-system/cluster-secrets); left alone when omitted. Values are rendered as in I(cluster_settings)."}},
			{Name: "age_key", NoLog: true, Description: []string{"The SOPS age private key (C(AGE-SECRET-KEY-...)) stored as C(age.agekey) in Secret C(flux-system/sops-age) when that is absent; the C(flux-system) Kustomization then decrypts with it."}},
			{Name: "timeout", Type: ansible.Int, Default: 300, Description: []string{"Seconds each wait may take (Gitea available, CRDs established, controllers available, Flux applied the commit). On timeout the error names the last observed condition."}},
			{Name: "poll_interval", Type: ansible.Float, Default: 2.0, Description: []string{"Seconds between two reads while waiting."}},
		}},
		CheckMode: ansible.Full,
		DiffMode:  ansible.Full,
		Examples: `
- name: Kick off Flux from the in-cluster Gitea
  bo.microvm.flux_kickoff:
    kubeconfig: "{{ playbook_dir }}/../.kube/lab.conf"
    gitea_url: "http://198.18.0.101:30300"
    gitea_chart:
      values:
        service: {http: {type: NodePort, nodePort: 30300}}
    repo: lab
    site_dir: /srv/site
    cluster_path: clusters/lab
    paths: [clusters/lab, infrastructure]
    cluster_settings:
      cluster_name: lab
      cluster_domain: lab.example.org
    age_key: "{{ vault_flux_age_key }}"
  delegate_to: localhost
  run_once: true
  register: kickoff

- name: Show what the kick-off did
  ansible.builtin.debug:
    msg: "{{ kickoff.steps | map(attribute='title') | zip(kickoff.steps | map(attribute='status')) | list }}"
`,
		Returns: []ansible.Return{
			{Name: "steps", Type: "list", Elements: "dict", Returned: "always", Description: step.ReturnDoc + " C(reason) says what the check read.",
				Sample: []any{map[string]any{"title": "Gitea admin secret", "status": "ok", "reason": "Secret gitea/gitea-admin exists"}}},
			{Name: "commit", Type: "str", Returned: "when the repository has a commit", Description: "The repository head Flux syncs to.", Sample: "3f7c2a9e0b1d4c5e6f708192a3b4c5d6e7f80912"},
			{Name: "revision", Type: "str", Returned: "when the repository has a commit", Description: "The revision as Flux reports it.", Sample: "main@sha1:3f7c2a9e0b1d4c5e6f708192a3b4c5d6e7f80912"},
			{Name: "url", Type: "str", Returned: "always", Description: "The in-cluster URL Flux syncs from.", Sample: "http://gitea-http.gitea.svc.cluster.local:3000/flux/lab.git"},
		},
		Run: func(ctx context.Context, inv *ansible.Invocation) (*ansible.Result, error) {
			return flux.Module(ctx, inv)
		},
	})
}
