// Package k8snode is the bo.microvm.k8s_node module: it drains a Kubernetes node (cordon, then
// evictions that honour PodDisruptionBudgets), waits until it is Ready after a new boot, and
// uncordons it, so that a rolling restart of VMs moves workloads off each node first.
package k8snode

import (
	"context"
	_ "embed"

	"github.com/business-operations/bo.microvm/internal/ansible"
	"github.com/business-operations/bo.microvm/internal/multicall"
	"github.com/business-operations/bo.microvm/internal/node"
)

//go:embed doc.yml
var doc []byte

func init() {
	multicall.Register(doc, ansible.Module{
		Name: "k8s_node",
		Spec: ansible.Spec{Options: []ansible.Option{
			{Name: "name", Required: true},
			{Name: "state", Required: true, Choices: []any{node.Drained, node.Ready, node.Uncordoned}},
			{Name: "kubeconfig", Type: ansible.Path, Required: true},
			{Name: "context"},
			{Name: "timeout", Type: ansible.Int, Default: 300},
			{Name: "poll_interval", Type: ansible.Float, Default: 5.0},
			{Name: "grace_period", Type: ansible.Int, Default: -1},
			{Name: "force", Type: ansible.Bool, Default: false},
			{Name: "delete_emptydir_data", Type: ansible.Bool, Default: false},
			{Name: "after_boot_id"},
		}},
		CheckMode: ansible.Full,
		DiffMode:  ansible.Full,
		Run: func(ctx context.Context, inv *ansible.Invocation) (*ansible.Result, error) {
			return node.Module(ctx, inv)
		},
	})
}
