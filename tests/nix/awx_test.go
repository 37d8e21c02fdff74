//go:build nixtest

package nix

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// decodeStrict decodes YAML into v and fails on keys v does not declare, as
// ansible-builder's schema (additionalProperties: false) and AWX's API do.
func decodeStrict(data []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	return dec.Decode(v)
}

// stringOrList is a string or a list of strings (ansible-builder's
// TYPE_StringOrListOfStrings).
type stringOrList []string

func (s *stringOrList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*s = stringOrList{n.Value}
		return nil
	case yaml.SequenceNode:
		var list []string
		if err := n.Decode(&list); err != nil {
			return err
		}
		*s = list
		return nil
	}
	return fmt.Errorf("line %d: want a string or a list of strings", n.Line)
}

// dictStringOrList is a mapping, a string or a list of strings
// (TYPE_DictOrStringOrListOfStrings).
type dictStringOrList struct{ yaml.Node }

func (d *dictStringOrList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode || n.Kind == yaml.ScalarNode {
		d.Node = *n
		return nil
	}
	var list stringOrList
	if err := n.Decode(&list); err != nil {
		return err
	}
	d.Node = *n
	return nil
}

type pipPackage struct {
	PackagePip string `yaml:"package_pip"`
}

// executionEnvironment is ansible-builder 3.x's definition schema (schema_v3 in
// ansible_builder/ee_schema.py).
type executionEnvironment struct {
	Version          float64 `yaml:"version"`
	BuildArgDefaults struct {
		GalaxyCollectionOpts string `yaml:"ANSIBLE_GALAXY_CLI_COLLECTION_OPTS"`
		GalaxyRoleOpts       string `yaml:"ANSIBLE_GALAXY_CLI_ROLE_OPTS"`
		PkgmgrPreserveCache  string `yaml:"PKGMGR_PRESERVE_CACHE"`
	} `yaml:"build_arg_defaults"`
	Dependencies struct {
		Python            stringOrList      `yaml:"python"`
		Galaxy            *dictStringOrList `yaml:"galaxy"`
		System            stringOrList      `yaml:"system"`
		PythonInterpreter *struct {
			PackageSystem string `yaml:"package_system"`
			PythonPath    string `yaml:"python_path"`
		} `yaml:"python_interpreter"`
		AnsibleCore   *pipPackage `yaml:"ansible_core"`
		AnsibleRunner *pipPackage `yaml:"ansible_runner"`
		Exclude       *struct {
			Python             []string `yaml:"python"`
			System             []string `yaml:"system"`
			AllFromCollections []string `yaml:"all_from_collections"`
		} `yaml:"exclude"`
	} `yaml:"dependencies"`
	Images struct {
		BaseImage struct {
			Name                  string `yaml:"name"`
			SignatureOriginalName string `yaml:"signature_original_name"`
		} `yaml:"base_image"`
	} `yaml:"images"`
	AdditionalBuildSteps map[string]stringOrList `yaml:"additional_build_steps"`
	AdditionalBuildFiles []struct {
		Src  string `yaml:"src"`
		Dest string `yaml:"dest"`
	} `yaml:"additional_build_files"`
	Options struct {
		RelaxPasswdPermissions *bool   `yaml:"relax_passwd_permissions"`
		SkipAnsibleCheck       *bool   `yaml:"skip_ansible_check"`
		SkipPipInstall         *bool   `yaml:"skip_pip_install"`
		SkipPipCheck           *bool   `yaml:"skip_pip_check"`
		Workdir                *string `yaml:"workdir"`
		PackageManagerPath     string  `yaml:"package_manager_path"`
		User                   string  `yaml:"user"`
		ContainerInit          *struct {
			PackagePip string `yaml:"package_pip"`
			Entrypoint string `yaml:"entrypoint"`
			Cmd        string `yaml:"cmd"`
		} `yaml:"container_init"`
		Tags []string `yaml:"tags"`
	} `yaml:"options"`
}

var buildSteps = map[string]bool{
	"prepend_base": true, "append_base": true, "prepend_galaxy": true, "append_galaxy": true,
	"prepend_builder": true, "append_builder": true, "prepend_final": true, "append_final": true,
}

