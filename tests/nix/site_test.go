//go:build nixtest

package nix

import (
	"encoding/json"
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

// siteVM is a VM of the example site as tests/nix/site.nix reports it.
type siteVM struct {
	Hypervisor string       `json:"hypervisor"`
	Enable     bool         `json:"enable"`
	Name       string       `json:"name"`
	TapID      string       `json:"tapId"`
	VCPU       int          `json:"vcpu"`
	Mem        int          `json:"mem"`
	Address    string       `json:"address"`
	MAC        string       `json:"mac"`
	Volumes    []siteVolume `json:"volumes"`
	K0s        struct {
		Role      string `json:"role"`
		Bootstrap bool   `json:"bootstrap"`
	} `json:"k0s"`
}

type siteVolume struct {
	Path   string  `json:"path"`
	Size   int     `json:"size"`
	FsType string  `json:"fsType"`
	Label  *string `json:"label"`
}

type site struct {
	VMs         map[string]siteVM `json:"vms"`
	Hypervisors map[string]struct {
		Bridge struct {
			Enable      bool   `json:"enable"`
			PhysicalNic string `json:"physicalNic"`
			Address     string `json:"address"`
		} `json:"bridge"`
		Virtualization struct {
			Enable bool `json:"enable"`
		} `json:"virtualization"`
	} `json:"hypervisors"`
}

// inventoryGroup is one group of a YAML inventory.
type inventoryGroup struct {
	Hosts    map[string]map[string]any `yaml:"hosts"`
	Vars     map[string]any            `yaml:"vars"`
	Children map[string]inventoryGroup `yaml:"children"`
}

// inventory is a YAML inventory resolved the way ansible-inventory would for
// what these tests need: each host's variables (group vars from the inventory
// file, then group_vars/<group>.yaml, from `all` down to the host's own group,
// then the host's vars) and its groups.
type inventory struct {
	vars   map[string]map[string]any
	groups map[string][]string
}

func loadInventory(t *testing.T, file, groupVarsDir string) inventory {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	var doc struct {
		All inventoryGroup `yaml:"all"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&doc), "inventory %s", file)

	groupVars := func(name string, inline map[string]any) map[string]any {
		merged := map[string]any{}
		for k, v := range inline {
			merged[k] = v
		}
		if groupVarsDir == "" {
			return merged
		}
		data, err := os.ReadFile(filepath.Join(groupVarsDir, name+".yaml"))
		if os.IsNotExist(err) {
			return merged
		}
		require.NoError(t, err)
		var fromFile map[string]any
		require.NoError(t, yaml.Unmarshal(data, &fromFile))
		for k, v := range fromFile {
			merged[k] = v
		}
		return merged
	}

	inv := inventory{vars: map[string]map[string]any{}, groups: map[string][]string{}}
	var walk func(name string, g inventoryGroup, inherited map[string]any, path []string)
	walk = func(name string, g inventoryGroup, inherited map[string]any, path []string) {
		vars := map[string]any{}
		for k, v := range inherited {
			vars[k] = v
		}
		for k, v := range groupVars(name, g.Vars) {
			vars[k] = v
		}
		path = append(append([]string(nil), path...), name)
		for host, hostVars := range g.Hosts {
			merged := map[string]any{}
			for k, v := range inv.vars[host] {
				merged[k] = v
			}
			for k, v := range vars {
				merged[k] = v
			}
			for k, v := range hostVars {
				merged[k] = v
			}
			inv.vars[host] = merged
			inv.groups[host] = append(inv.groups[host], path...)
		}
		for child, cg := range g.Children {
			walk(child, cg, vars, path)
		}
	}
	walk("all", doc.All, nil, nil)
	return inv
}

// hostsIn lists the hosts that are members of group, sorted.
func (inv inventory) hostsIn(group string) []string {
	var hosts []string
	for host, groups := range inv.groups {
		for _, g := range groups {
			if g == group {
				hosts = append(hosts, host)
				break
			}
		}
	}
	sort.Strings(hosts)
	return hosts
}

var exampleInventories = []struct {
	name      string
	file      string
	groupVars string
}{
	// Ansible reads group_vars/ beside an inventory file for both.
	{"the inventory in the contract's shape", "inventory-examples/inventory-microvm.yaml", "inventory-examples/group_vars"},
	{"the inventory with profiles in group_vars", "inventory-examples/inventory-profiles.yaml", "inventory-examples/group_vars"},
}

func TestExampleSiteMatchesTheExampleInventories(t *testing.T) {
	root := repoRoot(t)
	var s site
	evalJSON(t, filepath.Join(root, "tests", "nix", "site.nix"), &s)
	require.NotEmpty(t, s.VMs)

	for _, example := range exampleInventories {
		groupVars := ""
		if example.groupVars != "" {
			groupVars = filepath.Join(root, example.groupVars)
		}
		inv := loadInventory(t, filepath.Join(root, example.file), groupVars)

		t.Run(example.name+" has exactly the site's VMs", func(t *testing.T) {
			var names []string
			for name := range s.VMs {
				names = append(names, name)
			}
			sort.Strings(names)
			assert.Equal(t, names, inv.hostsIn("microvms"))
		})
		t.Run(example.name+" has exactly the site's hypervisors", func(t *testing.T) {
			var names []string
			for name := range s.Hypervisors {
				names = append(names, name)
			}
			sort.Strings(names)
			assert.Equal(t, names, inv.hostsIn("microvm_hypervisors"))
		})
		for name, vm := range s.VMs {
			t.Run(example.name+" gives "+name+" the values of its site config", func(t *testing.T) {
				vars := inv.vars[name]
				require.NotNil(t, vars, "%s is not in the inventory", name)
				assert.Equal(t, name, vm.Name, "microvm-guest.name is the nixosConfigurations attribute")
				assert.True(t, vm.Enable, "microvm-guest.enable")
				assert.Equal(t, vm.Hypervisor, vars["microvm_host"], "microvm_host")
				assert.Equal(t, vm.Address, vars["ansible_host"], "ansible_host")
				assert.Equal(t, vm.MAC, vars["microvm_mac"], "microvm_mac")
				assert.Equal(t, vm.VCPU, vars["microvm_vcpu"], "microvm_vcpu")
				assert.Equal(t, vm.Mem, vars["microvm_mem"], "microvm_mem")
				assert.Equal(t, vm.K0s.Role, vars["k0s_role"], "k0s_role")
				assert.Equal(t, vm.K0s.Bootstrap, vars["k0s_bootstrap"] == true, "k0s_bootstrap")

				var want []map[string]any
				for _, v := range vm.Volumes {
					vol := map[string]any{"path": v.Path, "size": v.Size, "fs_type": v.FsType}
					if v.Label != nil {
						vol["label"] = *v.Label
					}
					want = append(want, vol)
				}
				var got []map[string]any
				list, _ := vars["microvm_volumes"].([]any)
				for _, item := range list {
					m, _ := item.(map[string]any)
					got = append(got, m)
				}
				assert.Equal(t, want, got, "microvm_volumes")
			})
		}
		for name, hv := range s.Hypervisors {
			t.Run(example.name+" reaches hypervisor "+name+" at its bridge address", func(t *testing.T) {
				require.NotNil(t, inv.vars[name], "%s is not in the inventory", name)
				assert.True(t, hv.Bridge.Enable && hv.Virtualization.Enable, "bridge and virtualization enabled")
				assert.Equal(t, strings.SplitN(hv.Bridge.Address, "/", 2)[0], inv.vars[name]["ansible_host"])
			})
		}
	}
}

var vmName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$`)

// inventoryProblems lists how an inventory breaks the team's inventory contract.
func inventoryProblems(inv inventory) []string {
	var problems []string
	hypervisors := map[string]bool{}
	for _, h := range inv.hostsIn("microvm_hypervisors") {
		hypervisors[h] = true
	}
	seen := map[string]string{}
	bootstraps := 0
	for _, name := range inv.hostsIn("microvms") {
		vars := inv.vars[name]
		bad := func(format string, args ...any) {
			problems = append(problems, name+": "+fmt.Sprintf(format, args...))
		}
		if !vmName.MatchString(name) {
			bad("a VM name has at most 12 characters [a-z0-9-] (its tap is vm-<name>)")
		}
		if flake, _ := vars["microvm_flake"].(string); flake == "" {
			bad("microvm_flake is not set")
		}
		if host, _ := vars["microvm_host"].(string); !hypervisors[host] {
			bad("microvm_host %v is not in microvm_hypervisors", vars["microvm_host"])
		}
		if vars["ansible_ssh_transfer_method"] != "piped" {
			bad("ansible_ssh_transfer_method must be piped (guests have no sftp)")
		}
		if tmp, _ := vars["ansible_remote_tmp"].(string); !strings.HasPrefix(tmp, "/") {
			bad("ansible_remote_tmp must be an absolute path")
		}
		switch vars["microvm_update_strategy"] {
		case "restart", "switch", "none":
		default:
			bad("microvm_update_strategy %v is not restart, switch or none", vars["microvm_update_strategy"])
		}
		role := vars["k0s_role"]
		switch role {
		case "controller", "controller+worker", "worker":
		default:
			bad("k0s_role %v is not controller, controller+worker or worker", role)
		}
		if vars["k0s_bootstrap"] == true {
			bootstraps++
			if role == "worker" {
				bad("k0s_bootstrap is set on a worker")
			}
		}
		for _, key := range []string{"ansible_host", "microvm_mac"} {
			value := fmt.Sprint(vars[key])
			if other, dup := seen[key+value]; dup {
				bad("%s %s is also %s's", key, value, other)
			}
			seen[key+value] = name
		}
	}
	if bootstraps != 1 {
		problems = append(problems, fmt.Sprintf("exactly one controller needs k0s_bootstrap: true, found %d", bootstraps))
	}
	return problems
}

func TestExampleInventoriesFollowTheInventoryContract(t *testing.T) {
	root := repoRoot(t)
	for _, example := range exampleInventories {
		t.Run(example.name+" follows the contract", func(t *testing.T) {
			groupVars := ""
			if example.groupVars != "" {
				groupVars = filepath.Join(root, example.groupVars)
			}
			assert.Empty(t, inventoryProblems(loadInventory(t, filepath.Join(root, example.file), groupVars)))
		})
	}

	// The check itself, on inventories that break the contract.
	base := func() inventory {
		return inventory{
			vars: map[string]map[string]any{
				"hv1": {"ansible_host": "198.18.0.11"},
				"vm1": {
					"microvm_flake": "path:/srv/site", "microvm_host": "hv1", "ansible_host": "198.18.0.101",
					"microvm_mac": "02:00:00:00:01:01", "ansible_ssh_transfer_method": "piped",
					"ansible_remote_tmp": "/tmp/.ansible", "microvm_update_strategy": "restart",
					"k0s_role": "controller", "k0s_bootstrap": true,
				},
			},
			groups: map[string][]string{"hv1": {"all", "microvm_hypervisors"}, "vm1": {"all", "microvms"}},
		}
	}
	tests := []struct {
		name   string
		change func(inv inventory)
		want   string
	}{
		{"a valid inventory has no problems", func(inventory) {}, ""},
		{"a VM name of 13 characters is a problem", func(inv inventory) {
			inv.vars["k0s-worker-13"] = inv.vars["vm1"]
			inv.groups["k0s-worker-13"] = inv.groups["vm1"]
			delete(inv.vars, "vm1")
			delete(inv.groups, "vm1")
		}, "k0s-worker-13: a VM name has at most 12 characters"},
		{"a VM on an unknown hypervisor is a problem", func(inv inventory) { inv.vars["vm1"]["microvm_host"] = "hv9" }, "vm1: microvm_host hv9 is not in microvm_hypervisors"},
		{"sftp transfer is a problem", func(inv inventory) { inv.vars["vm1"]["ansible_ssh_transfer_method"] = "sftp" }, "vm1: ansible_ssh_transfer_method must be piped"},
		{"a relative remote tmp is a problem", func(inv inventory) { inv.vars["vm1"]["ansible_remote_tmp"] = "~/.ansible/tmp" }, "vm1: ansible_remote_tmp must be an absolute path"},
		{"an unknown update strategy is a problem", func(inv inventory) { inv.vars["vm1"]["microvm_update_strategy"] = "reboot" }, "vm1: microvm_update_strategy reboot"},
		{"no bootstrap controller is a problem", func(inv inventory) { inv.vars["vm1"]["k0s_bootstrap"] = false }, "exactly one controller needs k0s_bootstrap: true, found 0"},
		{"a bootstrapping worker is a problem", func(inv inventory) { inv.vars["vm1"]["k0s_role"] = "worker" }, "vm1: k0s_bootstrap is set on a worker"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := base()
			tt.change(inv)
			problems := strings.Join(inventoryProblems(inv), "\n")
			if tt.want == "" {
				assert.Empty(t, problems)
			} else {
				assert.Contains(t, problems, tt.want)
			}
		})
	}
}

// The resolution above is what these tests compare the site with; make sure it
// is what Ansible itself reads from the example inventories.
func TestExampleInventoriesResolveAsAnsibleInventoryDoes(t *testing.T) {
	root := repoRoot(t)
	for _, example := range exampleInventories {
		t.Run(example.name+" gives every host the variables ansible-inventory gives it", func(t *testing.T) {
			home := t.TempDir()
			out := run(t, home, []string{"ANSIBLE_HOME=" + home, "ANSIBLE_LOCAL_TEMP=" + home},
				"ansible-inventory", "-i", filepath.Join(root, example.file), "--list")
			var listed struct {
				Meta struct {
					Hostvars map[string]map[string]any `json:"hostvars"`
				} `json:"_meta"`
			}
			require.NoError(t, json.Unmarshal(out, &listed))
			require.NotEmpty(t, listed.Meta.Hostvars)

			inv := loadInventory(t, filepath.Join(root, example.file), filepath.Join(root, example.groupVars))
			ours, err := json.Marshal(inv.vars)
			require.NoError(t, err)
			var got map[string]map[string]any
			require.NoError(t, json.Unmarshal(ours, &got))
			assert.Equal(t, listed.Meta.Hostvars, got)
		})
	}
}
