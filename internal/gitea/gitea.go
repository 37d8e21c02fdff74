// Package gitea calls the few Gitea REST API endpoints a bootstrap needs: health, the
// authenticated user, access tokens, organisations and repositories. Every answer other than
// the expected status is an *APIError carrying Gitea's own status code and message.
package gitea

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
	"time"
)

// Client reaches one Gitea server at URL (scheme, host and port; no trailing /api).
type Client struct {
	URL  string
	HTTP *http.Client // http.DefaultClient with a 30 s timeout when nil
}

// Auth is how a call authenticates: a token, or a user's password (basic auth, which Gitea
// requires for managing access tokens). The zero value is anonymous.
type Auth struct {
	Token    string
	User     string
	Password string
}

// APIError is an answer Gitea gave with an unexpected status.
type APIError struct {
	Method, Path string
	Code         int
	Message      string
}

func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Code)
	}
	return fmt.Sprintf("gitea %s %s: %d: %s", e.Method, e.Path, e.Code, msg)
}

// StatusCode returns the HTTP status of an *APIError in err's chain, or 0.
func StatusCode(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return 0
}

func (c *Client) do(ctx context.Context, method, path string, auth Auth, in, out any, ok ...int) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.URL, "/")+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch {
	case auth.Token != "":
		req.Header.Set("Authorization", "token "+auth.Token)
	case auth.User != "":
		req.SetBasicAuth(auth.User, auth.Password)
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		// url.Error repeats the URL, which carries no credentials: they are in headers.
		return fmt.Errorf("gitea %s %s: %w", method, path, errors.Unwrap(err))
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	for _, code := range ok {
		if resp.StatusCode == code {
			if out != nil && len(data) > 0 {
				if err := json.Unmarshal(data, out); err != nil {
					return fmt.Errorf("gitea %s %s: decode answer: %w", method, path, err)
				}
			}
			return nil
		}
	}
	ae := &APIError{Method: method, Path: path, Code: resp.StatusCode}
	var m struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(data, &m) == nil && m.Message != "" {
		ae.Message = m.Message
	} else {
		ae.Message = strings.TrimSpace(string(data))
		if len(ae.Message) > 200 {
			ae.Message = ae.Message[:200]
		}
	}
	return ae
}

// Healthy returns nil when GET /api/healthz answers 200.
func (c *Client) Healthy(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/api/healthz", Auth{}, nil, nil, http.StatusOK)
}

// User returns the login of the user auth authenticates as (GET /api/v1/user). A token that
// Gitea does not accept gives an *APIError with code 401 or 403.
func (c *Client) User(ctx context.Context, auth Auth) (string, error) {
	var u struct {
		Login string `json:"login"`
	}
	if err := c.do(ctx, http.MethodGet, "/api/v1/user", auth, nil, &u, http.StatusOK); err != nil {
		return "", err
	}
	return u.Login, nil
}

// CreateToken creates an access token named name for user with the given scopes, using basic
// auth, and returns the token (Gitea shows it once). A name already in use answers 400.
func (c *Client) CreateToken(ctx context.Context, user, password, name string, scopes []string) (string, error) {
	var t struct {
		SHA1 string `json:"sha1"`
	}
	in := map[string]any{"name": name, "scopes": scopes}
	if err := c.do(ctx, http.MethodPost, "/api/v1/users/"+url.PathEscape(user)+"/tokens", Auth{User: user, Password: password}, in, &t, http.StatusCreated); err != nil {
		return "", err
	}
	if t.SHA1 == "" {
		return "", fmt.Errorf("gitea created token %q but returned no token value", name)
	}
	return t.SHA1, nil
}

// DeleteToken deletes user's access token by name; a token that does not exist is not an error.
func (c *Client) DeleteToken(ctx context.Context, user, password, name string) error {
	err := c.do(ctx, http.MethodDelete, "/api/v1/users/"+url.PathEscape(user)+"/tokens/"+url.PathEscape(name), Auth{User: user, Password: password}, nil, nil, http.StatusNoContent)
	if StatusCode(err) == http.StatusNotFound {
		return nil
	}
	return err
}

// Exists reports whether GET path answers 200 (false on 404; an error otherwise).
func (c *Client) exists(ctx context.Context, path string, auth Auth) (bool, error) {
	err := c.do(ctx, http.MethodGet, path, auth, nil, nil, http.StatusOK)
	if err == nil {
		return true, nil
	}
	if StatusCode(err) == http.StatusNotFound {
		return false, nil
	}
	return false, err
}

// OrgExists reports whether the organisation exists.
func (c *Client) OrgExists(ctx context.Context, auth Auth, org string) (bool, error) {
	return c.exists(ctx, "/api/v1/orgs/"+url.PathEscape(org), auth)
}

// CreateOrg creates a private organisation.
func (c *Client) CreateOrg(ctx context.Context, auth Auth, org string) error {
	return c.do(ctx, http.MethodPost, "/api/v1/orgs", auth, map[string]any{"username": org, "visibility": "private"}, nil, http.StatusCreated)
}

// RepoExists reports whether owner/name exists and auth can read it.
func (c *Client) RepoExists(ctx context.Context, auth Auth, owner, name string) (bool, error) {
	return c.exists(ctx, "/api/v1/repos/"+url.PathEscape(owner)+"/"+url.PathEscape(name), auth)
}

// CreateOrgRepo creates an empty private repository in org with the given default branch.
func (c *Client) CreateOrgRepo(ctx context.Context, auth Auth, org, name, branch string) error {
	in := map[string]any{"name": name, "private": true, "auto_init": false, "default_branch": branch}
	return c.do(ctx, http.MethodPost, "/api/v1/orgs/"+url.PathEscape(org)+"/repos", auth, in, nil, http.StatusCreated)
}
