package k0s

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/business-operations/bo.microvm/internal/command"
	"github.com/business-operations/bo.microvm/internal/kube"
)

// JoinToken is what a k0s join token says about the cluster it joins. It never holds the
// secret half of the bootstrap token.
type JoinToken struct {
	ID     string // the bootstrap token ID (the part before "."), safe to log
	API    string // the API URL the joining node will talk to
	CA     string // SHA-256 of the cluster CA
	Server string
}

// ParseToken decodes a k0s join token (base64 of a gzipped kubeconfig). Its errors never
// contain the token.
func ParseToken(token string) (JoinToken, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(token))
	if err != nil {
		return JoinToken{}, errors.New("the join token is not base64: pass the output of `k0s token create` unchanged")
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return JoinToken{}, errors.New("the join token is not a gzipped kubeconfig: pass the output of `k0s token create` unchanged")
	}
	data, err := io.ReadAll(io.LimitReader(zr, 1<<20))
	if err != nil {
		return JoinToken{}, errors.New("the join token is truncated: pass the output of `k0s token create` unchanged")
	}
	kc, err := kube.ParseConfig(data, "")
	if err != nil {
		return JoinToken{}, errors.New("the join token does not hold a kubeconfig: pass the output of `k0s token create` unchanged")
	}
	ep, err := kc.Endpoint()
	if err != nil {
		return JoinToken{}, errors.New("the join token's kubeconfig does not read: pass the output of `k0s token create` unchanged")
	}
	var jt JoinToken
	jt.API = ep.Server
	if jt.CA, err = caFingerprint(ep); err != nil {
		return JoinToken{}, fmt.Errorf("the join token's cluster CA: %w", err)
	}
	jt.ID, _, _ = strings.Cut(ep.Token, ".")
	if jt.ID == "" {
		return JoinToken{}, errors.New("the join token holds no bootstrap token")
	}
	return jt, nil
}

var tokenID = regexp.MustCompile(`^[a-z0-9]{6}$`)

// CreatedToken is a join token made on a controller. Token is the secret.
type CreatedToken struct {
	Token  string
	ID     string
	Role   string
	Expiry time.Duration
	// ExpiresAt is when k0s says the token expires (RFC 3339, from `k0s token list`).
	ExpiresAt string
}

// ListedToken is one row of `k0s token list`.
type ListedToken struct {
	ID, Role, ExpiresAt string
}

// tokenRoles are the roles `k0s token list --role` accepts: it requires one ("unsupported
// role \"\"; supported roles are \"controller\" and \"worker\"" without, k0s v1.35.3+k0s.0,
// although its help says empty lists all).
var tokenRoles = []string{"controller", "worker"}

// ListTokens reads the join tokens the running controller knows, by ID. `k0s token list
// --role=R` prints a table "ID  ROLE  EXPIRES AT" (k0s v1.35.3+k0s.0 cmd/token/list.go
// printTokens: a metav1.Table through a tabwriter; EXPIRES AT is blank for a token that never
// expires), "No k0s join tokens found" when there are none, and nothing when none has the role.
func ListTokens(ctx context.Context, env Env, o Options) (map[string]ListedToken, error) {
	out := map[string]ListedToken{}
	for _, role := range tokenRoles {
		res, err := env.Run.Run(ctx, command.Cmd{Name: o.Binary, Args: []string{"token", "list", "--data-dir=" + o.DataDir, "--role=" + role}})
		if err != nil {
			return nil, fmt.Errorf("list the %s join tokens: %w", role, err)
		}
		for _, t := range parseTokenList(string(res.Stdout)) {
			out[t.ID] = t
		}
	}
	return out, nil
}

func parseTokenList(s string) []ListedToken {
	var out []ListedToken
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || (f[0] == "ID" && f[1] == "ROLE") || !tokenID.MatchString(f[0]) {
			continue
		}
		t := ListedToken{ID: f[0], Role: f[1]}
		if len(f) > 2 {
			t.ExpiresAt = f[2]
		}
		out = append(out, t)
	}
	return out
}

// CreateToken asks the running controller for a join token for role ("worker" or
// "controller"), valid for expiry (0: 10 min for workers, 30 min for controllers, as k0sctl;
// k0s' own default is never). The token comes from stdout, never from argv. It retries for
// two minutes while k0s is not ready yet, and fails with k0s' answer when it never is
// (k0sctl#825: a token that never comes must not be waited on forever).
func CreateToken(ctx context.Context, env Env, o Options, role string, expiry time.Duration) (CreatedToken, error) {
	o = o.withDefaults()
	if role != "worker" && role != "controller" {
		return CreatedToken{}, fmt.Errorf("token role %q is not worker or controller", role)
	}
	if expiry == 0 {
		expiry = DefaultWorkerTTL
		if role == "controller" {
			expiry = DefaultControllerTTL
		}
	}
	cmd := command.Cmd{Name: o.Binary, Args: []string{"token", "create", "--data-dir=" + o.DataDir, "--role=" + role, "--expiry=" + expiry.String()}}
	deadline := env.now().Add(controllerTokenMaxWait)
	for {
		out, err := env.Run.Run(ctx, cmd)
		if err == nil {
			tok := strings.TrimSpace(string(out.Stdout))
			jt, perr := ParseToken(tok)
			if perr != nil {
				return CreatedToken{}, fmt.Errorf("k0s token create answered something that is not a join token: %w", perr)
			}
			return CreatedToken{Token: tok, ID: jt.ID, Role: role, Expiry: expiry}, nil
		}
		if env.now().After(deadline) {
			return CreatedToken{}, fmt.Errorf("create a %s join token: %w", role, err)
		}
		if serr := env.sleep(ctx, o.PollInterval); serr != nil {
			return CreatedToken{}, fmt.Errorf("create a %s join token: %w (last: %v)", role, serr, err)
		}
	}
}

// InvalidateTokens invalidates the join tokens with the given IDs on the running controller,
// once a joining node is up. It needs only the IDs, never the secrets.
func InvalidateTokens(ctx context.Context, env Env, o Options, ids []string) error {
	o = o.withDefaults()
	if len(ids) == 0 {
		return nil
	}
	for _, id := range ids {
		if !tokenID.MatchString(id) {
			return fmt.Errorf("invalidate_tokens: %q is not a join token ID (6 lower-case letters or digits, the part before the dot)", id)
		}
	}
	args := append([]string{"token", "invalidate", "--data-dir=" + o.DataDir}, ids...)
	if _, err := env.Run.Run(ctx, command.Cmd{Name: o.Binary, Args: args}); err != nil {
		return fmt.Errorf("invalidate join tokens %v: %w", ids, err)
	}
	return nil
}

// parseExpiry reads a token expiry such as "10m" or "1h30m"; "" means the role's default.
func parseExpiry(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	// k0s itself accepts a negative --expiry and makes a token that never expires (blank
	// EXPIRES AT in `k0s token list`, observed with v1.35.3+k0s.0): refuse it here.
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("token_expiry %q is not a positive duration such as 10m or 1h (k0s would make a token that never expires from a negative one)", s)
	}
	return d, nil
}
