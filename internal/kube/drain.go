package kube

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// The drain rules follow kubectl drain (kubernetes/kubectl dee3483a, pkg/drain/filters.go
// makeFilters and pkg/drain/drain.go evictPods, waitForDelete) with --ignore-daemonsets always
// on: the filters run in kubectl's order (DaemonSet, mirror, local storage, unreplicated) and
// the first that keeps a pod decides; any refused pod stops the drain before anything is
// evicted, as GetPodsForDeletion's errors do.

// MirrorPodAnnotation marks a static pod's mirror (k8s.io/api core/v1 MirrorPodAnnotationKey):
// the API server cannot delete what the kubelet runs from a file, so drain skips it.
const MirrorPodAnnotation = "kubernetes.io/config.mirror"

// DrainOptions are kubectl drain's choices that bo.microvm exposes.
type DrainOptions struct {
	// Force evicts pods that declare no controller, and pods whose DaemonSet is gone
	// (kubectl --force): nothing recreates them.
	Force bool
	// DeleteEmptyDirData evicts running pods with emptyDir volumes, whose data is lost
	// (kubectl --delete-emptydir-data).
	DeleteEmptyDirData bool
	// GracePeriod is the pods' termination grace in seconds; < 0 keeps each pod's own
	// (kubectl --grace-period, default -1).
	GracePeriod int64
	// Poll is how long to wait before retrying an eviction a budget refused (kubectl's
	// EvictErrorRetryDelay, 5 s) and between reads while pods terminate.
	Poll time.Duration
}

// PodPlan is what a drain does with one pod of the node.
type PodPlan struct {
	Pod    Pod
	Evict  bool
	Reason string // why it is skipped or refused, or a warning for an evicted one
	Refuse bool   // the drain cannot proceed while this pod is there
}

// DrainPlan sorts the pods of a node into evicted, skipped and refused ones.
type DrainPlan struct {
	Pods []PodPlan
}

// Evicted returns the pods the drain evicts.
func (p DrainPlan) Evicted() []Pod {
	var out []Pod
	for _, pp := range p.Pods {
		if pp.Evict {
			out = append(out, pp.Pod)
		}
	}
	return out
}

// Skipped returns "namespace/name: reason" for the pods left on the node.
func (p DrainPlan) Skipped() []string {
	var out []string
	for _, pp := range p.Pods {
		if !pp.Evict && !pp.Refuse {
			out = append(out, pp.Pod.Key()+": "+pp.Reason)
		}
	}
	return out
}

// Err is the refusal of the whole drain, grouped by reason as kubectl prints it
// ("cannot evict Pods that declare no controller (set force): ns/a, ns/b"), or nil.
func (p DrainPlan) Err() error {
	by := map[string][]string{}
	for _, pp := range p.Pods {
		if pp.Refuse {
			by[pp.Reason] = append(by[pp.Reason], pp.Pod.Key())
		}
	}
	if len(by) == 0 {
		return nil
	}
	var msgs []string
	for reason, pods := range by {
		msgs = append(msgs, fmt.Sprintf("cannot evict %s: %s", reason, strings.Join(pods, ", ")))
	}
	sort.Strings(msgs)
	return errors.New(strings.Join(msgs, "; "))
}

const (
	refuseLocalStorage = "Pods with local storage (emptyDir; set delete_emptydir_data to evict them and lose that data)"
	refuseUnmanaged    = "Pods that declare no controller (nothing recreates them; set force to evict them)"
)

// PlanDrain lists the pods bound to node and decides for each what the drain does.
func (c *Client) PlanDrain(ctx context.Context, node string, o DrainOptions) (DrainPlan, error) {
	pods, err := c.ListPodsOnNode(ctx, node)
	if err != nil {
		return DrainPlan{}, fmt.Errorf("list the pods of node %s: %w", node, err)
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].Key() < pods[j].Key() })
	var plan DrainPlan
	for _, pod := range pods {
		pp, err := c.planPod(ctx, pod, o)
		if err != nil {
			return DrainPlan{}, err
		}
		plan.Pods = append(plan.Pods, pp)
	}
	return plan, nil
}

// planPod applies kubectl's filters in their order; the first that does not evict decides.
func (c *Client) planPod(ctx context.Context, pod Pod, o DrainOptions) (PodPlan, error) {
	pp := PodPlan{Pod: pod, Evict: true}
	ctrl := pod.Metadata.ControllerOf()
	// daemonSetFilter: a DaemonSet would recreate the pod at once (it ignores cordons), so it
	// stays, unless it finished or its DaemonSet is gone (then it is an orphan: force).
	if ctrl != nil && ctrl.Kind == "DaemonSet" && ctrl.APIVersion == "apps/v1" && !pod.Finished() {
		ok, err := c.DaemonSetExists(ctx, pod.Metadata.Namespace, ctrl.Name)
		if err != nil {
			return pp, fmt.Errorf("read DaemonSet %s/%s of pod %s: %w", pod.Metadata.Namespace, ctrl.Name, pod.Key(), err)
		}
		switch {
		case ok:
			return PodPlan{Pod: pod, Reason: "managed by DaemonSet " + ctrl.Name}, nil
		case !o.Force:
			return PodPlan{Pod: pod, Refuse: true, Reason: "Pods whose DaemonSet is gone (set force to evict them)"}, nil
		default:
			pp.Reason = "its DaemonSet " + ctrl.Name + " is gone"
		}
	}
	// mirrorPodFilter.
	if _, ok := pod.Metadata.Annotations[MirrorPodAnnotation]; ok {
		return PodPlan{Pod: pod, Reason: "mirror pod of a static pod (the kubelet runs it from a file)"}, nil
	}
	// localStorageFilter.
	if hasEmptyDir(pod) && !pod.Finished() {
		if !o.DeleteEmptyDirData {
			return PodPlan{Pod: pod, Refuse: true, Reason: refuseLocalStorage}, nil
		}
		pp.Reason = "its emptyDir data is deleted"
	}
	// unreplicatedFilter.
	if !pod.Finished() && ctrl == nil {
		if !o.Force {
			return PodPlan{Pod: pod, Refuse: true, Reason: refuseUnmanaged}, nil
		}
		pp.Reason = "it declares no controller: nothing recreates it"
	}
	return pp, nil
}

