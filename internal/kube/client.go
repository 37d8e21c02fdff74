package kube

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// Client talks to one API server. Build it with Load; its zero value is not usable.
type Client struct {
	Server string
	HTTP   *http.Client
	token  string

	mu        sync.Mutex
	discovery map[string][]apiResource // group/version -> resources
}

// Object is a Kubernetes object as generic JSON.
type Object map[string]any

// Ref names one object.
type Ref struct {
	APIVersion, Kind, Namespace, Name string
}

func (r Ref) String() string {
	if r.Namespace == "" {
		return fmt.Sprintf("%s %s", r.Kind, r.Name)
	}
	return fmt.Sprintf("%s %s/%s", r.Kind, r.Namespace, r.Name)
}

// Ref returns the reference of o from its apiVersion, kind and metadata.
func (o Object) Ref() Ref {
	return Ref{APIVersion: o.Str("apiVersion"), Kind: o.Str("kind"), Namespace: o.Str("metadata", "namespace"), Name: o.Str("metadata", "name")}
}

// Get returns the value at path, or nil.
func (o Object) Get(path ...string) any {
	return Dig(map[string]any(o), path...)
}

// Str returns the string at path, or "".
func (o Object) Str(path ...string) string {
	s, _ := o.Get(path...).(string)
	return s
}

// Map returns the map at path, or nil.
func (o Object) Map(path ...string) map[string]any {
	m, _ := o.Get(path...).(map[string]any)
	return m
}

// Condition returns the status condition of the given type (status, reason, message), and
// whether it exists.
func (o Object) Condition(typ string) (status, reason, message string, ok bool) {
	list, _ := o.Get("status", "conditions").([]any)
	for _, c := range list {
		m, _ := c.(map[string]any)
		if m["type"] == typ {
			status, _ = m["status"].(string)
			reason, _ = m["reason"].(string)
			message, _ = m["message"].(string)
			return status, reason, message, true
		}
	}
	return "", "", "", false
}

// StatusError is an API server answer other than 2xx, with the Status object's reason and message.
type StatusError struct {
	Method, Path string
	Code         int
	Reason       string
	Message      string
	// Causes are the Status object's details.causes (e.g. an Eviction's DisruptionBudget cause).
	Causes []StatusCause
}

// StatusCause is one entry of a Status object's details.causes (metav1.StatusCause: its
// "reason" field is the cause type).
type StatusCause struct {
	Type    string `json:"reason"`
	Message string `json:"message"`
	Field   string `json:"field"`
}

func (e *StatusError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Code)
	}
	return fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.Path, e.Code, e.Reason, msg)
}

// IsNotFound reports whether err is a 404 from the API server.
func IsNotFound(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Code == http.StatusNotFound
}

// IsConflict reports whether err is a 409 (already exists, or an apply conflict).
func IsConflict(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Code == http.StatusConflict
}

// IsInvalid reports whether err is a 422 (the API server's validation refused the object, e.g.
// a change of an immutable field).
func IsInvalid(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Code == http.StatusUnprocessableEntity
}

// Do sends one request to the API server and decodes a JSON answer into out (when not nil).
func (c *Client) Do(ctx context.Context, method, path, contentType string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.Server, "/")+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(c.token))
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return statusError(method, path, resp.StatusCode, data)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

// statusError is the *StatusError of an answer with status code, from its Status object.
func statusError(method, path string, code int, data []byte) *StatusError {
	se := &StatusError{Method: method, Path: path, Code: code}
	var st struct {
		Reason, Message string
		Details         struct {
			Causes []StatusCause `json:"causes"`
		} `json:"details"`
	}
	if json.Unmarshal(data, &st) == nil {
		se.Reason, se.Message, se.Causes = st.Reason, st.Message, st.Details.Causes
	}
	return se
}

type apiResource struct {
	Name       string `json:"name"`
	Kind       string `json:"kind"`
	Namespaced bool   `json:"namespaced"`
}

// ResetDiscovery forgets the cached API discovery, e.g. after new CRDs became Established.
func (c *Client) ResetDiscovery() {
	c.mu.Lock()
	c.discovery = nil
	c.mu.Unlock()
}

