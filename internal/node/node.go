// Package node drives one Kubernetes node around a restart of its machine, for the k8s_node
// module: drain it (cordon, then evict its pods through the Eviction API, which honours
// PodDisruptionBudgets), wait until it is Ready again after a boot, and uncordon it. Each is a
// procedure on the internal/step engine, so check mode and the step report are the other
// modules'.
package node

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/business-operations/bo.microvm/internal/kube"
	"github.com/business-operations/bo.microvm/internal/step"
)

// States of the module.
const (
	Drained    = "drained"
	Uncordoned = "uncordoned"
	Ready      = "ready"
)

// Options are the module's parameters.
type Options struct {
	Name       string
	State      string
	Kubeconfig string
	Context    string
	Timeout    time.Duration
	Drain      kube.DrainOptions
	// AfterBootID (state ready): the node counts as back only once it reports another boot ID,
	// i.e. its kubelet posted status from a new boot; "" accepts any boot.
	AfterBootID string
	CheckMode   bool
	Diff        bool
}

// Result is what the module reports.
type Result struct {
	Changed       bool
	Steps         []step.Result
	Unschedulable bool
	Ready         bool
	BootID        string
	Evicted       []string // namespace/name, in order
	Skipped       []string // "namespace/name: why"
	Warnings      []string
	Before, After string // the diff
}

// Run does what o.State asks.
func Run(ctx context.Context, o Options) (Result, error) {
	var res Result
	c, err := kube.Load(o.Kubeconfig, o.Context)
	if err != nil {
		return res, fmt.Errorf("kubeconfig: %w", err)
	}
	r := &run{o: o, c: c, res: &res}
	var steps []step.Step
	switch o.State {
	case Drained:
		steps = r.drainSteps()
	case Uncordoned:
		steps = []step.Step{r.cordonStep(false)}
	case Ready:
		steps = []step.Step{r.readyStep()}
	default:
		return res, fmt.Errorf("state: unknown state %q", o.State)
	}
	rep := step.Report{}
	err = step.Run(ctx, steps, o.CheckMode, &rep)
	res.Changed, res.Steps = rep.Changed, rep.Steps
	var se *step.Error
	if errors.As(err, &se) && se.CleanupErr == nil && o.State == Drained && r.cordoned {
		err = fmt.Errorf("%w; node %s is schedulable again (this run had cordoned it, and undid that)", err, o.Name)
	}
	r.report(ctx)
	return res, err
}

type run struct {
	o        Options
	c        *kube.Client
	res      *Result
	node     *kube.Node // the last read
	before   *kube.Node // the first read
	plan     kube.DrainPlan
	cordoned bool // this run cordoned the node
}

