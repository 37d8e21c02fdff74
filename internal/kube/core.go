package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// The typed core objects below hold only the fields bo.microvm's node handling reads (drain,
// readiness); their JSON names are the Kubernetes API's (k8s.io/api core/v1, policy/v1).

// ObjectMeta is the part of metadata the typed objects read.
type ObjectMeta struct {
	Name              string            `json:"name"`
	Namespace         string            `json:"namespace,omitempty"`
	UID               string            `json:"uid,omitempty"`
	ResourceVersion   string            `json:"resourceVersion,omitempty"`
	Generation        int64             `json:"generation,omitempty"`
	Labels            map[string]string `json:"labels,omitempty"`
	Annotations       map[string]string `json:"annotations,omitempty"`
	OwnerReferences   []OwnerReference  `json:"ownerReferences,omitempty"`
	DeletionTimestamp string            `json:"deletionTimestamp,omitempty"`
}

// OwnerReference is one metadata.ownerReferences entry.
type OwnerReference struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	Controller *bool  `json:"controller,omitempty"`
}

// ControllerOf returns the owner reference marked controller, as metav1.GetControllerOf does,
// or nil.
func (m ObjectMeta) ControllerOf() *OwnerReference {
	for i := range m.OwnerReferences {
		if r := m.OwnerReferences[i]; r.Controller != nil && *r.Controller {
			return &m.OwnerReferences[i]
		}
	}
	return nil
}

// Condition is one status.conditions entry of a Node or Pod.
type Condition struct {
	Type               string `json:"type"`
	Status             string `json:"status"`
	Reason             string `json:"reason,omitempty"`
	Message            string `json:"message,omitempty"`
	LastHeartbeatTime  string `json:"lastHeartbeatTime,omitempty"`
	LastTransitionTime string `json:"lastTransitionTime,omitempty"`
}

func condition(list []Condition, typ string) (Condition, bool) {
	for _, c := range list {
		if c.Type == typ {
			return c, true
		}
	}
	return Condition{}, false
}

// Node is a core/v1 Node.
type Node struct {
	Metadata ObjectMeta `json:"metadata"`
	Spec     struct {
		Unschedulable bool `json:"unschedulable,omitempty"`
	} `json:"spec"`
	Status struct {
		Conditions []Condition `json:"conditions,omitempty"`
		NodeInfo   struct {
			// BootID is what the kubelet read from /proc/sys/kernel/random/boot_id; it changes on
			// every boot (kubernetes/kubernetes 8340f5a9 pkg/kubelet/nodestatus/setters.go,
			// MachineInfo: node.Status.NodeInfo.BootID = info.BootID).
			BootID         string `json:"bootID,omitempty"`
			KubeletVersion string `json:"kubeletVersion,omitempty"`
		} `json:"nodeInfo"`
	} `json:"status"`
}

// Ready returns the node's Ready condition (a missing one has status "Unknown").
func (n *Node) Ready() Condition {
	if c, ok := condition(n.Status.Conditions, "Ready"); ok {
		return c
	}
	return Condition{Type: "Ready", Status: "Unknown", Reason: "NoReadyCondition", Message: "the node reports no Ready condition"}
}

// Pod is a core/v1 Pod.
type Pod struct {
	Metadata ObjectMeta `json:"metadata"`
	Spec     struct {
		NodeName                      string `json:"nodeName,omitempty"`
		TerminationGracePeriodSeconds *int64 `json:"terminationGracePeriodSeconds,omitempty"`
		Volumes                       []struct {
			Name     string          `json:"name"`
			EmptyDir json.RawMessage `json:"emptyDir,omitempty"`
		} `json:"volumes,omitempty"`
	} `json:"spec"`
	Status struct {
		Phase      string      `json:"phase,omitempty"`
		Conditions []Condition `json:"conditions,omitempty"`
	} `json:"status"`
}

// Key is namespace/name.
func (p *Pod) Key() string { return p.Metadata.Namespace + "/" + p.Metadata.Name }

// Finished reports a pod in phase Succeeded or Failed.
func (p *Pod) Finished() bool { return p.Status.Phase == "Succeeded" || p.Status.Phase == "Failed" }

// LabelSelector is a metav1.LabelSelector.
type LabelSelector struct {
	MatchLabels      map[string]string `json:"matchLabels,omitempty"`
	MatchExpressions []struct {
		Key      string   `json:"key"`
		Operator string   `json:"operator"`
		Values   []string `json:"values,omitempty"`
	} `json:"matchExpressions,omitempty"`
}