// resource finds the REST resource of a kind by API discovery (cached per group/version). A
// kind missing from a cached list is looked up again once: the list may have been read while
// the CRDs of that group were still being established.
func (c *Client) resource(ctx context.Context, apiVersion, kind string) (apiResource, error) {
	for attempt := 0; attempt < 2; attempt++ {
		c.mu.Lock()
		list, cached := c.discovery[apiVersion]
		c.mu.Unlock()
		if !cached {
			path := "/apis/" + apiVersion
			if apiVersion == "v1" {
				path = "/api/v1"
			}
			var doc struct {
				Resources []apiResource `json:"resources"`
			}
			if err := c.Do(ctx, http.MethodGet, path, "", nil, &doc); err != nil {
				if IsNotFound(err) {
					return apiResource{}, fmt.Errorf("the API server does not serve %s (is its CRD installed?): %w", apiVersion, err)
				}
				return apiResource{}, err
			}
			list = doc.Resources
			c.mu.Lock()
			if c.discovery == nil {
				c.discovery = map[string][]apiResource{}
			}
			c.discovery[apiVersion] = list
			c.mu.Unlock()
		}
		for _, r := range list {
			if r.Kind == kind && !strings.Contains(r.Name, "/") {
				return r, nil
			}
		}
		if !cached {
			break
		}
		c.mu.Lock()
		delete(c.discovery, apiVersion)
		c.mu.Unlock()
	}
	return apiResource{}, fmt.Errorf("the API server serves no kind %s in %s (is its CRD installed?)", kind, apiVersion)
}

// Path returns the REST path of ref (its collection when Name is empty).
func (c *Client) Path(ctx context.Context, ref Ref) (string, error) {
	r, err := c.resource(ctx, ref.APIVersion, ref.Kind)
	if err != nil {
		return "", err
	}
	p := "/apis/" + ref.APIVersion
	if ref.APIVersion == "v1" {
		p = "/api/v1"
	}
	if r.Namespaced {
		if ref.Namespace == "" {
			return "", fmt.Errorf("%s is namespaced: give it a namespace", ref)
		}
		p += "/namespaces/" + url.PathEscape(ref.Namespace)
	}
	p += "/" + r.Name
	if ref.Name != "" {
		p += "/" + url.PathEscape(ref.Name)
	}
	return p, nil
}

// Get reads one object. A missing object is an error that IsNotFound recognises.
func (c *Client) Get(ctx context.Context, ref Ref) (Object, error) {
	p, err := c.Path(ctx, ref)
	if err != nil {
		return nil, err
	}
	var o Object
	if err := c.Do(ctx, http.MethodGet, p, "", nil, &o); err != nil {
		return nil, err
	}
	return o, nil
}

// Create creates obj; an existing object is an error that IsConflict recognises.
func (c *Client) Create(ctx context.Context, obj Object) (Object, error) {
	ref := obj.Ref()
	ref.Name = ""
	p, err := c.Path(ctx, ref)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var out Object
	return out, c.Do(ctx, http.MethodPost, p, "application/json", body, &out)
}

// Apply server-side applies obj as fieldManager, forcing conflicts (the manager owns the
// fields it sets, as `kubectl apply --server-side --force-conflicts` does).
func (c *Client) Apply(ctx context.Context, obj Object, fieldManager string) (Object, error) {
	p, err := c.Path(ctx, obj.Ref())
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	q := "?fieldManager=" + url.QueryEscape(fieldManager) + "&force=true"
	var out Object
	return out, c.Do(ctx, http.MethodPatch, p+q, "application/apply-patch+yaml", body, &out)
}

// MergePatch applies a JSON merge patch to ref (or to its status subresource when
// subresource is "status").
func (c *Client) MergePatch(ctx context.Context, ref Ref, subresource string, patch any) (Object, error) {
	p, err := c.Path(ctx, ref)
	if err != nil {
		return nil, err
	}
	if subresource != "" {
		p += "/" + subresource
	}
	body, err := json.Marshal(patch)
	if err != nil {
		return nil, err
	}
	var out Object
	return out, c.Do(ctx, http.MethodPatch, p, "application/merge-patch+json", body, &out)
}

// Delete deletes ref; a missing object is not an error.
func (c *Client) Delete(ctx context.Context, ref Ref) error {
	p, err := c.Path(ctx, ref)
	if err != nil {
		return err
	}
	if err := c.Do(ctx, http.MethodDelete, p, "", nil, nil); err != nil && !IsNotFound(err) {
		return err
	}
	return nil
}
