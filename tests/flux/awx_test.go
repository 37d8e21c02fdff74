//go:build flux

package flux_test

// The flux kickoff job template of awx/job_templates.yml, run for real as AWX runs a job:
// through ansible-runner on a private data dir laid out as AWX lays it out, against this
// suite's real kube-apiserver, Gitea and Flux controllers. make awx-test runs the other job
// templates the same way on the lab (tests/e2e/awx.go); this one lives here because it needs
// what only this suite has, and acts on nothing but the controller (every task is
// delegate_to localhost). Sources (ansible/awx at e21dd0a0933fd544d1fe2513c54fe41203775eb5):
//   - awx/main/tasks/jobs.py RunProjectUpdate.make_local_copy: a git project's job copy is
//     `git clone --depth 1 --single-branch --branch awx_internal/<uuid>` of the project's
//     checkout at the job's revision (a shallow clone on a branch that is not main);
//   - RunInventoryUpdate.build_args: an SCM inventory source is imported with
//     `ansible-inventory --list --export -i project/<source_path> --playbook-dir <its dir>`;
//     BaseTask.build_inventory writes the script data as the executable inventory/hosts;
//   - RunJob.build_passwords/build_args/get_password_prompts: a Vault credential adds
//     --ask-vault-pass and answers the prompt `Vault password:\s*?$` (ansible-runner's
//     env/passwords); -u root without a machine credential;
//   - BaseTask.run: every credential's credential_type.inject_credential runs after build_args;
//     awx/main/models/credential/__init__.py CredentialType.inject_credential renders a custom
//     type's file injectors into a mkstemp file of env/ (0600), names it tower.filename, and
//     passes its extra_vars injectors as `-e @<file in env/>`;
//   - RunJob.build_extra_vars_file: env/extravars = AWX's meta variables and the template's
//     extra_vars (Jinja allowed there: ALLOW_JINJA_IN_EXTRA_VARS 'template').
// Not as AWX: no execution environment container (the paths are this machine's, not /runner),
// and ansible-runner runs this machine's ansible-core (Debian 12: 2.14).

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/business-operations/bo.microvm/internal/kube"
)

// awxDefs is what the flux job needs of the definitions in awx/.
type awxTemplate struct {
	Name        string         `yaml:"name"`
	JobType     string         `yaml:"job_type"`
	Project     string         `yaml:"project"`
	Playbook    string         `yaml:"playbook"`
	Credentials []string       `yaml:"credentials"`
	ExtraVars   map[string]any `yaml:"extra_vars"`
	AskJobType  bool           `yaml:"ask_job_type_on_launch"`
}

type awxDefs struct {
	Templates   []awxTemplate `yaml:"controller_templates"`
	Credentials []struct {
		Name           string            `yaml:"name"`
		CredentialType string            `yaml:"credential_type"`
		Inputs         map[string]string `yaml:"inputs"`
	} `yaml:"controller_credentials"`
	CredentialTypes []struct {
		Name      string `yaml:"name"`
		Injectors struct {
			File      map[string]string `yaml:"file"`
			Env       map[string]string `yaml:"env"`
			ExtraVars map[string]string `yaml:"extra_vars"`
		} `yaml:"injectors"`
	} `yaml:"controller_credential_types"`
}

func loadAWXDefs(t *testing.T) awxDefs {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot(), "awx", "*.yml"))
	require.NoError(t, err)
	var all awxDefs
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		var d awxDefs
		require.NoError(t, yaml.Unmarshal(data, &d), f)
		all.Templates = append(all.Templates, d.Templates...)
		all.Credentials = append(all.Credentials, d.Credentials...)
		all.CredentialTypes = append(all.CredentialTypes, d.CredentialTypes...)
	}
	return all
}

// jinjaName is the one template shape the definitions' credential inputs and injectors use:
// a single variable, as `{{ name }}` or `{{ tower.filename }}`.
var jinjaName = regexp.MustCompile(`\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}`)