// Empty reports a selector with no requirement.
func (s *LabelSelector) Empty() bool {
	return s == nil || (len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0)
}

// Matches evaluates the selector as metav1.LabelSelectorAsSelector does (matchLabels and the
// In, NotIn, Exists, DoesNotExist operators, all ANDed). An empty selector matches everything
// here; PodDisruptionBudget.Selects adds the eviction rule that an empty one matches nothing.
// An unknown operator matches nothing (LabelSelectorAsSelector fails on it).
func (s *LabelSelector) Matches(labels map[string]string) bool {
	if s == nil {
		return true
	}
	for k, v := range s.MatchLabels {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	for _, e := range s.MatchExpressions {
		got, has := labels[e.Key]
		in := false
		for _, v := range e.Values {
			if has && got == v {
				in = true
			}
		}
		switch e.Operator {
		case "In":
			if !in {
				return false
			}
		case "NotIn":
			if in {
				return false
			}
		case "Exists":
			if !has {
				return false
			}
		case "DoesNotExist":
			if has {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// PodDisruptionBudget is a policy/v1 PodDisruptionBudget.
type PodDisruptionBudget struct {
	Metadata ObjectMeta `json:"metadata"`
	Spec     struct {
		Selector       *LabelSelector `json:"selector,omitempty"`
		MinAvailable   any            `json:"minAvailable,omitempty"`
		MaxUnavailable any            `json:"maxUnavailable,omitempty"`
	} `json:"spec"`
	Status struct {
		ObservedGeneration int64 `json:"observedGeneration,omitempty"`
		DisruptionsAllowed int32 `json:"disruptionsAllowed"`
		CurrentHealthy     int32 `json:"currentHealthy"`
		DesiredHealthy     int32 `json:"desiredHealthy"`
		ExpectedPods       int32 `json:"expectedPods"`
	} `json:"status"`
}

// Selects reports whether the budget covers pod, as the eviction subresource decides it: same
// namespace, and a selector that is not empty and matches the pod's labels (kubernetes/kubernetes
// 01aa0f3f pkg/registry/core/pod/storage/eviction.go, getPodDisruptionBudgets: "a PDB with a
// nil or empty selector ... should match nothing").
func (b *PodDisruptionBudget) Selects(pod *Pod) bool {
	return b.Metadata.Namespace == pod.Metadata.Namespace && !b.Spec.Selector.Empty() && b.Spec.Selector.Matches(pod.Metadata.Labels)
}

// Summary says the budget's state in one line, e.g. "PodDisruptionBudget web/web (disruptions
// allowed 0, healthy 1 of 1 desired, 1 expected)".
func (b *PodDisruptionBudget) Summary() string {
	s := b.Status
	return fmt.Sprintf("PodDisruptionBudget %s/%s (disruptions allowed %d, healthy %d of %d desired, %d expected pods)",
		b.Metadata.Namespace, b.Metadata.Name, s.DisruptionsAllowed, s.CurrentHealthy, s.DesiredHealthy, s.ExpectedPods)
}

// GetNode reads one Node; a missing one is an error IsNotFound recognises.
func (c *Client) GetNode(ctx context.Context, name string) (*Node, error) {
	var n Node
	if err := c.Do(ctx, http.MethodGet, "/api/v1/nodes/"+url.PathEscape(name), "", nil, &n); err != nil {
		return nil, err
	}
	return &n, nil
}

// SetUnschedulable cordons (true) or uncordons (false) a node with a merge patch of
// spec.unschedulable, the field kubectl cordon/uncordon patch (kubernetes/kubectl dee3483a
// pkg/drain/cordon.go, PatchOrReplaceWithContext); uncordon removes the field, as kubectl's
// two-way patch of the omitempty false does.
func (c *Client) SetUnschedulable(ctx context.Context, name string, unschedulable bool) (*Node, error) {
	var v any
	if unschedulable {
		v = true
	}
	body, err := json.Marshal(map[string]any{"spec": map[string]any{"unschedulable": v}})
	if err != nil {
		return nil, err
	}
	var n Node
	if err := c.Do(ctx, http.MethodPatch, "/api/v1/nodes/"+url.PathEscape(name), "application/merge-patch+json", body, &n); err != nil {
		return nil, err
	}
	return &n, nil
}

// ListPodsOnNode lists the pods of every namespace bound to node (field selector
// spec.nodeName, in chunks of 500 with continue tokens, as kubectl drain lists them:
// kubernetes/kubectl dee3483a pkg/drain/drain.go GetPodsForDeletion).
func (c *Client) ListPodsOnNode(ctx context.Context, node string) ([]Pod, error) {
	var out []Pod
	cont := ""
	for {
		q := url.Values{"fieldSelector": {"spec.nodeName=" + node}, "limit": {"500"}}
		if cont != "" {
			q.Set("continue", cont)
		}
		var list struct {
			Metadata struct {
				Continue string `json:"continue"`
			} `json:"metadata"`
			Items []Pod `json:"items"`
		}
		if err := c.Do(ctx, http.MethodGet, "/api/v1/pods?"+q.Encode(), "", nil, &list); err != nil {
			return nil, err
		}
		out = append(out, list.Items...)
		if list.Metadata.Continue == "" {
			return out, nil
		}
		cont = list.Metadata.Continue
	}
}

// GetPod reads one pod; a missing one is an error IsNotFound recognises.
func (c *Client) GetPod(ctx context.Context, namespace, name string) (*Pod, error) {
	var p Pod
	if err := c.Do(ctx, http.MethodGet, "/api/v1/namespaces/"+url.PathEscape(namespace)+"/pods/"+url.PathEscape(name), "", nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// DaemonSetExists reports whether apps/v1 DaemonSet namespace/name exists.
func (c *Client) DaemonSetExists(ctx context.Context, namespace, name string) (bool, error) {
	err := c.Do(ctx, http.MethodGet, "/apis/apps/v1/namespaces/"+url.PathEscape(namespace)+"/daemonsets/"+url.PathEscape(name), "", nil, nil)
	if IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// ListPodDisruptionBudgets lists the policy/v1 budgets of one namespace.
func (c *Client) ListPodDisruptionBudgets(ctx context.Context, namespace string) ([]PodDisruptionBudget, error) {
	var list struct {
		Items []PodDisruptionBudget `json:"items"`
	}
	if err := c.Do(ctx, http.MethodGet, "/apis/policy/v1/namespaces/"+url.PathEscape(namespace)+"/poddisruptionbudgets", "", nil, &list); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// IsTooManyRequests reports a 429, which the eviction subresource answers when a
// PodDisruptionBudget forbids the eviction now (kubernetes/kubernetes 01aa0f3f
// pkg/registry/core/pod/storage/eviction.go, checkAndDecrement).
func IsTooManyRequests(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Code == http.StatusTooManyRequests
}

// DisruptionBudgetCause is the message of a 429's DisruptionBudget cause ("The disruption
// budget web needs 1 healthy pods and has 1 currently"), or "".
func DisruptionBudgetCause(err error) string {
	var se *StatusError
	if !errors.As(err, &se) {
		return ""
	}
	for _, c := range se.Causes {
		if c.Type == "DisruptionBudget" {
			return c.Message
		}
	}
	return ""
}

// Evict asks the policy/v1 Eviction subresource of a pod to delete it, which the API server
// does only when no PodDisruptionBudget forbids it. gracePeriod < 0 keeps the pod's own
// terminationGracePeriodSeconds; dryRun asks the server to decide without deleting. The answer
// is nil (accepted: the pod is being deleted), or a *StatusError: 429 (IsTooManyRequests, with
// DisruptionBudgetCause) when a budget forbids it now, 404 when the pod is gone, 500 when more
// than one budget covers the pod.
func (c *Client) Evict(ctx context.Context, namespace, name string, gracePeriod int64, dryRun bool) error {
	opts := map[string]any{}
	if gracePeriod >= 0 {
		opts["gracePeriodSeconds"] = gracePeriod
	}
	if dryRun {
		opts["dryRun"] = []string{"All"}
	}
	body, err := json.Marshal(map[string]any{
		"apiVersion":    "policy/v1",
		"kind":          "Eviction",
		"metadata":      map[string]any{"name": name, "namespace": namespace},
		"deleteOptions": opts,
	})
	if err != nil {
		return err
	}
	return c.Do(ctx, http.MethodPost, "/api/v1/namespaces/"+url.PathEscape(namespace)+"/pods/"+url.PathEscape(name)+"/eviction", "application/json", body, nil)
}
