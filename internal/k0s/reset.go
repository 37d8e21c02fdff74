package k0s

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/business-operations/bo.microvm/internal/command"
	"github.com/business-operations/bo.microvm/internal/step"
)

// Reset leaves the node clean of k0s: it leaves etcd (a controller that is a member, unless it
// is the only one), stops k0s, runs `k0s reset` (data dir, unit of a generic install), and
// removes the token file and a k0s.yaml this module wrote. It needs force (the module's
// force_reset) because it destroys the node's cluster data. The binary stays. A reboot clears
// what k0s reset cannot (mounts, CNI interfaces): RebootRequired says so.
func Reset(ctx context.Context, env Env, o Options, force, check bool) (*Result, error) {
	o = o.withDefaults()
	if !force {
		return nil, errors.New("state: reset destroys this node's k0s data; set force_reset: true to confirm")
	}
	o, st, err := resolveAndGather(ctx, env, o)
	if err != nil {
		return nil, err
	}
	k0s := func(args ...string) command.Cmd { return command.Cmd{Name: o.Binary, Args: args} }
	run := func(c command.Cmd) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := env.Run.Run(ctx, c)
			return err
		}
	}
	isController := st.Status != nil && st.Status.RunningRole().IsController()
	member := st.Binary && st.Running && isController && st.EtcdMember
	steps := []step.Step{{
		Title: "Leave etcd",
		Check: func(ctx context.Context) (bool, string, error) {
			if !member {
				return false, "not a running etcd member", nil
			}
			// The last member cannot leave: etcd refuses to remove it ("re-configuration failed
			// due to not enough started members", observed with k0s v1.35.3+k0s.0), and there
			// is no cluster left to leave. k0s etcd member-list prints {"members":{name:peerURL}}
			// (k0s v1.35.3+k0s.0 cmd/etcd/list.go).
			n, err := etcdMembers(ctx, env, o)
			if err != nil {
				return false, "", err
			}
			if n <= 1 {
				return false, "the only etcd member: there is no cluster to leave", nil
			}
			return true, fmt.Sprintf("a running controller and one of %d etcd members", n), nil
		},
		Do: run(k0s("etcd", "leave", "--data-dir="+o.DataDir)),
	}}
	stop := step.Step{Title: "Stop k0s", Check: decided(st.Running, "running", "not running")}
	if o.ServiceMode == ServiceNixOS {
		stop.Do = run(command.Cmd{Name: "systemctl", Args: []string{"stop", o.ServiceName + ".service"}})
	} else {
		stop.Do = run(k0s("stop"))
	}
	steps = append(steps, stop)
	dirty := st.HasData() || env.exists(o.DataDir) || (o.ServiceMode == ServiceGeneric && st.Installed)
	steps = append(steps, step.Step{Title: "Reset k0s (k0s reset)",
		Check: decided(st.Binary && dirty, "the node holds k0s data or a k0s unit", "nothing to reset"),
		Do:    run(k0s("reset", "--data-dir="+o.DataDir))})
	tokenThere := env.exists(o.TokenFile)
	steps = append(steps, step.Step{Title: "Remove " + o.TokenFile, Check: decided(tokenThere, "present", "absent"),
		Do: func(context.Context) error { return os.Remove(env.path(o.TokenFile)) }})
	ours := strings.HasPrefix(string(st.Config), ConfigHeader)
	steps = append(steps, step.Step{Title: "Remove " + o.ConfigPath,
		Check: decided(ours, "written by this module", "absent or not written by this module"),
		Do:    func(context.Context) error { return os.Remove(env.path(o.ConfigPath)) }})
	res := &Result{ConfigBefore: string(st.Config)}
	if !ours {
		res.ConfigAfter = string(st.Config)
	}
	err = step.Run(ctx, steps, check, &res.Report)
	res.RebootRequired = res.Changed
	// The facts say what is true now: before the steps in check mode, after them (also
	// after a failed one) otherwise.
	res.Facts = Facts{Role: string(o.Role), Version: st.Version, Running: st.Running, Joined: st.HasData(), ClusterCA: st.CA, Binary: o.Binary, ServiceMode: o.ServiceMode}
	if st.Status != nil && o.Role == "" {
		res.Facts.Role = string(st.Status.RunningRole())
	}
	if !check {
		if after, gerr := Gather(ctx, env, o); gerr == nil {
			res.Facts.Version, res.Facts.Running, res.Facts.Joined, res.Facts.ClusterCA = after.Version, after.Running, after.HasData(), after.CA
		}
	}
	return res, err
}

// etcdMembers is how many members `k0s etcd member-list` names.
func etcdMembers(ctx context.Context, env Env, o Options) (int, error) {
	out, err := env.Run.Run(ctx, command.Cmd{Name: o.Binary, Args: []string{"etcd", "member-list", "--data-dir=" + o.DataDir}})
	if err != nil {
		return 0, fmt.Errorf("list the etcd members: %w", err)
	}
	var doc struct {
		Members map[string]string `json:"members"`
	}
	if err := json.Unmarshal(out.Stdout, &doc); err != nil {
		return 0, fmt.Errorf("read `k0s etcd member-list`: %w (output: %q)", err, command.Tail(string(out.Stdout), 3))
	}
	return len(doc.Members), nil
}

// TokenResult is what the token state did on the bootstrap controller.
type TokenResult struct {
	Result
	Token       CreatedToken
	Invalidated []string
}

