package k0s

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/business-operations/bo.microvm/internal/command"
)

// Reset leaves the node clean of k0s: it leaves etcd (a controller that is a member), stops
// k0s, runs `k0s reset` (data dir, unit of a generic install), and removes the token file and
// a k0s.yaml this module wrote. It needs force (the module's force_reset) because it destroys
// the node's cluster data. The binary stays. A reboot clears what k0s reset cannot (mounts,
// CNI interfaces): RebootRequired says so.
func Reset(ctx context.Context, env Env, o Options, force, check bool) (*Result, error) {
	o = o.withDefaults()
	if !force {
		return nil, errors.New("state: reset destroys this node's k0s data; set force_reset: true to confirm")
	}
	st, err := Gather(ctx, env, o)
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
	steps := []Step{
		{Title: "Leave etcd", Run: st.Binary && st.Running && isController && st.EtcdMember,
			Reason: reason(st.Running && isController && st.EtcdMember, "a running controller and etcd member", "not a running etcd member"),
			do:     run(k0s("etcd", "leave", "--data-dir="+o.DataDir))},
	}
	stop := Step{Title: "Stop k0s", Run: st.Running, Reason: reason(st.Running, "running", "not running")}
	if o.ServiceMode == ServiceNixOS {
		stop.do = run(command.Cmd{Name: "systemctl", Args: []string{"stop", o.ServiceName + ".service"}})
	} else {
		stop.do = run(k0s("stop"))
	}
	steps = append(steps, stop)
	dirty := st.HasData() || env.exists(o.DataDir) || (o.ServiceMode == ServiceGeneric && st.Installed)
	steps = append(steps, Step{Title: "Reset k0s (k0s reset)", Run: st.Binary && dirty,
		Reason: reason(dirty, "the node holds k0s data or a k0s unit", "nothing to reset"),
		do:     run(k0s("reset", "--data-dir="+o.DataDir))})
	tokenThere := env.exists(o.TokenFile)
	steps = append(steps, Step{Title: "Remove " + o.TokenFile, Run: tokenThere, Reason: reason(tokenThere, "present", "absent"),
		do: func(context.Context) error { return os.Remove(env.path(o.TokenFile)) }})
	ours := strings.HasPrefix(string(st.Config), ConfigHeader)
	steps = append(steps, Step{Title: "Remove " + o.ConfigPath, Run: ours,
		Reason: reason(ours, "written by this module", "absent or not written by this module"),
		do:     func(context.Context) error { return os.Remove(env.path(o.ConfigPath)) }})
	res := &Result{ConfigBefore: string(st.Config)}
	if !ours {
		res.ConfigAfter = string(st.Config)
	}
	err = runSteps(ctx, steps, check, res)
	res.RebootRequired = res.Changed
	res.Facts = Facts{Role: string(o.Role), Version: st.Version}
	if !check && err == nil {
		after, gerr := Gather(ctx, env, o)
		if gerr == nil {
			res.Facts.Running, res.Facts.Joined = after.Running, after.HasData()
		}
	}
	return res, err
}

func reason(cond bool, yes, no string) string {
	if cond {
		return yes
	}
	return no
}

// TokenResult is what the token state did on the bootstrap controller.
type TokenResult struct {
	Result
	Token       CreatedToken
	Invalidated []string
}

// Tokens creates a join token for role (when role is not empty) and invalidates the tokens
// with the IDs given, on the running controller this runs on. In check mode it creates and
// invalidates nothing and reports that it would.
func Tokens(ctx context.Context, env Env, o Options, role string, expiry string, invalidate []string, check bool) (*TokenResult, error) {
	o = o.withDefaults()
	st, err := Gather(ctx, env, o)
	if err != nil {
		return nil, err
	}
	res := &TokenResult{}
	d, err := parseExpiry(expiry)
	if err != nil {
		return nil, err
	}
	if check {
		// Check mode creates nothing; the placeholder ID lets a playbook's later
		// invalidation task plan what the real run will do.
		if role != "" {
			res.Token.ID = CheckModeTokenID
		}
		for _, id := range invalidate {
			if id != CheckModeTokenID && !tokenID.MatchString(id) {
				return nil, fmt.Errorf("%q is not a join token ID (6 lower-case letters or digits, the part before the dot)", id)
			}
		}
	} else if !st.Running || !st.Status.RunningRole().IsController() {
		return nil, errors.New("join tokens are made on a running controller: run state: present with bootstrap: true here first")
	}
	steps := []Step{
		{Title: "Invalidate join tokens " + strings.Join(invalidate, ", "), Run: len(invalidate) > 0,
			Reason: reason(len(invalidate) > 0, "the nodes they were made for have joined", "none given"),
			do:     func(ctx context.Context) error { return InvalidateTokens(ctx, env, o, invalidate) }},
		{Title: "Create a " + role + " join token", Run: role != "",
			Reason: reason(role != "", "a node will join as "+role, "no token_role given"),
			do: func(ctx context.Context) error {
				t, err := CreateToken(ctx, env, o, role, d)
				res.Token = t
				return err
			}},
	}
	err = runSteps(ctx, steps, check, &res.Result)
	if err == nil && !check && len(invalidate) > 0 {
		res.Invalidated = invalidate
	}
	res.Facts = Facts{Version: st.Version, Running: st.Running, Joined: st.HasData(), ClusterCA: st.CA}
	if st.Status != nil {
		res.Facts.Role = string(st.Status.RunningRole())
	}
	return res, err
}

// CheckModeTokenID is the token ID check mode reports for a token it would create.
const CheckModeTokenID = "(check mode: not created)"

// Ready runs only the waits o.Wait names and changes nothing: the playbook's last step,
// once every node has joined.
func Ready(ctx context.Context, env Env, o Options, check bool) (*Result, error) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	st, err := Gather(ctx, env, o)
	if err != nil {
		return nil, err
	}
	if !check && !st.Running {
		return nil, errors.New("k0s is not running here: run state: present first")
	}
	w := waiter{env: env, o: o}
	var steps []Step
	for _, name := range WaitOrder {
		if contains(o.Wait, name) {
			if s := w.step(name); s.Title != "" {
				steps = append(steps, s)
			}
		}
	}
	res := &Result{ConfigBefore: string(st.Config), ConfigAfter: string(st.Config)}
	err = runSteps(ctx, steps, check, res)
	res.Facts = facts(ctx, env, o, st, check, err == nil)
	return res, err
}
