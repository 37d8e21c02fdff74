// Package microvmservice is the bo.microvm.microvm_service module: start, stop and restart
// microvm.nix VMs through systemd, manage their autostart, and wait for their guests.
package microvmservice

import (
	_ "embed"
	"github.com/business-operations/bo.microvm/internal/ansible"
	"github.com/business-operations/bo.microvm/internal/multicall"
	"github.com/business-operations/bo.microvm/internal/service"
	"github.com/business-operations/bo.microvm/internal/statedir"
)

//go:embed doc.yml
var doc []byte

func init() {
	multicall.Register(doc, ansible.Module{
		Name: "microvm_service",
		Spec: ansible.Spec{Options: []ansible.Option{
			{Name: "name", Type: ansible.List, Elements: ansible.Str, Required: true},
			{Name: "state", Choices: []any{"started", "stopped", "restarted"}},
			{Name: "restart_if_outdated", Type: ansible.Bool, Default: false},
			{Name: "enabled", Type: ansible.Bool},
			{Name: "timeout", Type: ansible.Int, Default: 300},
			{Name: "wait_for", Type: ansible.Dict, Options: []ansible.Option{
				{Name: "host"},
				{Name: "hosts", Type: ansible.Dict},
				{Name: "port", Type: ansible.Int, Default: service.DefaultWaitPort},
				{Name: "timeout", Type: ansible.Int, Default: 300},
			}, Rules: ansible.Rules{MutuallyExclusive: [][]string{{"host", "hosts"}}, RequiredOneOf: [][]string{{"host", "hosts"}}}},
			{Name: "state_dir", Type: ansible.Path, Default: statedir.DefaultStateDir},
		}},
		CheckMode: ansible.Full,
		DiffMode:  ansible.Full,
		Run:       service.Run,
	})
}