func hasEmptyDir(pod Pod) bool {
	for _, v := range pod.Spec.Volumes {
		if len(v.EmptyDir) > 0 && string(v.EmptyDir) != "null" {
			return true
		}
	}
	return false
}

// EvictionRefusedError says that a PodDisruptionBudget kept refusing a pod's eviction until
// the deadline.
type EvictionRefusedError struct {
	Pod    string // namespace/name
	Budget string // the budget's Summary, or its name from the API server's cause
	Cause  string // the API server's DisruptionBudget cause
	Waited time.Duration
}

func (e *EvictionRefusedError) Error() string {
	msg := fmt.Sprintf("pod %s: the API server refused its eviction for %s because %s forbids it", e.Pod, e.Waited.Round(time.Second), e.Budget)
	if e.Cause != "" {
		msg += " (" + e.Cause + ")"
	}
	return msg
}

// EvictPods evicts pods in parallel, as kubectl does, until deadline: an eviction a budget
// refuses (429) is retried every o.Poll; once accepted, the pod is awaited until it is gone or
// replaced by another with its name (another UID). refused is called with the pod and the
// cause each time a budget refuses, for progress reports. A pod refused until the deadline
// fails with *EvictionRefusedError naming the pod and its budget.
func (c *Client) EvictPods(ctx context.Context, pods []Pod, o DrainOptions, deadline time.Time, refused func(pod, cause string)) error {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	poll := o.Poll
	if poll <= 0 {
		poll = 5 * time.Second
	}
	start := time.Now()
	errs := make([]error, len(pods))
	var wg sync.WaitGroup
	for i := range pods {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = c.evictOne(ctx, pods[i], o.GracePeriod, poll, start, refused)
		}(i)
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (c *Client) evictOne(ctx context.Context, pod Pod, grace int64, poll time.Duration, start time.Time, refused func(pod, cause string)) error {
	key := pod.Key()
	var lastRefusal error
	for {
		err := c.Evict(ctx, pod.Metadata.Namespace, pod.Metadata.Name, grace, false)
		switch {
		case err == nil:
			return c.waitGone(ctx, pod, poll, start)
		case IsNotFound(err):
			return nil
		case IsTooManyRequests(err):
			lastRefusal = err
			if refused != nil {
				refused(key, DisruptionBudgetCause(err))
			}
		case ctx.Err() != nil && lastRefusal != nil:
			return c.refusedError(pod, lastRefusal, time.Since(start))
		default:
			return fmt.Errorf("evict pod %s: %w", key, err)
		}
		select {
		case <-ctx.Done():
			return c.refusedError(pod, lastRefusal, time.Since(start))
		case <-time.After(poll):
		}
	}
}

// refusedError names the budget that covers pod (read again now, for its current status).
func (c *Client) refusedError(pod Pod, refusal error, waited time.Duration) error {
	e := &EvictionRefusedError{Pod: pod.Key(), Cause: DisruptionBudgetCause(refusal), Waited: waited, Budget: "a PodDisruptionBudget"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if budgets, err := c.ListPodDisruptionBudgets(ctx, pod.Metadata.Namespace); err == nil {
		var names []string
		for i := range budgets {
			if budgets[i].Selects(&pod) {
				names = append(names, budgets[i].Summary())
			}
		}
		if len(names) > 0 {
			e.Budget = strings.Join(names, " and ")
		}
	}
	return e
}

// waitGone polls until the pod is deleted or its name holds another pod (kubectl drain.go
// waitForDelete).
func (c *Client) waitGone(ctx context.Context, pod Pod, poll time.Duration, start time.Time) error {
	interval := min(poll, time.Second)
	for {
		p, err := c.GetPod(ctx, pod.Metadata.Namespace, pod.Metadata.Name)
		switch {
		case IsNotFound(err):
			return nil
		case err == nil && p.Metadata.UID != pod.Metadata.UID:
			return nil
		case err != nil && ctx.Err() == nil:
			return fmt.Errorf("wait for evicted pod %s to terminate: %w", pod.Key(), err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pod %s: evicted, but still terminating after %s (is the node's kubelet running?)", pod.Key(), time.Since(start).Round(time.Second))
		case <-time.After(interval):
		}
	}
}
