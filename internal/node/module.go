package node

import (
	"context"
	"time"

	"github.com/business-operations/bo.microvm/internal/ansible"
	"github.com/business-operations/bo.microvm/internal/kube"
)

// Module runs the k8s_node module: options from the validated parameters, check and diff mode
// from the task, and the result as the module reports it.
func Module(ctx context.Context, inv *ansible.Invocation) (*ansible.Result, error) {
	p := inv.Params
	o := Options{
		Name:       p.Str("name"),
		State:      p.Str("state"),
		Kubeconfig: p.Str("kubeconfig"),
		Context:    p.Str("context"),
		Timeout:    time.Duration(p.Int("timeout")) * time.Second,
		Drain: kube.DrainOptions{
			Force:              p.Bool("force"),
			DeleteEmptyDirData: p.Bool("delete_emptydir_data"),
			GracePeriod:        p.Int("grace_period"),
			Poll:               time.Duration(p.Float("poll_interval") * float64(time.Second)),
		},
		AfterBootID: p.Str("after_boot_id"),
		CheckMode:   inv.CheckMode,
		Diff:        inv.Diff,
	}
	if o.Timeout <= 0 {
		return nil, ansible.ParamError("timeout", "must be more than 0 seconds, got %d", p.Int("timeout"))
	}
	if o.Drain.Poll <= 0 {
		return nil, ansible.ParamError("poll_interval", "must be more than 0 seconds, got %v", p.Float("poll_interval"))
	}
	res, err := Run(ctx, o)
	for _, w := range res.Warnings {
		inv.Warn("%s", w)
	}
	out := &ansible.Result{Changed: res.Changed}
	steps := make([]any, 0, len(res.Steps))
	for _, s := range res.Steps {
		steps = append(steps, map[string]any{"title": s.Title, "status": string(s.Status), "reason": s.Reason})
	}
	evicted, skipped := strs(res.Evicted), strs(res.Skipped)
	out.Set("steps", steps).Set("name", o.Name).Set("unschedulable", res.Unschedulable).Set("ready", res.Ready).
		Set("boot_id", res.BootID).Set("evicted", evicted).Set("skipped", skipped)
	if res.Before != "" || res.After != "" {
		out.Diff = []ansible.Diff{{BeforeHeader: "node " + o.Name, AfterHeader: "node " + o.Name, Before: res.Before, After: res.After}}
	}
	return out, err
}

func strs(in []string) []any {
	out := make([]any, 0, len(in))
	for _, s := range in {
		out = append(out, s)
	}
	return out
}
