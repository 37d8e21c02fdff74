// Package microvmvolume is the bo.microvm.microvm_volume module: create and grow a
// microVM's disk images on its hypervisor; never shrink or reformat them.
package microvmvolume

import (
	_ "embed"
	"github.com/business-operations/bo.microvm/internal/ansible"
	"github.com/business-operations/bo.microvm/internal/multicall"
	"github.com/business-operations/bo.microvm/internal/statedir"
	"github.com/business-operations/bo.microvm/internal/volume"
)

//go:embed doc.yml
var doc []byte

func init() {
	multicall.Register(doc, ansible.Module{
		Name: "microvm_volume",
		Spec: ansible.Spec{Options: []ansible.Option{
			{Name: "name", Type: ansible.List, Elements: ansible.Str},
			{Name: "volumes", Type: ansible.List, Elements: ansible.Dict, Options: volume.VolumeOptions()},
			{Name: "vms", Type: ansible.List, Elements: ansible.Dict, Options: []ansible.Option{
				{Name: "name", Required: true},
				{Name: "volumes", Type: ansible.List, Elements: ansible.Dict, Required: true, Options: volume.VolumeOptions()},
			}},
			{Name: "state", Default: "present", Choices: []any{"present", "absent"}},
			{Name: "purge", Type: ansible.Bool, Default: false},
			{Name: "state_dir", Type: ansible.Path, Default: statedir.DefaultStateDir},
		}, Rules: ansible.Rules{
			MutuallyExclusive: [][]string{{"name", "vms"}, {"volumes", "vms"}},
			RequiredOneOf:     [][]string{{"name", "vms"}},
			RequiredTogether:  [][]string{{"name", "volumes"}},
		}},
		CheckMode: ansible.Full,
		DiffMode:  ansible.Full,
		Run:       volume.Run,
	})
}