// executionEnvironmentProblems lists what is wrong with an EE definition for
// this collection; tarball is the file `make collection` writes.
func executionEnvironmentProblems(data []byte, tarball string) []string {
	var ee executionEnvironment
	if err := decodeStrict(data, &ee); err != nil {
		return []string{"schema: " + err.Error()}
	}
	var problems []string
	if ee.Version != 3 {
		problems = append(problems, fmt.Sprintf("version is %v, not 3", ee.Version))
	}
	if ee.Images.BaseImage.Name == "" {
		problems = append(problems, "images.base_image.name is empty")
	}
	if ee.Dependencies.AnsibleCore == nil || ee.Dependencies.AnsibleCore.PackagePip == "" {
		problems = append(problems, "dependencies.ansible_core.package_pip is missing")
	}
	if ee.Dependencies.AnsibleRunner == nil || ee.Dependencies.AnsibleRunner.PackagePip == "" {
		problems = append(problems, "dependencies.ansible_runner.package_pip is missing")
	}
	for step := range ee.AdditionalBuildSteps {
		if !buildSteps[step] {
			problems = append(problems, "additional_build_steps."+step+" is not a build step")
		}
	}
	dest := ""
	for i, f := range ee.AdditionalBuildFiles {
		if f.Src == "" || f.Dest == "" {
			problems = append(problems, fmt.Sprintf("additional_build_files[%d] needs src and dest", i))
			continue
		}
		if ok, _ := filepath.Match(f.Src, tarball); ok {
			dest = f.Dest
		}
	}
	if dest == "" {
		return append(problems, "no additional_build_files entry takes "+tarball)
	}
	steps := strings.Join(ee.AdditionalBuildSteps["append_final"], "\n")
	if !strings.Contains(steps, "_build/"+dest+"/") || !strings.Contains(steps, "ansible-galaxy collection install") {
		problems = append(problems, "append_final does not install the collection copied to _build/"+dest)
	}
	return problems
}

// galaxyTarball is the path `make collection` writes: build/<namespace>-<name>-<version>.tar.gz.
func galaxyTarball(t *testing.T, root string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "galaxy.yml"))
	require.NoError(t, err)
	var galaxy struct{ Namespace, Name, Version string }
	require.NoError(t, yaml.Unmarshal(data, &galaxy))
	require.Equal(t, "bo", galaxy.Namespace)
	require.Equal(t, "microvm", galaxy.Name)
	return fmt.Sprintf("build/%s-%s-%s.tar.gz", galaxy.Namespace, galaxy.Name, galaxy.Version)
}

func TestExecutionEnvironmentDefinition(t *testing.T) {
	root := repoRoot(t)
	tarball := galaxyTarball(t, root)
	data, err := os.ReadFile(filepath.Join(root, "execution-environment.yml"))
	require.NoError(t, err)

	t.Run("execution-environment.yml follows ansible-builder's v3 schema and installs the collection", func(t *testing.T) {
		assert.Empty(t, executionEnvironmentProblems(data, tarball))
	})

	tests := []struct {
		name string
		edit func(string) string
		want string
	}{
		{"an unknown top-level key is a schema error", func(s string) string { return s + "\nansible_config: ansible.cfg\n" }, "schema: "},
		{"version 2 is refused", func(s string) string { return strings.Replace(s, "version: 3", "version: 2", 1) }, "version is 2, not 3"},
		{"a missing ansible_core is refused", func(s string) string {
			return regexp.MustCompile(`(?m)^  ansible_core:\n.*\n`).ReplaceAllString(s, "")
		}, "dependencies.ansible_core.package_pip is missing"},
		{"an unknown build step is refused", func(s string) string { return strings.Replace(s, "append_final:", "append_last:", 1) }, "additional_build_steps.append_last is not a build step"},
		{"a build file that does not take the tarball is refused", func(s string) string {
			return strings.Replace(s, "build/bo-microvm-*.tar.gz", "dist/*.whl", 1)
		}, "no additional_build_files entry takes " + tarball},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			edited := tt.edit(string(data))
			require.NotEqual(t, string(data), edited, "the edit must change the definition")
			assert.Contains(t, strings.Join(executionEnvironmentProblems([]byte(edited), tarball), "\n"), tt.want)
		})
	}
}