// Tokens creates a join token for role (when role is not empty) and invalidates the tokens
// with the IDs given, on the running controller this runs on. Invalidating reads `k0s token
// list` first: k0s answers "deleted successfully" for IDs that never existed, so only the
// listed ones count as a change. In check mode it creates and invalidates nothing and
// reports that it would.
func Tokens(ctx context.Context, env Env, o Options, role string, expiry string, invalidate []string, check bool) (*TokenResult, error) {
	o = o.withDefaults()
	o, st, err := resolveAndGather(ctx, env, o)
	if err != nil {
		return nil, err
	}
	res := &TokenResult{}
	d, err := parseExpiry(expiry)
	if err != nil {
		return nil, err
	}
	for _, id := range invalidate {
		if !(check && id == CheckModeTokenID) && !tokenID.MatchString(id) {
			return nil, fmt.Errorf("invalidate_tokens: %q is not a join token ID (6 lower-case letters or digits, the part before the dot)", id)
		}
	}
	up := st.Running && st.Status.RunningRole().IsController()
	if !check && !up {
		return nil, errors.New("join tokens are made on a running controller: run state: present with bootstrap: true here first")
	}
	var present []string
	steps := []step.Step{
		{Title: strings.TrimSpace("Invalidate join tokens " + strings.Join(invalidate, ", ")),
			Check: func(ctx context.Context) (bool, string, error) {
				if len(invalidate) == 0 {
					return false, "none given", nil
				}
				if !up {
					present = invalidate
					return true, "k0s is not running yet (check mode): the real run invalidates those it lists", nil
				}
				listed, err := ListTokens(ctx, env, o)
				if err != nil {
					return false, "", err
				}
				for _, id := range invalidate {
					if _, ok := listed[id]; ok || id == CheckModeTokenID {
						present = append(present, id)
					}
				}
				if len(present) == 0 {
					return false, "k0s token list names none of them: already invalidated or expired", nil
				}
				return true, "k0s still lists " + strings.Join(present, ", "), nil
			},
			Do: func(ctx context.Context) error { return InvalidateTokens(ctx, env, o, present) }},
		{Title: strings.Join(strings.Fields("Create a "+role+" join token"), " "), Check: decided(role != "", "a node will join as "+role, "no token_role given"),
			Do: func(ctx context.Context) error {
				t, err := CreateToken(ctx, env, o, role, d)
				res.Token = t
				return err
			}},
	}
	err = step.Run(ctx, steps, check, &res.Report)
	if check && role != "" {
		// Check mode creates nothing; the placeholder ID lets a playbook's later
		// invalidation task plan what the real run will do.
		res.Token = CreatedToken{ID: CheckModeTokenID, Role: role}
	}
	if err == nil && !check {
		res.Invalidated = present
		if res.Token.ID != "" {
			// What k0s recorded as the expiry (`k0s token list`), for the facts.
			if listed, lerr := ListTokens(ctx, env, o); lerr == nil {
				res.Token.ExpiresAt = listed[res.Token.ID].ExpiresAt
			}
		}
	}
	res.Facts = Facts{Version: st.Version, Running: st.Running, Joined: st.HasData(), ClusterCA: st.CA, Binary: o.Binary, ServiceMode: o.ServiceMode}
	if st.Status != nil {
		res.Facts.Role = string(st.Status.RunningRole())
	}
	return res, err
}

// CheckModeTokenID is the token ID check mode reports for a token it would create.
const CheckModeTokenID = "(check mode: not created)"

// Ready runs only the waits o.Wait names and changes nothing: the playbook's last step,
// once every node has joined. It needs no role (it takes the running one; a role given must
// be the running one) and no api_address; the charts it waits for are those of the node's
// k0s.yaml, which k0s turns into Chart objects.
func Ready(ctx context.Context, env Env, o Options, check bool) (*Result, error) {
	o = o.withDefaults()
	o, err := o.resolve(env)
	if err != nil {
		return nil, err
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	st, err := Gather(ctx, env, o)
	if err != nil {
		return nil, err
	}
	if err := needBinary(o, st); err != nil {
		return nil, err
	}
	switch {
	case st.Running:
		rr := st.Status.RunningRole()
		if o.Role != "" && o.Role != rr {
			return nil, fmt.Errorf("k0s runs here as %s, but role is %s: the waits would look for what this node does not run (e.g. a Node of a controller without --enable-worker); set role to %s or leave it out", rr, o.Role, rr)
		}
		o.Role = rr
	case !check:
		return nil, errors.New("k0s is not running here: run state: present first")
	}
	if o.Wait == nil {
		o.Wait = []string{WaitNode}
		if o.Role.IsController() {
			o.Wait = []string{WaitAPI}
		}
	}
	w := &waiter{env: env, o: o}
	if st.Config != nil {
		w.charts, err = configCharts(st.Config)
	} else {
		w.charts, err = optionCharts(o.Cluster)
	}
	if err != nil {
		return nil, err
	}
	res := &Result{ConfigBefore: string(st.Config), ConfigAfter: string(st.Config)}
	err = step.Run(ctx, w.steps(), check, &res.Report)
	res.Facts = facts(ctx, env, o, st, check)
	return res, err
}

// resolveAndGather is what Reset and Tokens do first: o with its service mode and binary
// settled for this machine (resolve) and the node's state read with them.
func resolveAndGather(ctx context.Context, env Env, o Options) (Options, State, error) {
	o, err := o.resolve(env)
	if err != nil {
		return o, State{}, err
	}
	st, err := Gather(ctx, env, o)
	return o, st, err
}
