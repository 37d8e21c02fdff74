//go:build playbooks

package playbooks

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// knownHostsPlay runs bo.microvm.microvm_known_hosts once on the controller with the given
// arguments (JSON) and writes the task's result to out.
const knownHostsPlay = `
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: The action under test
      bo.microvm.microvm_known_hosts: "{{ kh_args }}"
      register: r
      ignore_errors: true
    - name: Keep its result
      ansible.builtin.copy:
        content: "{{ r | to_json }}"
        dest: "{{ kh_out }}"
        mode: "0600"
      check_mode: false
      diff: false
`

// pubKey makes a fresh ed25519 public key, "type base64".
func pubKey(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, "k")).CombinedOutput()
	require.NoError(t, err, "%s", out)
	b, err := os.ReadFile(filepath.Join(dir, "k.pub"))
	require.NoError(t, err)
	f := strings.Fields(string(b))
	return f[0] + " " + f[1]
}

// TestKnownHostsAction runs the action through real ansible-playbook on the controller: it adds
// the VMs' lines once (created 0644, other lines kept), changes nothing the second time,
// predicts in check mode without writing and shows a diff, stops on a changed key leaving the
// file as it was, replaces the key only when asked, forgets names (plain and hashed) when
// asked, and names the argument it refuses.
func TestKnownHostsAction(t *testing.T) {
	dir := t.TempDir()
	kh, out, pb := filepath.Join(dir, "known_hosts"), filepath.Join(dir, "result.json"), filepath.Join(dir, "pb.yml")
	require.NoError(t, os.WriteFile(pb, []byte(knownHostsPlay), 0o644))
	cp1, w1, w1new := pubKey(t), pubKey(t), pubKey(t)
	keys := func(w1key string) []map[string]any {
		return []map[string]any{
			{"vm": "k0s-cp1", "host": "hv1", "names": []string{"198.18.0.101", "k0s-cp1"}, "key": cp1},
			{"vm": "k0s-w1", "host": "hv1", "names": []string{"198.18.0.103", "k0s-w1"}, "key": w1key},
		}
	}
	run := func(args map[string]any, extra ...string) (map[string]any, string) {
		t.Helper()
		vars, err := json.Marshal(map[string]any{"kh_args": args, "kh_out": out})
		require.NoError(t, err)
		log, err := ansiblePlaybook(t, append([]string{"-i", "localhost,", "-e", string(vars), pb}, extra...)...)
		require.NoError(t, err, "%s", log)
		b, err := os.ReadFile(out)
		require.NoError(t, err, "%s", log)
		var r map[string]any
		require.NoError(t, json.Unmarshal(b, &r))
		return r, log
	}
	read := func() string { b, _ := os.ReadFile(kh); return string(b) }

	// Check mode on a missing file: predicts both VMs, writes nothing.
	r, log := run(map[string]any{"path": kh, "keys": keys(w1)}, "--check", "--diff")
	assert.Equal(t, true, r["changed"], log)
	assert.ElementsMatch(t, []any{"k0s-cp1", "k0s-w1"}, r["added"])
	assert.NoFileExists(t, kh, "check mode writes nothing")
	assert.Contains(t, log, "+198.18.0.101,k0s-cp1 "+cp1, "the diff shows the line to add")

	// A file with a comment and another host: both lines added, the others kept byte for byte.
	other := "# site hosts\nhv1.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOther\n"
	require.NoError(t, os.WriteFile(kh, []byte(other), 0o600))
	r, _ = run(map[string]any{"path": kh, "keys": keys(w1)})
	assert.Equal(t, true, r["changed"])
	assert.ElementsMatch(t, []any{"k0s-cp1", "k0s-w1"}, r["added"])
	assert.True(t, strings.HasPrefix(read(), other), "the other lines stay as they were:\n%s", read())
	assert.Contains(t, read(), "198.18.0.103,k0s-w1 "+w1+"\n")
	st, err := os.Stat(kh)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "an existing file keeps its mode")
	written := read()

	// Idempotent.
	r, _ = run(map[string]any{"path": kh, "keys": keys(w1)})
	assert.Equal(t, false, r["changed"])
	assert.Empty(t, r["added"])
	assert.Equal(t, written, read())

	// A changed key is not accepted: the task fails naming the VM, the file stays.
	r, log = run(map[string]any{"path": kh, "keys": keys(w1new)})
	assert.Equal(t, true, r["failed"], log)
	assert.Equal(t, false, r["changed"])
	assert.Contains(t, fmt.Sprint(r["msg"]), "k0s-w1", "the message (a list of lines) names the VM")
	assert.Equal(t, written, read(), "a conflict leaves the file as it was")

	// Asked to replace: check mode predicts it, the run does it, the second run is a no-op.
	r, _ = run(map[string]any{"path": kh, "keys": keys(w1new), "replace": true}, "--check")
	assert.Equal(t, true, r["changed"])
	assert.Equal(t, []any{"k0s-w1"}, r["replaced"])
	assert.Equal(t, written, read(), "check mode writes nothing")
	r, _ = run(map[string]any{"path": kh, "keys": keys(w1new), "replace": true})
	assert.Equal(t, []any{"k0s-w1"}, r["replaced"])
	assert.Contains(t, read(), "198.18.0.103,k0s-w1 "+w1new+"\n")
	assert.NotContains(t, read(), w1)
	r, _ = run(map[string]any{"path": kh, "keys": keys(w1new), "replace": true})
	assert.Equal(t, false, r["changed"])

	// Forget (the destroy role's, after a purge): k0s-w1's names go off every line, a hashed
	// one too (ssh-keygen -H), the lines left without a name go; the rest stays. Check mode
	// predicts it and shows the diff, the run does it, the second run changes nothing.
	hashed, err := exec.Command("sh", "-c", "f=$(mktemp) && echo 'k0s-w1 "+w1new+"' > $f && ssh-keygen -q -H -f $f >/dev/null && head -1 $f; rm -f $f $f.old").Output()
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(hashed), "|1|"), "ssh-keygen -H hashed the name: %q", hashed)
	require.NoError(t, os.WriteFile(kh, []byte(read()+string(hashed)+"other,k0s-w1 "+cp1+"\n"), 0o600))
	before := read()
	want := strings.Replace(strings.Replace(before, "198.18.0.103,k0s-w1 "+w1new+"\n", "", 1), string(hashed), "", 1)
	want = strings.Replace(want, "other,k0s-w1 ", "other ", 1)
	forget := []string{"198.18.0.103", "k0s-w1"}
	r, log = run(map[string]any{"path": kh, "forget": forget}, "--check", "--diff")
	assert.Equal(t, true, r["changed"], log)
	assert.ElementsMatch(t, []any{"198.18.0.103", "k0s-w1"}, r["forgotten"])
	assert.Contains(t, log, "-198.18.0.103,k0s-w1 "+w1new, "the diff shows the line to remove")
	assert.Equal(t, before, read(), "check mode writes nothing")
	r, _ = run(map[string]any{"path": kh, "forget": forget})
	assert.Equal(t, true, r["changed"])
	assert.Equal(t, want, read(), "only k0s-w1's names went")
	assert.Contains(t, read(), "198.18.0.101,k0s-cp1 "+cp1+"\n", "k0s-cp1's line stays")
	r, _ = run(map[string]any{"path": kh, "forget": forget})
	assert.Equal(t, false, r["changed"])
	assert.Empty(t, r["forgotten"])
	// Deployed again with a new key: written without a conflict.
	r, _ = run(map[string]any{"path": kh, "keys": keys(w1)})
	assert.Equal(t, []any{"k0s-w1"}, r["added"])
	assert.Contains(t, read(), "198.18.0.103,k0s-w1 "+w1+"\n")

	// Bad input names the argument.
	for arg, want := range map[string]map[string]any{
		"path is required":       {"keys": keys(w1)},
		"keys must be a list":    {"path": kh, "keys": "k0s-cp1"},
		"keys[0] must be a dict": {"path": kh, "keys": []any{map[string]any{"vm": "k0s-cp1", "key": cp1}}},
		"replace: ":              {"path": kh, "keys": keys(w1), "replace": "perhaps"},
		"forget must be a list":  {"path": kh, "forget": "k0s-w1"},
	} {
		r, log = run(want)
		assert.Equal(t, true, r["failed"], "%s\n%s", arg, log)
		assert.Contains(t, r["msg"], arg, log)
	}
}
