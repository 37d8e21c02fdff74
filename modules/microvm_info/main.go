// Package microvminfo is the bo.microvm.microvm_info module: read-only facts about a
// microvm.nix hypervisor's VMs and its preparation.
package microvminfo

import (
	"context"
	_ "embed"

	"github.com/business-operations/bo.microvm/internal/ansible"
	"github.com/business-operations/bo.microvm/internal/info"
	"github.com/business-operations/bo.microvm/internal/multicall"
	"github.com/business-operations/bo.microvm/internal/statedir"
	"github.com/business-operations/bo.microvm/internal/systemd"
)

//go:embed doc.yml
var doc []byte

func init() {
	multicall.Register(doc, ansible.Module{
		Name: "microvm_info",
		Spec: ansible.Spec{Options: []ansible.Option{
			{Name: "name", Type: ansible.List, Elements: ansible.Str},
			{Name: "state_dir", Type: ansible.Path, Default: statedir.DefaultStateDir},
			{Name: "bridge", Default: "br0"},
		}},
		CheckMode: ansible.Full,
		DiffMode:  ansible.None,
		Run: func(ctx context.Context, inv *ansible.Invocation) (*ansible.Result, error) {
			conn, err := systemd.Connect(ctx)
			if err != nil {
				return nil, err
			}
			defer conn.Close()
			f, err := info.Gather(ctx, statedir.Host{StateDir: inv.Params.Str("state_dir")}, conn,
				info.Options{Names: inv.Params.Strs("name"), Bridge: inv.Params.Str("bridge")})
			if err != nil {
				return nil, err
			}
			return (&ansible.Result{}).Set("vms", f.VMs).Set("host", f.Host), nil
		},
	})
}