// getNode reads the node; a missing one names the parameter.
func (r *run) getNode(ctx context.Context) (*kube.Node, error) {
	n, err := r.c.GetNode(ctx, r.o.Name)
	if kube.IsNotFound(err) {
		return nil, fmt.Errorf("name: node %s is not registered in the cluster (k0s registers a worker by its lowercase host name; set k0s_node_name when it differs)", r.o.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("read node %s: %w", r.o.Name, err)
	}
	r.node = n
	if r.before == nil {
		r.before = n
	}
	return n, nil
}

func (r *run) cordonStep(unschedulable bool) step.Step {
	title := "uncordon node " + r.o.Name
	if unschedulable {
		title = "cordon node " + r.o.Name
	}
	s := step.Step{
		Title: title,
		Check: func(ctx context.Context) (bool, string, error) {
			n, err := r.getNode(ctx)
			if err != nil {
				return false, "", err
			}
			if n.Spec.Unschedulable == unschedulable {
				return false, fmt.Sprintf("node %s is %s", r.o.Name, schedWord(unschedulable)), nil
			}
			return true, fmt.Sprintf("node %s is %s", r.o.Name, schedWord(n.Spec.Unschedulable)), nil
		},
		Do: func(ctx context.Context) error {
			n, err := r.c.SetUnschedulable(ctx, r.o.Name, unschedulable)
			if err != nil {
				return fmt.Errorf("patch node %s: %w", r.o.Name, err)
			}
			r.node = n
			r.cordoned = unschedulable
			return nil
		},
	}
	if unschedulable {
		s.Cleanup = func(ctx context.Context) error {
			_, err := r.c.SetUnschedulable(context.WithoutCancel(ctx), r.o.Name, false)
			return err
		}
	}
	return s
}

func schedWord(unschedulable bool) string {
	if unschedulable {
		return "cordoned (unschedulable)"
	}
	return "schedulable"
}

func (r *run) drainSteps() []step.Step {
	evict := step.Step{
		Title: "evict the pods of node " + r.o.Name,
		Check: func(ctx context.Context) (bool, string, error) {
			plan, err := r.c.PlanDrain(ctx, r.o.Name, r.o.Drain)
			if err != nil {
				return false, "", err
			}
			r.plan = plan
			r.res.Skipped = plan.Skipped()
			if err := plan.Err(); err != nil {
				return false, "", fmt.Errorf("node %s: %w", r.o.Name, err)
			}
			pods := plan.Evicted()
			if len(pods) == 0 {
				return false, fmt.Sprintf("no pod to evict (%d left: DaemonSet or mirror pods)", len(r.res.Skipped)), nil
			}
			keys := podKeys(pods)
			reason := fmt.Sprintf("%d pod(s) to evict: %s", len(pods), strings.Join(keys, ", "))
			if r.o.CheckMode {
				// Ask the API server, without deleting, which evictions a budget forbids now.
				for _, p := range pods {
					if err := r.c.Evict(ctx, p.Metadata.Namespace, p.Metadata.Name, r.o.Drain.GracePeriod, true); kube.IsTooManyRequests(err) {
						w := fmt.Sprintf("pod %s: a PodDisruptionBudget forbids its eviction now (%s); a real run waits for it up to the timeout", p.Key(), kube.DisruptionBudgetCause(err))
						r.res.Warnings = append(r.res.Warnings, w)
					}
				}
			}
			return true, reason, nil
		},
		Do: func(ctx context.Context) error {
			pods := r.plan.Evicted()
			if err := r.c.EvictPods(ctx, pods, r.o.Drain, time.Now().Add(r.o.Timeout), nil); err != nil {
				return err
			}
			r.res.Evicted = podKeys(pods)
			return nil
		},
	}
	return []step.Step{r.cordonStep(true), evict}
}

func (r *run) readyStep() step.Step {
	// back reports whether the node is Ready after a boot other than AfterBootID, and why not.
	back := func(n *kube.Node) (bool, string) {
		rc := n.Ready()
		if r.o.AfterBootID != "" && n.Status.NodeInfo.BootID == r.o.AfterBootID {
			return false, fmt.Sprintf("node %s still reports boot ID %s (its kubelet has not posted status from a new boot yet; Ready %s)", r.o.Name, r.o.AfterBootID, rc.Status)
		}
		if rc.Status != "True" {
			return false, fmt.Sprintf("node %s is not Ready: %s %s: %s", r.o.Name, rc.Status, rc.Reason, rc.Message)
		}
		return true, fmt.Sprintf("node %s is Ready (boot ID %s)", r.o.Name, n.Status.NodeInfo.BootID)
	}
	return step.Step{
		Title: "wait for node " + r.o.Name + " to be Ready",
		Kind:  step.Wait,
		Check: func(ctx context.Context) (bool, string, error) {
			n, err := r.c.GetNode(ctx, r.o.Name)
			if kube.IsNotFound(err) {
				return true, "node " + r.o.Name + " is not registered", nil
			}
			if err != nil {
				// The API may be down while its controller restarts: that is something to wait for.
				return true, "the API server does not answer: " + err.Error(), nil
			}
			r.node = n
			ok, why := back(n)
			return !ok, why, nil
		},
		Do: func(ctx context.Context) error {
			deadline := time.Now().Add(r.o.Timeout)
			poll := min(r.o.Drain.Poll, 2*time.Second)
			if poll <= 0 {
				poll = 2 * time.Second
			}
			last := ""
			for {
				n, err := r.c.GetNode(ctx, r.o.Name)
				switch {
				case kube.IsNotFound(err):
					last = "node " + r.o.Name + " is not registered"
				case err != nil:
					last = "the API server does not answer: " + err.Error()
				default:
					r.node = n
					ok, why := back(n)
					if ok {
						return nil
					}
					last = why
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("node %s did not come back within %s: %s", r.o.Name, r.o.Timeout, last)
				}
				select {
				case <-ctx.Done():
					return fmt.Errorf("%w: %s", ctx.Err(), last)
				case <-time.After(poll):
				}
			}
		},
	}
}

// report fills the node facts and the diff from the reads of the node.
func (r *run) report(ctx context.Context) {
	if r.node == nil {
		return
	}
	if r.o.State != Ready && !r.o.CheckMode && r.res.Changed {
		// Read it again after the change (a cleanup may have undone the cordon).
		if n, err := r.c.GetNode(context.WithoutCancel(ctx), r.o.Name); err == nil {
			r.node = n
		}
	}
	r.res.Unschedulable = r.node.Spec.Unschedulable
	r.res.Ready = r.node.Ready().Status == "True"
	r.res.BootID = r.node.Status.NodeInfo.BootID
	if !r.o.Diff || r.o.State == Ready || r.before == nil {
		return
	}
	after := r.node.Spec.Unschedulable
	if r.o.CheckMode {
		after = r.o.State == Drained
	}
	r.res.Before = fmt.Sprintf("unschedulable: %t\n", r.before.Spec.Unschedulable)
	r.res.After = fmt.Sprintf("unschedulable: %t\n", after)
	if r.o.State == Drained {
		pods := podKeys(r.plan.Evicted())
		r.res.Before += podsLine(pods)
		if len(r.res.Evicted) == len(pods) || r.o.CheckMode {
			pods = nil
		}
		r.res.After += podsLine(pods)
	}
}

func podsLine(pods []string) string {
	if len(pods) == 0 {
		return "evictable pods: []\n"
	}
	return "evictable pods:\n- " + strings.Join(pods, "\n- ") + "\n"
}

func podKeys(pods []kube.Pod) []string {
	out := make([]string, 0, len(pods))
	for i := range pods {
		out = append(out, pods[i].Key())
	}
	sort.Strings(out)
	return out
}