// AWX objects as infra.controller_configuration's variables describe them
// (the fields of awx.awx's modules that these definitions use).
type surveyQuestion struct {
	QuestionName        string   `yaml:"question_name"`
	QuestionDescription string   `yaml:"question_description"`
	Required            bool     `yaml:"required"`
	Type                string   `yaml:"type"`
	Variable            string   `yaml:"variable"`
	Choices             []string `yaml:"choices"`
	Default             any      `yaml:"default"`
	Min                 *int     `yaml:"min"`
	Max                 *int     `yaml:"max"`
}

type jobTemplate struct {
	Name                 string   `yaml:"name"`
	Description          string   `yaml:"description"`
	JobType              string   `yaml:"job_type"`
	Inventory            string   `yaml:"inventory"`
	Project              string   `yaml:"project"`
	Playbook             string   `yaml:"playbook"`
	ExecutionEnvironment string   `yaml:"execution_environment"`
	Credentials          []string `yaml:"credentials"`
	ExtraVars            any      `yaml:"extra_vars"`
	Verbosity            int      `yaml:"verbosity"`
	Timeout              int      `yaml:"timeout"`
	AllowSimultaneous    bool     `yaml:"allow_simultaneous"`
	BecomeEnabled        bool     `yaml:"become_enabled"`
	AskLimit             bool     `yaml:"ask_limit_on_launch"`
	AskJobType           bool     `yaml:"ask_job_type_on_launch"`
	AskDiffMode          bool     `yaml:"ask_diff_mode_on_launch"`
	AskVariables         bool     `yaml:"ask_variables_on_launch"`
	JobSliceCount        int      `yaml:"job_slice_count"`
	AskJobSliceCount     bool     `yaml:"ask_job_slice_count_on_launch"`
	SurveyEnabled        bool     `yaml:"survey_enabled"`
	SurveySpec           *struct {
		Name        string           `yaml:"name"`
		Description string           `yaml:"description"`
		Spec        []surveyQuestion `yaml:"spec"`
	} `yaml:"survey_spec"`
}

type controllerConfig struct {
	Projects []struct {
		Name              string `yaml:"name"`
		Description       string `yaml:"description"`
		Organization      string `yaml:"organization"`
		ScmType           string `yaml:"scm_type"`
		ScmURL            string `yaml:"scm_url"`
		ScmBranch         string `yaml:"scm_branch"`
		ScmUpdateOnLaunch bool   `yaml:"scm_update_on_launch"`
	} `yaml:"controller_projects"`
	Inventories []struct {
		Name         string `yaml:"name"`
		Description  string `yaml:"description"`
		Organization string `yaml:"organization"`
	} `yaml:"controller_inventories"`
	InventorySources []struct {
		Name           string `yaml:"name"`
		Inventory      string `yaml:"inventory"`
		Source         string `yaml:"source"`
		SourceProject  string `yaml:"source_project"`
		SourcePath     string `yaml:"source_path"`
		Overwrite      bool   `yaml:"overwrite"`
		OverwriteVars  bool   `yaml:"overwrite_vars"`
		UpdateOnLaunch bool   `yaml:"update_on_launch"`
	} `yaml:"controller_inventory_sources"`
	ExecutionEnvironments []struct {
		Name        string `yaml:"name"`
		Description string `yaml:"description"`
		Image       string `yaml:"image"`
		Pull        string `yaml:"pull"`
	} `yaml:"controller_execution_environments"`
	Credentials []struct {
		Name           string            `yaml:"name"`
		Description    string            `yaml:"description"`
		Organization   string            `yaml:"organization"`
		CredentialType string            `yaml:"credential_type"`
		Inputs         map[string]string `yaml:"inputs"`
	} `yaml:"controller_credentials"`
	CredentialTypes []struct {
		Name        string `yaml:"name"`
		Description string `yaml:"description"`
		Kind        string `yaml:"kind"`
		Inputs      struct {
			Fields []struct {
				ID        string `yaml:"id"`
				Type      string `yaml:"type"`
				Label     string `yaml:"label"`
				Secret    bool   `yaml:"secret"`
				Multiline bool   `yaml:"multiline"`
			} `yaml:"fields"`
			Required []string `yaml:"required"`
		} `yaml:"inputs"`
		Injectors struct {
			File      map[string]string `yaml:"file"`
			Env       map[string]string `yaml:"env"`
			ExtraVars map[string]string `yaml:"extra_vars"`
		} `yaml:"injectors"`
	} `yaml:"controller_credential_types"`
	Templates []jobTemplate `yaml:"controller_templates"`
}

