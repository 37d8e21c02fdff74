// Package microvminstall is the bo.microvm.microvm_install module: put VMs' runners on
// their hypervisor (build from the site flake, or a copied store path), or remove stopped VMs.
package microvminstall

import (
	"context"
	_ "embed"
	"time"

	"github.com/business-operations/bo.microvm/internal/ansible"
	"github.com/business-operations/bo.microvm/internal/command"
	"github.com/business-operations/bo.microvm/internal/install"
	"github.com/business-operations/bo.microvm/internal/multicall"
	"github.com/business-operations/bo.microvm/internal/nix"
	"github.com/business-operations/bo.microvm/internal/statedir"
	"github.com/business-operations/bo.microvm/internal/systemd"
)

//go:embed doc.yml
var doc []byte

func init() {
	multicall.Register(doc, ansible.Module{
		Name: "microvm_install",
		Spec: ansible.Spec{
			Options: []ansible.Option{
				{Name: "name", Type: ansible.List, Elements: ansible.Str, Required: true},
				{Name: "state", Default: "present", Choices: []any{"present", "absent"}},
				{Name: "flake"},
				{Name: "runner", Type: ansible.Raw},
				{Name: "purge", Type: ansible.Bool, Default: false},
				{Name: "rollback", Type: ansible.Bool, Default: false},
				{Name: "ssh_host_key", Default: ""},
				{Name: "state_dir", Type: ansible.Path, Default: statedir.DefaultStateDir},
				{Name: "owner", Default: "microvm"},
				{Name: "group", Default: "kvm"},
				{Name: "nix_options", Type: ansible.List, Elements: ansible.Str, Default: []any{}},
				{Name: "parallel", Type: ansible.Int, Default: install.DefaultParallel},
				{Name: "timeout", Type: ansible.Int, Default: 3600},
			},
			Rules: ansible.Rules{MutuallyExclusive: [][]string{{"flake", "runner"}}},
		},
		CheckMode: ansible.Full,
		DiffMode:  ansible.Full,
		Timeout:   24 * time.Hour,
		Run:       run,
	})
}

func run(ctx context.Context, inv *ansible.Invocation) (*ansible.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(inv.Params.Int("timeout"))*time.Second)
	defer cancel()
	req, err := install.RequestFrom(inv.Params, inv.CheckMode)
	if err != nil {
		return nil, err
	}
	owner, err := install.LookupOwner(inv.Params.Str("owner"), inv.Params.Str("group"))
	if err != nil {
		return nil, err
	}
	conn, err := systemd.Connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	in := &install.Installer{
		Host:  statedir.Host{StateDir: inv.Params.Str("state_dir")},
		Nix:   nix.Nix{Runner: command.Exec{}, Options: inv.Params.Strs("nix_options")},
		Units: conn,
		Owner: owner,
	}
	rep, err := in.Run(ctx, req)
	if err != nil {
		return nil, err
	}
	return rep.Result(), rep.Err()
}
