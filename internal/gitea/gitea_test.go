package gitea

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeGitea answers like Gitea for the calls the client makes (status codes and message
// shapes as Gitea 1.26 sends them; the flux suite checks the same calls against real Gitea).
func fakeGitea(t *testing.T) *httptest.Server {
	tokens := map[string]bool{"used": true}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, basic := r.BasicAuth()
		switch {
		case r.URL.Path == "/api/healthz":
			w.WriteHeader(200)
		case r.URL.Path == "/api/v1/user":
			if r.Header.Get("Authorization") != "token good" {
				w.WriteHeader(401)
				_, _ = w.Write([]byte(`{"message":"user does not exist [uid: 0, name: ]"}`))
				return
			}
			_, _ = w.Write([]byte(`{"login":"admin"}`))
		case r.URL.Path == "/api/v1/users/admin/tokens" && r.Method == http.MethodPost:
			if !basic || user != "admin" || pass != "pw" {
				w.WriteHeader(401)
				return
			}
			var in struct{ Name string }
			_ = json.NewDecoder(r.Body).Decode(&in)
			if tokens[in.Name] {
				w.WriteHeader(400)
				_, _ = w.Write([]byte(`{"message":"access token name has been used already"}`))
				return
			}
			tokens[in.Name] = true
			w.WriteHeader(201)
			_, _ = w.Write([]byte(`{"id":1,"name":"` + in.Name + `","sha1":"new-token","token_last_eight":"w-token"}`))
		case r.URL.Path == "/api/v1/users/admin/tokens/used" && r.Method == http.MethodDelete:
			delete(tokens, "used")
			w.WriteHeader(204)
		case r.URL.Path == "/api/v1/users/admin/tokens/missing" && r.Method == http.MethodDelete:
			w.WriteHeader(404)
		case r.URL.Path == "/api/v1/orgs/flux":
			w.WriteHeader(404)
		case r.URL.Path == "/api/v1/repos/flux/lab":
			_, _ = w.Write([]byte(`{}`))
		default:
			w.WriteHeader(500)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestClient(t *testing.T) {
	c := &Client{URL: fakeGitea(t).URL}
	ctx := context.Background()
	tests := []struct {
		name string
		call func() error
		code int
	}{
		{name: "a healthy Gitea answers healthz", call: func() error { return c.Healthy(ctx) }},
		{name: "a rejected token is a 401 APIError with Gitea's message", call: func() error { _, err := c.User(ctx, Auth{Token: "bad"}); return err }, code: 401},
		{name: "a used token name answers 400", call: func() error { _, err := c.CreateToken(ctx, "admin", "pw", "used", []string{"all"}); return err }, code: 400},
		{name: "deleting a token that does not exist is not an error", call: func() error { return c.DeleteToken(ctx, "admin", "pw", "missing") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if tt.code == 0 {
				assert.NoError(t, err)
				return
			}
			assert.Equal(t, tt.code, StatusCode(err))
		})
	}
}

func TestTokenReplacementByNameAvoidsTheUsedNameError(t *testing.T) {
	c := &Client{URL: fakeGitea(t).URL}
	ctx := context.Background()
	require.NoError(t, c.DeleteToken(ctx, "admin", "pw", "used"))
	tok, err := c.CreateToken(ctx, "admin", "pw", "used", []string{"read:user"})
	require.NoError(t, err)
	assert.Equal(t, "new-token", tok)
}

func TestExistenceChecks(t *testing.T) {
	c := &Client{URL: fakeGitea(t).URL}
	ctx := context.Background()
	ok, err := c.OrgExists(ctx, Auth{Token: "good"}, "flux")
	require.NoError(t, err)
	assert.False(t, ok)
	ok, err = c.RepoExists(ctx, Auth{Token: "good"}, "flux", "lab")
	require.NoError(t, err)
	assert.True(t, ok)
	login, err := c.User(ctx, Auth{Token: "good"})
	require.NoError(t, err)
	assert.Equal(t, "admin", login)
}