// managedCredentialTypes are the credential types AWX defines itself that the definitions use
// (ansible/awx e21dd0a0, awx/main/models/credential/__init__.py ManagedCredentialType names).
var managedCredentialTypes = map[string]bool{"Machine": true, "Vault": true, "Source Control": true}

// lifecyclePlaybooks are the playbooks a job template may run: the collection's
// (DESIGN.md), nothing else.
var lifecyclePlaybooks = []string{
	"deploy-microvms", "start-microvms", "stop-microvms", "restart-microvms", "rollback-microvms", "destroy-microvms", "status-microvms",
	"bootstrap-existing-machines", "bootstrap-cluster",
}

var (
	surveyTypes  = map[string]bool{"text": true, "textarea": true, "password": true, "integer": true, "float": true, "multiplechoice": true, "multiselect": true}
	variableName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// loadControllerConfig reads every variables file in awx/ (all but configure.yaml).
func loadControllerConfig(t *testing.T, dir string) (controllerConfig, []string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	var all controllerConfig
	var names []string
	for _, file := range files {
		data, err := os.ReadFile(file)
		require.NoError(t, err)
		var c controllerConfig
		require.NoError(t, decodeStrict(data, &c), "%s", file)
		all.Projects = append(all.Projects, c.Projects...)
		all.Inventories = append(all.Inventories, c.Inventories...)
		all.InventorySources = append(all.InventorySources, c.InventorySources...)
		all.ExecutionEnvironments = append(all.ExecutionEnvironments, c.ExecutionEnvironments...)
		all.Credentials = append(all.Credentials, c.Credentials...)
		all.CredentialTypes = append(all.CredentialTypes, c.CredentialTypes...)
		all.Templates = append(all.Templates, c.Templates...)
		names = append(names, filepath.Base(file))
	}
	return all, names
}

// controllerProblems lists the broken references and surveys in an AWX
// configuration; fileExists answers for paths inside the bo.microvm project.
func controllerProblems(c controllerConfig, fileExists func(string) bool) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	names := func(kind string, list []string) map[string]bool {
		set := map[string]bool{}
		for _, n := range list {
			if n == "" || set[n] {
				bad("%s name %q is empty or not unique", kind, n)
			}
			set[n] = true
		}
		return set
	}
	var list []string
	for _, ct := range c.CredentialTypes {
		list = append(list, ct.Name)
	}
	credentialTypes := names("credential type", list)
	for _, ct := range c.CredentialTypes {
		if managedCredentialTypes[ct.Name] {
			bad("credential type %q: AWX defines it already", ct.Name)
		}
		if ct.Kind != "cloud" && ct.Kind != "net" {
			bad("credential type %q: kind %q is not cloud or net (the kinds of a custom type)", ct.Name, ct.Kind)
		}
		fields := map[string]bool{}
		for _, f := range ct.Inputs.Fields {
			fields[f.ID] = true
		}
		for _, r := range ct.Inputs.Required {
			if !fields[r] {
				bad("credential type %q: required input %q is not a field", ct.Name, r)
			}
		}
	}
	list = nil
	for _, p := range c.Projects {
		list = append(list, p.Name)
	}
	projects := names("project", list)
	list = nil
	for _, i := range c.Inventories {
		list = append(list, i.Name)
	}
	inventories := names("inventory", list)
	list = nil
	for _, e := range c.ExecutionEnvironments {
		list = append(list, e.Name)
	}
	environments := names("execution environment", list)
	list = nil
	for _, cr := range c.Credentials {
		list = append(list, cr.Name)
	}
	credentials := names("credential", list)
	for _, cr := range c.Credentials {
		if !managedCredentialTypes[cr.CredentialType] && !credentialTypes[cr.CredentialType] {
			bad("credential %q: credential type %q is not defined", cr.Name, cr.CredentialType)
		}
	}
	list = nil
	for _, jt := range c.Templates {
		list = append(list, jt.Name)
	}
	names("job template", list)

	for _, s := range c.InventorySources {
		if !inventories[s.Inventory] {
			bad("inventory source %q: inventory %q is not defined", s.Name, s.Inventory)
		}
		if !projects[s.SourceProject] {
			bad("inventory source %q: project %q is not defined", s.Name, s.SourceProject)
		}
		if s.Source != "scm" || !fileExists(s.SourcePath) {
			bad("inventory source %q: %s is not a file of the project", s.Name, s.SourcePath)
		}
	}

	allowed := map[string]bool{}
	for _, p := range lifecyclePlaybooks {
		allowed["playbooks/"+p+".yaml"] = true
	}
	covered := map[string]bool{}
	for _, jt := range c.Templates {
		if !allowed[jt.Playbook] {
			bad("job template %q: playbook %q is not one of the collection's playbooks", jt.Name, jt.Playbook)
		}
		covered[jt.Playbook] = true
		if jt.JobType != "run" && jt.JobType != "check" {
			bad("job template %q: job_type %q is not run or check", jt.Name, jt.JobType)
		}
		if !inventories[jt.Inventory] {
			bad("job template %q: inventory %q is not defined", jt.Name, jt.Inventory)
		}
		if !projects[jt.Project] {
			bad("job template %q: project %q is not defined", jt.Name, jt.Project)
		}
		if !environments[jt.ExecutionEnvironment] {
			bad("job template %q: execution environment %q is not defined", jt.Name, jt.ExecutionEnvironment)
		}
		for _, cr := range jt.Credentials {
			if !credentials[cr] {
				bad("job template %q: credential %q is not defined", jt.Name, cr)
			}
		}
		if jt.SurveyEnabled != (jt.SurveySpec != nil && len(jt.SurveySpec.Spec) > 0) {
			bad("job template %q: survey_enabled and survey_spec disagree", jt.Name)
		}
		if jt.SurveySpec == nil {
			continue
		}
		variables := map[string]bool{}
		for _, q := range jt.SurveySpec.Spec {
			if q.QuestionName == "" || !surveyTypes[q.Type] || !variableName.MatchString(q.Variable) || variables[q.Variable] {
				bad("job template %q: survey question %q needs a name, a known type and a unique variable", jt.Name, q.Variable)
			}
			variables[q.Variable] = true
			if q.Type == "multiplechoice" || q.Type == "multiselect" {
				inChoices := q.Default == nil || q.Default == ""
				for _, choice := range q.Choices {
					inChoices = inChoices || choice == q.Default
				}
				if len(q.Choices) == 0 || !inChoices {
					bad("job template %q: survey question %q needs choices that include its default", jt.Name, q.Variable)
				}
			}
		}
	}
	for _, p := range lifecyclePlaybooks {
		if !covered["playbooks/"+p+".yaml"] {
			bad("playbook %s has no job template", p)
		}
	}

	// Destroy asks in a survey instead of `-e confirm=yes`, and defaults to no.
	for _, jt := range c.Templates {
		if jt.Playbook != "playbooks/destroy-microvms.yaml" {
			continue
		}
		ok := false
		if jt.SurveyEnabled && jt.SurveySpec != nil {
			for _, q := range jt.SurveySpec.Spec {
				hasYes := false
				for _, choice := range q.Choices {
					hasYes = hasYes || choice == "yes"
				}
				ok = ok || (q.Variable == "confirm" && q.Required && q.Type == "multiplechoice" && hasYes && q.Default != "yes")
				if q.Variable == "microvm_destroy_purge_volumes" && q.Default != "no" {
					bad("job template %q: deleting volumes must default to no", jt.Name)
				}
			}
		}
		if !ok {
			bad("job template %q: needs a required survey question confirm (yes/no, default not yes)", jt.Name)
		}
	}
	return problems
}