func render(t *testing.T, tmpl string, vars map[string]string) string {
	t.Helper()
	return jinjaName.ReplaceAllStringFunc(tmpl, func(m string) string {
		name := jinjaName.FindStringSubmatch(m)[1]
		v, ok := vars[name]
		require.True(t, ok, "template %q: %s is not defined here", tmpl, name)
		return v
	})
}

// awxJob is one job run through ansible-runner: its private data dir, its status and the
// flux_kickoff task's result and changed count from the job events.
type awxJob struct {
	dir, cmdline, status string
	kickoff              map[string]any // the flux_kickoff task's res
	changed, failures    int            // k0s-cp1 in playbook_on_stats
	stdout               string
}

// runFluxJob launches the flux kickoff job template on siteRepo (the template's project,
// checked out at its HEAD) with the inventory imported from its inventory.yaml. secrets are
// the values awx/configure.yaml gives the credentials (its -e @secrets.yml).
func runFluxJob(t *testing.T, defs awxDefs, jobType, siteRepo string, secrets map[string]string, pathDir string) *awxJob {
	t.Helper()
	root := repoRoot()
	var jt *awxTemplate
	for i := range defs.Templates {
		if defs.Templates[i].Name == "flux kickoff" {
			jt = &defs.Templates[i]
		}
	}
	require.NotNil(t, jt, "awx/job_templates.yml has the flux kickoff job template")
	require.Equal(t, "site", jt.Project, "the flux kickoff job runs from the site repository's project")

	pdd, err := os.MkdirTemp("/tmp", "bo-awx-flux-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(pdd) })
	require.NoError(t, os.Chmod(pdd, 0o700))
	for _, d := range []string{"inventory", "env", "cp", "tmp"} {
		require.NoError(t, os.Mkdir(filepath.Join(pdd, d), 0o700))
	}

	// project/: make_local_copy of the site project at its revision.
	branch := fmt.Sprintf("awx_internal/%d", time.Now().UnixNano())
	siteGit(t, siteRepo, "branch", branch, "HEAD")
	project := filepath.Join(pdd, "project")
	siteGit(t, pdd, "clone", "-q", "--depth", "1", "--single-branch", "--branch", branch, "file://"+siteRepo, project)
	siteGit(t, siteRepo, "branch", "-D", branch)

	// inventory/hosts: the SCM inventory source (the site's inventory.yaml) as AWX imports it.
	src := filepath.Join(project, "inventory.yaml")
	out, err := exec.Command("ansible-inventory", "--list", "--export", "-i", src, "--playbook-dir", filepath.Dir(src)).Output()
	require.NoError(t, err, "ansible-inventory --list --export of the site's inventory")
	var script map[string]any
	require.NoError(t, json.Unmarshal(out, &script))
	scriptJSON, _ := json.Marshal(script)
	lit, _ := json.Marshal(string(scriptJSON))
	require.NoError(t, os.WriteFile(filepath.Join(pdd, "inventory", "hosts"),
		[]byte(fmt.Sprintf("#! /usr/bin/env python3\n# -*- coding: utf-8 -*-\nprint(%s)\n", lit)), 0o700))

	// env/extravars: AWX's meta variables and the template's extra_vars.
	extra := map[string]any{"awx_job_template_name": jt.Name, "awx_job_id": 1}
	for k, v := range jt.ExtraVars {
		extra[k] = v
	}
	b, _ := json.Marshal(extra)
	require.NoError(t, os.WriteFile(filepath.Join(pdd, "env", "extravars"), b, 0o400))

	// cmdline and credentials.
	if !jt.AskJobType || jobType == "" {
		jobType = jt.JobType
	}
	var args []string
	if jobType == "check" {
		args = append(args, "--check")
	}
	args = append(args, "-u", "root") // no machine credential: AWX's default user
	passwords := map[string]string{}
	envvars := map[string]string{}
	type credential struct {
		name, ctype string
		inputs      map[string]string
	}
	var creds []credential
	for _, name := range jt.Credentials {
		cr := credential{name: name}
		for _, c := range defs.Credentials {
			if c.Name == name {
				cr.inputs, cr.ctype = map[string]string{}, c.CredentialType
				for k, v := range c.Inputs {
					cr.inputs[k] = render(t, v, secrets)
				}
			}
		}
		require.NotEmpty(t, cr.ctype, "credential %q is defined in awx/credentials.yml", name)
		creds = append(creds, cr)
	}
	// build_passwords and build_args first: a Vault credential's prompt and --ask-vault-pass.
	for _, cr := range creds {
		switch cr.ctype {
		case "Vault":
			args = append(args, "--ask-vault-pass")
			passwords[`Vault password:\s*?$`] = cr.inputs["vault_password"]
		case "Machine", "Source Control":
			t.Fatalf("credential %q: the flux kickoff job needs no %s credential", cr.name, cr.ctype)
		}
	}
	// Then inject_credential of each credential, in the template's order (custom types only).
	for _, cr := range creds {
		if cr.ctype == "Vault" {
			continue
		}
		ctype, inputs := cr.ctype, cr.inputs
		found := false
		for _, ct := range defs.CredentialTypes {
			if ct.Name != ctype {
				continue
			}
			found = true
			vars := map[string]string{}
			for k, v := range inputs {
				vars[k] = v
			}
			for label, tmpl := range ct.Injectors.File {
				f, err := os.CreateTemp(filepath.Join(pdd, "env"), "tmp")
				require.NoError(t, err)
				_, err = f.WriteString(render(t, tmpl, inputs))
				require.NoError(t, err)
				require.NoError(t, f.Close())
				require.NoError(t, os.Chmod(f.Name(), 0o600))
				require.Equal(t, "template", label, "one file per credential type (tower.filename)")
				vars["tower.filename"] = f.Name()
			}
			for k, tmpl := range ct.Injectors.Env {
				envvars[k] = render(t, tmpl, vars)
			}
			if len(ct.Injectors.ExtraVars) > 0 {
				ev := map[string]string{}
				for k, tmpl := range ct.Injectors.ExtraVars {
					ev[k] = render(t, tmpl, vars)
				}
				f, err := os.CreateTemp(filepath.Join(pdd, "env"), "tmp")
				require.NoError(t, err)
				b, _ := yaml.Marshal(ev)
				_, err = f.Write(b)
				require.NoError(t, err)
				require.NoError(t, f.Close())
				require.NoError(t, os.Chmod(f.Name(), 0o400))
				args = append(args, "-e", "@"+f.Name())
			}
		}
		require.True(t, found, "credential type %q is defined in awx/credential_types.yml", ctype)
	}
	cmdline := strings.Join(args, " ") // no spaces inside the arguments
	require.NoError(t, os.WriteFile(filepath.Join(pdd, "env", "cmdline"), []byte(cmdline), 0o400))
	if len(passwords) > 0 {
		b, _ := json.Marshal(passwords)
		require.NoError(t, os.WriteFile(filepath.Join(pdd, "env", "passwords"), b, 0o600))
	}
	envvars["ANSIBLE_RETRY_FILES_ENABLED"] = "False"
	envvars["ANSIBLE_SSH_CONTROL_PATH_DIR"] = filepath.Join(pdd, "cp")
	envvars["ANSIBLE_COLLECTIONS_PATH"] = filepath.Join(root, "build", "collections") // the EE's installed collection
	envvars["ANSIBLE_LOCAL_TEMP"] = filepath.Join(pdd, "tmp")
	envvars["ANSIBLE_NOCOLOR"] = "1"
	envvars["PATH"] = pathDir + ":" + os.Getenv("PATH") // the git argv recorder first
	b, _ = json.Marshal(envvars)
	require.NoError(t, os.WriteFile(filepath.Join(pdd, "env", "envvars"), b, 0o600))

	start := time.Now()
	cmd := exec.Command("timeout", "600", "ansible-runner", "run", pdd, "-p", jt.Playbook, "--ident", "job")
	combined, runErr := cmd.CombinedOutput()
	art := filepath.Join(pdd, "artifacts", "job")
	status, _ := os.ReadFile(filepath.Join(art, "status"))
	stdout, _ := os.ReadFile(filepath.Join(art, "stdout"))
	job := &awxJob{dir: pdd, cmdline: cmdline, status: strings.TrimSpace(string(status)), stdout: string(stdout)}
	if os.Getenv("BO_FLUX_TEST_VERBOSE") != "" {
		t.Logf("AWX job flux kickoff (%s): %s in %s\n%s", cmdline, job.status, time.Since(start).Round(10*time.Millisecond), stdout)
	}
	require.NotEmpty(t, job.status, "ansible-runner wrote no status (%v):\n%s", runErr, combined)

	events, err := filepath.Glob(filepath.Join(art, "job_events", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, events, "no job events:\n%s", combined)
	sort.Strings(events)
	for _, f := range events {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		var e struct {
			Event     string `json:"event"`
			EventData struct {
				TaskAction string         `json:"task_action"`
				Res        map[string]any `json:"res"`
				Changed    map[string]int `json:"changed"`
				Failures   map[string]int `json:"failures"`
			} `json:"event_data"`
		}
		require.NoError(t, json.Unmarshal(data, &e), f)
		switch {
		case e.Event == "playbook_on_stats":
			job.changed, job.failures = e.EventData.Changed["k0s-cp1"], e.EventData.Failures["k0s-cp1"]
		case (e.Event == "runner_on_ok" || e.Event == "runner_on_failed") && e.EventData.TaskAction == "bo.microvm.flux_kickoff":
			job.kickoff = e.EventData.Res
		}
	}
	require.NotNil(t, job.kickoff, "the job events hold the flux_kickoff task's result:\n%s", stdout)
	return job
}

// TestFluxKickoffJobTemplateThroughAnsibleRunner: the flux kickoff job template as AWX runs
// it (project = the site repository, inventory imported from it, the admin kubeconfig from
// its custom credential, the vaulted secrets with the Vault credential) does what
// playbooks/bootstrap-cluster.yaml does from the command line: job type check changes nothing;
// the job kicks Flux off and the real controllers reconcile the pushed commit; the command
// line then finds nothing to change, nor does a second job; a commit to the site project is
// pushed and reconciled by the next job; no secret is in any artifact of ansible-runner
// (what AWX keeps as the job's output and events).
func TestFluxKickoffJobTemplateThroughAnsibleRunner(t *testing.T) {
	requireSuite(t)
	root := repoRoot()
	for _, bin := range []string{"ansible-runner", "ansible-playbook", "ansible-inventory", "ansible-vault"} {
		_, err := exec.LookPath(bin)
		require.NoError(t, err, "%s is needed (.ci/deps: ansible-core, python3-ansible-runner)", bin)
	}
	_, err := os.Stat(filepath.Join(root, "build/collections/ansible_collections/bo/microvm/galaxy.yml"))
	require.NoError(t, err, "run make build first (build/collections is missing)")
	defs := loadAWXDefs(t)

	c := startCluster(t)
	useRealFlux(t, startStandIn(t, c))
	pathDir, argvLog := gitRecorder(t)

	// The site repository, as the site project holds it: the inventory (the inventory source)
	// with its non-secret group variables, the cluster path, a copy of the collection's
	// bootstrap-cluster.yaml and, beside it, the vaulted secrets (playbook group_vars: AWX
	// loads them in the job; inventory group_vars would be read by the inventory import,
	// which has no vault password).
	siteDir := site(t)
	write := siteWriter(t, siteDir)
	write("inventory.yaml", "all:\n  children:\n    microvms:\n      hosts:\n        k0s-cp1: {ansible_host: 127.0.0.1}\n", 0o644)
	write("group_vars/all/main.yml", strings.Join([]string{
		"k0s_cluster_name: lab",
		"flux_kickoff_timeout: 180",
		"flux_kickoff_poll_interval: 0.2",
		"flux_kickoff_cluster_settings: {cluster_name: lab, domain: lab.example.org}",
	}, "\n")+"\n", 0o644)
	pb, err := os.ReadFile(filepath.Join(root, "playbooks/bootstrap-cluster.yaml"))
	require.NoError(t, err)
	write("playbooks/bootstrap-cluster.yaml", string(pb), 0o644)
	const vaultPassword = "site-vault-password-awx-3c1d"
	vaultFile := filepath.Join(t.TempDir(), "vault-password")
	require.NoError(t, os.WriteFile(vaultFile, []byte(vaultPassword+"\n"), 0o600))
	write("playbooks/group_vars/all/vault.yml", strings.Join([]string{
		"flux_kickoff_gitea_admin_password: " + testAdminPassword,
		"flux_kickoff_age_key: " + testAgeKey,
		"flux_kickoff_cluster_secrets: {api_key: " + testClusterSecret + "}",
	}, "\n")+"\n", 0o600)
	enc := exec.Command("ansible-vault", "encrypt", "--vault-password-file", vaultFile, filepath.Join(siteDir, "playbooks/group_vars/all/vault.yml"))
	out, err := enc.CombinedOutput()
	require.NoError(t, err, "ansible-vault: %s", out)
	commitAll(t, siteDir, "site: inventory, playbook, vaulted secrets")

	kubeconfig, err := os.ReadFile(c.moduleKubeconfig) // the default path: Gitea through the API server's port-forward
	require.NoError(t, err)
	secrets := map[string]string{"k0s_admin_kubeconfig_data": string(kubeconfig), "site_vault_password": vaultPassword}
	var jobs []*awxJob
	job := func(jobType string) *awxJob {
		j := runFluxJob(t, defs, jobType, siteDir, secrets, pathDir)
		jobs = append(jobs, j)
		return j
	}

	t.Run("job type check predicts the kick-off from the job's own checkout and changes nothing", func(t *testing.T) {
		j := job("check")
		require.Equal(t, "successful", j.status, "%s", j.stdout)
		assert.Regexp(t, `^--check -u root --ask-vault-pass -e @/tmp/bo-awx-flux-[^ ]+/env/tmp[^ ]+$`, j.cmdline)
		assert.Equal(t, 1, j.changed, "check mode predicts the kick-off:\n%s", j.stdout)
		assert.Contains(t, j.stdout, "Gitea admin secret: would change")
		inv, _ := j.kickoff["invocation"].(map[string]any)
		args, _ := inv["module_args"].(map[string]any)
		require.NotNil(t, args, "the job event has the module arguments")
		assert.Equal(t, filepath.Join(j.dir, "project"), args["site_dir"], "site_dir: the job's checkout of the site project (the template's extra_vars)")
		assert.Equal(t, filepath.Join(j.dir, "env"), filepath.Dir(fmt.Sprint(args["kubeconfig"])), "kubeconfig: the credential's injected file")
		assert.Equal(t, "clusters/lab", args["cluster_path"], "the inventory's k0s_cluster_name, imported from the site's group_vars")
		assert.Equal(t, "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER", args["gitea_admin_password"], "the vaulted admin password reached the module, hidden")
		_, err := c.kube.Get(context.Background(), kube.Ref{APIVersion: "v1", Kind: "Namespace", Name: "gitea"})
		assert.True(t, kube.IsNotFound(err), "the check job created namespace gitea")
	})

	var first string
	ok := t.Run("the job kicks Flux off and the real controllers reconcile the pushed commit", func(t *testing.T) {
		j := job("")
		require.Equal(t, "successful", j.status, "%s", j.stdout)
		assert.Equal(t, "-u root --ask-vault-pass", strings.Join(strings.Fields(j.cmdline)[:3], " "))
		assert.Equal(t, 1, j.changed)
		assert.Equal(t, 0, j.failures)
		assert.Contains(t, j.stdout, "Flux reconciliation: changed")
		first, _ = j.kickoff["commit"].(string)
		require.Len(t, first, 40)
		assertReconciledTo(t, c, first)
		assert.Equal(t, testAdminPassword, secretValue(t, c, "gitea", "gitea-admin", "password"), "the vaulted password (Vault credential) made the admin Secret")
		assert.Equal(t, testAgeKey+"\n", secretValue(t, c, "flux-system", "sops-age", "age.agekey"))
		_, err := c.kube.Get(context.Background(), kube.Ref{APIVersion: "v1", Kind: "ConfigMap", Namespace: "default", Name: "apps"})
		assert.NoError(t, err, "the site's ConfigMap applied by kustomize-controller")
	})
	require.True(t, ok, "the first job must succeed for the rest to mean anything")

	var cli string
	t.Run("the command line then finds nothing to change", func(t *testing.T) {
		cmd := exec.Command("ansible-playbook", "-i", filepath.Join(siteDir, "inventory.yaml"), "--vault-password-file", vaultFile,
			"-e", "flux_kickoff_kubeconfig="+c.moduleKubeconfig, filepath.Join(siteDir, "playbooks/bootstrap-cluster.yaml"))
		cmd.Dir = siteDir
		cmd.Env = append(os.Environ(), "ANSIBLE_COLLECTIONS_PATH="+filepath.Join(root, "build/collections"), "PATH="+pathDir+":"+os.Getenv("PATH"),
			"ANSIBLE_NOCOLOR=1", "ANSIBLE_RETRY_FILES_ENABLED=0")
		b, err := cmd.CombinedOutput()
		cli = string(b)
		require.NoError(t, err, "ansible-playbook:\n%s", b)
		m := recap.FindStringSubmatch(cli)
		require.NotNil(t, m, "no recap in:\n%s", b)
		assert.Equal(t, "0", m[2], "the command line after the AWX job changes nothing:\n%s", b)
		assert.Contains(t, cli, "Flux reconciliation: ok")
	})

	t.Run("a second job changes nothing", func(t *testing.T) {
		j := job("")
		require.Equal(t, "successful", j.status, "%s", j.stdout)
		assert.Equal(t, 0, j.changed, "%s", j.stdout)
		assert.Equal(t, first, j.kickoff["commit"])
	})

	t.Run("a commit to the site project is pushed and reconciled by the next job", func(t *testing.T) {
		require.NoError(t, os.WriteFile(filepath.Join(siteDir, "clusters/lab/more.yaml"),
			[]byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: more, namespace: default}\n"), 0o644))
		commitAll(t, siteDir, "more")
		j := job("")
		require.Equal(t, "successful", j.status, "%s", j.stdout)
		assert.Equal(t, 1, j.changed)
		next, _ := j.kickoff["commit"].(string)
		require.Len(t, next, 40)
		assert.NotEqual(t, first, next)
		assertReconciledTo(t, c, next)
		_, err := c.kube.Get(context.Background(), kube.Ref{APIVersion: "v1", Kind: "ConfigMap", Namespace: "default", Name: "more"})
		assert.NoError(t, err, "the new ConfigMap applied by kustomize-controller")
	})

	t.Run("no secret is in any artifact of ansible-runner, the command line's output or a git argv", func(t *testing.T) {
		var clientKey string
		for _, line := range strings.Split(string(kubeconfig), "\n") {
			if k, ok := strings.CutPrefix(strings.TrimSpace(line), "client-key-data: "); ok {
				clientKey = k
			}
		}
		require.NotEmpty(t, clientKey)
		needles := map[string]string{
			"vault password":          vaultPassword,
			"admin password":          testAdminPassword,
			"age key":                 testAgeKey,
			"cluster secret":          testClusterSecret,
			"API token":               secretValue(t, c, "gitea", "gitea-bootstrap-token", "token"),
			"sync token":              secretValue(t, c, "flux-system", "flux-system", "password"),
			"kubeconfig's client key": clientKey,
		}
		argv, err := os.ReadFile(argvLog)
		require.NoError(t, err)
		files := 0
		for _, j := range jobs {
			require.NoError(t, filepath.WalkDir(filepath.Join(j.dir, "artifacts"), func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				data, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				files++
				for what, v := range needles {
					assert.NotContains(t, string(data), v, "the %s is in %s", what, p)
				}
				return nil
			}))
		}
		assert.Greater(t, files, 5*len(jobs), "the artifacts hold the jobs' events")
		for what, v := range needles {
			assert.NotContains(t, cli, v, "the %s is in the command line's output", what)
			assert.NotContains(t, string(argv), v, "the %s is in a git argv", what)
		}
	})
}
