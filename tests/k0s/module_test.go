//go:build k0s

package k0s_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var noWaits = map[string]any{"wait_for": []any{}}

func merged(ms ...map[string]any) map[string]any {
	out := map[string]any{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

var bootstrapArgs = map[string]any{"role": "controller+worker", "bootstrap": true, "api_address": "198.18.0.101"}

// TestRolesAgainstTheContractFake walks one cluster through every role's state machine
// without an API: bootstrap, re-run, token, join, re-run, refusal, invalidation.
func TestRolesAgainstTheContractFake(t *testing.T) {
	needRoot(t)
	for _, v := range fakeVersions {
		t.Run(v, func(t *testing.T) { rolesAgainstTheFake(t, v) })
	}
}

func rolesAgainstTheFake(t *testing.T, version string) {
	cp1 := newFakeNode(t, "k0s-cp1", "")
	w1 := newFakeNode(t, "k0s-w1", "")
	cp1.version, w1.version = version, version

	predicted, _ := cp1.run(t, true, merged(bootstrapArgs, noWaits))
	require.NotEqual(t, true, predicted["failed"], "check mode: %v", predicted["msg"])
	_, err := os.Stat(cp1.path("etc/k0s.yaml"))
	assert.True(t, os.IsNotExist(err), "check mode wrote k0s.yaml")
	assert.Empty(t, cp1.argvActing(t), "check mode acted")

	first, _ := cp1.run(t, false, merged(bootstrapArgs, noWaits))
	require.NotEqual(t, true, first["failed"], "bootstrap: %v", first["msg"])
	assert.Equal(t, true, first["changed"])
	assert.Equal(t, changedSteps(predicted), changedSteps(first), "check mode predicts the first run's changes")
	assert.Contains(t, cp1.argv(t), "install controller --data-dir="+cp1.path("data")+" --config="+cp1.path("etc/k0s.yaml")+" --enable-worker=true")
	ca := first["facts"].(map[string]any)["cluster_ca_sha256"].(string)
	require.Len(t, ca, 64)

	again, _ := cp1.run(t, false, merged(bootstrapArgs, noWaits))
	require.NotEqual(t, true, again["failed"], "%v", again["msg"])
	assert.Equal(t, false, again["changed"], "a re-run on the bootstrap controller changes nothing: %v", changedSteps(again))

	tok, tokOut := cp1.run(t, false, map[string]any{"state": "token", "token_role": "worker"})
	require.NotEqual(t, true, tok["failed"], "%v", tok["msg"])
	token := tok["token"].(string)
	secret := tokenSecret(t, token)
	assert.Equal(t, true, tok["bo_microvm_no_log"], "the token result asks the action plugin to hide it from every callback")
	assert.Contains(t, tokOut, tok["token_id"].(string))

	noToken, _ := w1.run(t, false, merged(map[string]any{"role": "worker"}, noWaits))
	assert.Equal(t, true, noToken["failed"])
	assert.Contains(t, noToken["msg"], "no join token was given: pass token")

	joined, joinOut := w1.run(t, false, merged(map[string]any{"role": "worker", "token": token, "cluster_ca_sha256": ca}, noWaits))
	require.NotEqual(t, true, joined["failed"], "join: %v", joined["msg"])
	assert.Equal(t, true, joined["changed"])
	fi, err := os.Stat(w1.path("etc/k0stoken"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	for _, out := range []string{joinOut, strings.Join(w1.argv(t), "\n"), strings.Join(cp1.argv(t), "\n")} {
		assert.NotContains(t, out, token, "the join token leaked")
		assert.NotContains(t, out, secret, "the token secret leaked")
	}
	assert.Contains(t, joinOut, "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER", "the invocation shows the token masked at -vvv")

	rejoin, _ := w1.run(t, false, merged(map[string]any{"role": "worker", "token": token, "cluster_ca_sha256": ca}, noWaits))
	require.NotEqual(t, true, rejoin["failed"], "%v", rejoin["msg"])
	assert.Equal(t, false, rejoin["changed"], "a joined worker is left alone: %v", changedSteps(rejoin))
	later, _ := w1.run(t, false, merged(map[string]any{"role": "worker", "cluster_ca_sha256": ca}, noWaits))
	assert.Equal(t, false, later["changed"], "a joined worker needs no token on later runs: %v", later["msg"])

	inv, _ := cp1.run(t, false, map[string]any{"state": "token", "invalidate_tokens": []any{tok["token_id"]}})
	require.NotEqual(t, true, inv["failed"], "%v", inv["msg"])
	var st struct{ Tokens map[string]any }
	data, err := os.ReadFile(cp1.path("state/state.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &st))
	assert.NotContains(t, st.Tokens, tok["token_id"], "the used token is invalidated")

	roleChange, _ := w1.run(t, false, merged(map[string]any{"role": "controller", "api_address": "198.18.0.101", "cluster_ca_sha256": ca}, noWaits))
	assert.Equal(t, true, roleChange["failed"])
	assert.Contains(t, roleChange["msg"], "changing a node's role is not supported")
}

// TestForeignClusterData: a node that was part of another cluster is refused, and joins after
// force_reset wiped it.
func TestForeignClusterData(t *testing.T) {
	needRoot(t)
	ours := newFakeNode(t, "k0s-cp1", "")
	theirs := newFakeNode(t, "old-cp1", "")
	for _, n := range []*fakeNode{ours, theirs} {
		r, _ := n.run(t, false, merged(bootstrapArgs, noWaits))
		require.NotEqual(t, true, r["failed"], "%v", r["msg"])
	}
	tok, _ := ours.run(t, false, map[string]any{"state": "token", "token_role": "controller"})
	require.NotEqual(t, true, tok["failed"], "%v", tok["msg"])
	ctl := map[string]any{"role": "controller", "token": tok["token"], "api_address": "198.18.0.101"}

	// theirs is stopped first: a stopped node's data is still another cluster's.
	require.NoError(t, os.WriteFile(theirs.path("state/state.json"), []byte(`{"installed":"controller","args":["/usr/local/bin/k0s","controller","--config=`+theirs.path("etc/k0s.yaml")+`","--data-dir=`+theirs.path("data")+`"],"running":false}`), 0o600))
	refused, out := theirs.run(t, false, merged(ctl, noWaits))
	assert.Equal(t, true, refused["failed"])
	assert.Contains(t, refused["msg"], "holds data of another cluster")
	assert.NotContains(t, out, tok["token"])

	wiped, _ := theirs.run(t, false, merged(ctl, noWaits, map[string]any{"force_reset": true}))
	require.NotEqual(t, true, wiped["failed"], "%v", wiped["msg"])
	assert.Equal(t, "changed", steps(wiped)["Wipe the data of another cluster (k0s reset)"])
	assert.Equal(t, "changed", steps(wiped)["Start k0s and join the cluster"])
	_, err := os.Stat(theirs.path("data/pki/admin.conf"))
	assert.NoError(t, err)
}

// TestReset leaves a node clean and is refused without force_reset.
func TestReset(t *testing.T) {
	needRoot(t)
	for _, v := range fakeVersions {
		t.Run(v, func(t *testing.T) { resetOnTheFake(t, v) })
	}
}

func resetOnTheFake(t *testing.T, version string) {
	n := newFakeNode(t, "k0s-cp1", "")
	n.version = version
	r, _ := n.run(t, false, merged(bootstrapArgs, noWaits))
	require.NotEqual(t, true, r["failed"], "%v", r["msg"])

	refused, _ := n.run(t, false, map[string]any{"state": "reset"})
	assert.Equal(t, true, refused["failed"])
	assert.Contains(t, refused["msg"], "force_reset: true")

	reset, _ := n.run(t, false, map[string]any{"state": "reset", "force_reset": true})
	require.NotEqual(t, true, reset["failed"], "%v", reset["msg"])
	assert.Equal(t, true, reset["changed"])
	assert.Equal(t, true, reset["reboot_required"])
	for _, p := range []string{"data", "etc/k0s.yaml", "units/k0scontroller.service"} {
		_, err := os.Stat(n.path(p))
		assert.True(t, os.IsNotExist(err), "%s is left after the reset", p)
	}
	again, _ := n.run(t, false, map[string]any{"state": "reset", "force_reset": true})
	assert.Equal(t, false, again["changed"])
}

// argvActing are the recorded calls that change something.
func (n *fakeNode) argvActing(t *testing.T) []string {
	var out []string
	for _, a := range n.argv(t) {
		if strings.HasPrefix(a, "version") || strings.HasPrefix(a, "status") || strings.HasPrefix(a, "token list") || strings.HasPrefix(a, "etcd member-list") {
			continue
		}
		out = append(out, a)
	}
	return out
}