func TestAWXJobTemplates(t *testing.T) {
	root := repoRoot(t)
	awx := filepath.Join(root, "awx")
	inRepo := func(path string) bool {
		info, err := os.Stat(filepath.Join(root, filepath.FromSlash(path)))
		return err == nil && info.Mode().IsRegular()
	}
	config, files := loadControllerConfig(t, awx)

	t.Run("the AWX definitions reference only what they define, and destroy asks for confirmation", func(t *testing.T) {
		assert.Empty(t, controllerProblems(config, inRepo))
	})

	t.Run("configure.yaml loads every definitions file", func(t *testing.T) {
		data, err := os.ReadFile(filepath.Join(awx, "configure.yaml"))
		require.NoError(t, err)
		var plays []struct {
			VarsFiles []string `yaml:"vars_files"`
		}
		require.NoError(t, yaml.Unmarshal(data, &plays))
		require.Len(t, plays, 1)
		loaded := append([]string(nil), plays[0].VarsFiles...)
		sort.Strings(loaded)
		assert.Equal(t, files, loaded)
	})

	for _, jt := range config.Templates {
		t.Run("the playbook of job template "+jt.Name+" exists", func(t *testing.T) {
			assert.True(t, inRepo(jt.Playbook), "job template %q names %s, which is not in the repository", jt.Name, jt.Playbook)
		})
	}

	// The check itself, on definitions that break it.
	tests := []struct {
		name string
		edit func(c *controllerConfig)
		want string
	}{
		{"a playbook outside the collection's list is refused", func(c *controllerConfig) {
			c.Templates[0].Playbook = "playbooks/site.yaml"
		}, `playbook "playbooks/site.yaml" is not one of the collection's playbooks`},
		{"a playbook without a job template is reported", func(c *controllerConfig) {
			c.Templates = c.Templates[1:]
		}, "has no job template"},
		{"an undefined inventory is refused", func(c *controllerConfig) {
			c.Templates[0].Inventory = "production"
		}, `inventory "production" is not defined`},
		{"an undefined credential is refused", func(c *controllerConfig) {
			c.Templates[0].Credentials = []string{"vault"}
		}, `credential "vault" is not defined`},
		{"a credential of an undefined credential type is refused", func(c *controllerConfig) {
			c.Credentials[0].CredentialType = "Kubeconfig"
		}, `credential type "Kubeconfig" is not defined`},
		{"a credential type's required input must be one of its fields", func(c *controllerConfig) {
			c.CredentialTypes[0].Inputs.Required = []string{"token"}
		}, `required input "token" is not a field`},
		{"an inventory file missing from the project is refused", func(c *controllerConfig) {
			c.InventorySources[0].SourcePath = "ansible/inventory-microvm.yaml"
		}, "ansible/inventory-microvm.yaml is not a file of the project"},
		{"destroy without its survey is refused", func(c *controllerConfig) {
			for i := range c.Templates {
				if c.Templates[i].SurveySpec != nil {
					c.Templates[i].SurveyEnabled = false
					c.Templates[i].SurveySpec = nil
				}
			}
		}, "needs a required survey question confirm"},
		{"a confirm question that defaults to yes is refused", func(c *controllerConfig) {
			for i := range c.Templates {
				if c.Templates[i].SurveySpec != nil {
					c.Templates[i].SurveySpec.Spec[0].Default = "yes"
				}
			}
		}, "needs a required survey question confirm"},
		{"deleting volumes by default is refused", func(c *controllerConfig) {
			for i := range c.Templates {
				if c.Templates[i].SurveySpec != nil {
					c.Templates[i].SurveySpec.Spec[1].Default = "yes"
				}
			}
		}, "deleting volumes must default to no"},
		{"a survey default outside its choices is refused", func(c *controllerConfig) {
			for i := range c.Templates {
				if c.Templates[i].SurveySpec != nil {
					c.Templates[i].SurveySpec.Spec[0].Default = "maybe"
				}
			}
		}, "needs choices that include its default"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := loadControllerConfig(t, awx)
			tt.edit(&c)
			assert.Contains(t, strings.Join(controllerProblems(c, inRepo), "\n"), tt.want)
		})
	}
}
