//go:build fastpath

package fastpath

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The first task on a host is two commands: the try (a miss), then one command that takes
// the binary's stream and the module's arguments on one stdin, unpacks, verifies, installs
// and runs it. The stream comes from the controller's copy in $ANSIBLE_HOME/bo.microvm/,
// which is not trusted: these tests plant bad ones there.

// built is the binary of this machine's architecture and its sha256 as make wrote it.
func built(t *testing.T) (data []byte, sha string) {
	t.Helper()
	bin := filepath.Join(repoDir(), "plugins", "modules", ".bin", "bo_microvm_linux_"+runtime.GOARCH)
	data, err := os.ReadFile(bin)
	require.NoError(t, err, "make build first")
	s, err := os.ReadFile(bin + ".sha256")
	require.NoError(t, err)
	return data, strings.Fields(string(s))[0]
}

func gz(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, err := w.Write(data)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return b.Bytes()
}

// streamPath is where the action plugin keeps the controller's compressed copy of the build.
func streamPath(home, sha string) string {
	return filepath.Join(home, "bo.microvm", "bo_microvm_linux_"+runtime.GOARCH+"-"+sha+".gz")
}

// shim puts an executable script named name first in PATH for the playbooks this test runs.
func shim(t *testing.T, name, script string) {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+script), 0o755))
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
}

// cacheLeftovers are the cache directory's files other than the copy, its seal and the lock.
func cacheLeftovers(t *testing.T, cache string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(cache, "bo-microvm"))
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		if n := e.Name(); n != ".lock" && !strings.HasPrefix(n, "bo_microvm-") {
			out = append(out, n)
		}
	}
	return out
}

func TestABadStreamIsNeverExecutedAndLeavesNoCacheEntry(t *testing.T) {
	data, sha := built(t)
	good := gz(t, data)
	marker := filepath.Join(t.TempDir(), "bad-stream-ran")
	evil := []byte("#!/bin/sh\ntouch " + marker + "\necho '{\"ping\": \"evil\"}'\n")
	flipped := append([]byte(nil), good...)
	flipped[len(flipped)/2] ^= 0xff
	for _, tc := range []struct {
		name, why string
		stream    []byte
	}{
		{"truncated", "did not unpack", good[:len(good)/2]},
		{"corrupted", "did not unpack", flipped},
		{"another program", "sha256 differs", gz(t, evil)},
		{"not gzip at all", "did not unpack", evil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			t.Setenv("ANSIBLE_HOME", home)
			require.NoError(t, os.MkdirAll(filepath.Dir(streamPath(home, sha)), 0o700))
			require.NoError(t, os.WriteFile(streamPath(home, sha), tc.stream, 0o600))
			// Every rename into the cache is logged: the bad stream must never be renamed into place.
			realMv, err := exec.LookPath("mv")
			require.NoError(t, err)
			mvLog := filepath.Join(t.TempDir(), "mv.log")
			shim(t, "mv", "case \"$*\" in *bo_microvm*) echo \"$*\" >> "+mvLog+";; esac\nexec "+realMv+" \"$@\"\n")
			cache := t.TempDir()

			r := playbook(t, cache, nil, pingTask)
			assert.Equal(t, "pong", r.results["ping"]["ping"], "the task runs from a freshly compressed stream")
			assert.NoFileExists(t, marker, "the planted stream never runs")
			said(t, r.out, "failed verification on the target")
			said(t, r.out, tc.why)
			assert.Equal(t, 3, ops(section(r.out, "TASK [ping]", "TASK [dump]")), "try, the refused stream, the fresh one")
			b, err := os.ReadFile(mvLog)
			require.NoError(t, err)
			assert.Len(t, strings.Split(strings.TrimSpace(string(b)), "\n"), 2, "one install (copy and seal) renamed anything: %s", b)
			assert.Empty(t, cacheLeftovers(t, cache), "no temporary file is left")
			got, err := os.ReadFile(cacheFile(t, cache))
			require.NoError(t, err)
			assert.Equal(t, sha, fmt.Sprintf("%x", sha256.Sum256(got)), "the cache holds the build")

			// The controller's copy was replaced by one that unpacks to the build.
			f, err := os.Open(streamPath(home, sha))
			require.NoError(t, err)
			defer f.Close()
			zr, err := gzip.NewReader(f)
			require.NoError(t, err)
			h := sha256.New()
			_, err = io.Copy(h, zr)
			require.NoError(t, err)
			assert.Equal(t, sha, hex.EncodeToString(h.Sum(nil)))
		})
	}
}

// TestTwoFirstTasksAtOnceLeaveOneSealedCopy runs the first task on two inventory hosts that
// are this machine (one cache) at once. A stat(1) first in PATH holds the first install's
// seal for two seconds, so the second install renames its copy while the first has not
// sealed: without the lock around rename and seal, the seal left would be the first's and
// the copy the second's, and the next task would miss again.
func TestTwoFirstTasksAtOnceLeaveOneSealedCopy(t *testing.T) {
	t.Setenv("ANSIBLE_HOME", t.TempDir())
	realStat, err := exec.LookPath("stat")
	require.NoError(t, err)
	held := filepath.Join(t.TempDir(), "held")
	shim(t, "stat", "case \"$*\" in \"-L -c %d:%i:%s:%.9Y:%.9Z /proc/self/fd/3\") mkdir "+held+" 2>/dev/null && sleep 2;; esac\nexec "+realStat+" \"$@\"\n")
	cache := t.TempDir()
	dir := t.TempDir()
	inv := filepath.Join(dir, "hosts")
	require.NoError(t, os.WriteFile(inv, []byte("a ansible_connection=local\nb ansible_connection=local\n"), 0o644))
	pb := "- hosts: a,b\n  gather_facts: false\n  tasks:\n" + pingTask +
		"- hosts: localhost\n  gather_facts: false\n  tasks:\n    - ansible.builtin.copy:\n        dest: " + dir + "/results.json\n" +
		"        content: \"{{ {'a': hostvars.a.r_ping, 'b': hostvars.b.r_ping} | to_json }}\"\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "pb.yml"), []byte(pb), 0o644))
	cmd := exec.Command(filepath.Join(repoDir(), "tests/lab/controller"), "2.14", "ansible-playbook", "-i", inv, "-f", "2", "-vvv", filepath.Join(dir, "pb.yml"))
	cmd.Env = append(os.Environ(), "ANSIBLE_COLLECTIONS_PATH="+filepath.Join(repoDir(), "build/collections"),
		"XDG_CACHE_HOME="+cache, "ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3", "ANSIBLE_NOCOLOR=1",
		"ANSIBLE_LOCAL_TEMP="+filepath.Join(dir, "local"))
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	require.NoError(t, err)
	var res map[string]map[string]any
	require.NoError(t, json.Unmarshal(b, &res))
	for _, h := range []string{"a", "b"} {
		assert.Equal(t, "pong", res[h]["ping"], "host %s", h)
		n := strings.Count(string(out), "\n<"+h+"> EXEC ")
		assert.Equal(t, 2, n, "host %s missed and installed (both installs ran at once)", h)
	}
	require.DirExists(t, held, "the first seal was held")
	assert.Empty(t, cacheLeftovers(t, cache), "no temporary file is left")
	cacheFile(t, cache)

	next := playbook(t, cache, nil, pingTask)
	assert.Equal(t, "pong", next.results["ping"]["ping"])
	assert.Equal(t, 1, ops(section(next.out, "TASK [ping]", "TASK [dump]")), "the copy left matches its seal: the next task is a hit")
}

// TestATargetWithoutGzipGetsTheBinaryAsBuilt: the miss reports whether gzip is on the
// target's PATH; without it the stream is the binary itself.
func TestATargetWithoutGzipGetsTheBinaryAsBuilt(t *testing.T) {
	built(t) // make build first
	t.Setenv("ANSIBLE_HOME", t.TempDir())
	// A PATH of the tools the commands use, without gzip.
	bin := t.TempDir()
	for _, tool := range []string{"sh", "bash", "dirname", "readlink", "uname", "stat", "head", "cat", "chmod", "mkdir",
		"mv", "rm", "sha256sum", "flock", "sleep", "id", "python3", "ansible-playbook"} {
		p, err := exec.LookPath(tool)
		require.NoError(t, err, tool)
		require.NoError(t, os.Symlink(p, filepath.Join(bin, tool)))
	}
	t.Setenv("PATH", bin)
	cache := t.TempDir()
	r := playbook(t, cache, nil, pingTask)
	assert.Equal(t, "pong", r.results["ping"]["ping"])
	s := section(r.out, "TASK [ping]", "TASK [dump]")
	assert.Equal(t, 2, ops(s), "try, then install and run")
	assert.Contains(t, s, `if cat > "$t" && chmod`, "the binary as built is the stream, read to its end")
	assert.NotContains(t, s, "gzip -dc")
	cacheFile(t, cache)
}

// busyboxTarget makes this machine look like a busybox target to a playbook (the lab's
// busybox guest, tests/lab/recipes/guest.sh, which copies /bin/busybox; tests/e2e's
// TestTheFirstTaskOnAGuestAndAHypervisor puts the same busybox into a lab guest): a shell
// (ansible_shell_executable) that is busybox ash. Debian builds it with
// FEATURE_SH_STANDALONE, so its shell runs its own applets before anything in PATH: every tool
// the install command uses (head, gzip, sha256sum, stat, flock, mv, ...) is busybox's. It
// fails unless busybox's head -c reads past its count on a pipe: that is what ate the
// module's arguments when the stream came first and was cut with head -c.
func busyboxTarget(t *testing.T) (shell string) {
	t.Helper()
	bb, err := exec.LookPath("busybox")
	require.NoError(t, err, "busybox (busybox-static, as in the lab's guests)")
	dir := t.TempDir()
	data, err := os.ReadFile(bb)
	require.NoError(t, err)
	box := filepath.Join(dir, "busybox")
	require.NoError(t, os.WriteFile(box, data, 0o755)) // a copy: /tmp is in the 2.19 controller's root too
	shell = filepath.Join(dir, "sh")
	require.NoError(t, os.Symlink(box, shell))

	out, err := exec.Command(shell, "-c", `printf 'ABCDEFGH' | { head -c 2 >/dev/null; cat; }; echo "|$(command -v gzip)|$(command -v head)"`).Output()
	require.NoError(t, err)
	require.Equal(t, "|gzip|head", strings.TrimSpace(string(out)),
		"busybox's head -c over-reads a pipe (nothing is left for cat); gzip and head are the shell's applets")
	return shell
}

// trickyData is a ping argument whose JSON has what a framing by lines or by shell words
// would get wrong: backslashes, quotes, $( ), backquotes, an escaped newline and tab,
// leading and trailing blanks, non-ASCII.
const trickyData = `'  lead \ back \\ "dq" $(false) ` + "`false`" + ` tab	nl\n ünï  '`

func TestTheFirstTaskOnABusyboxAndOnAGNUTargetGetsItsArguments(t *testing.T) {
	for _, ctrl := range controllers(t) {
		for _, target := range []string{"busybox", "GNU"} {
			t.Run("ansible-core "+ctrl+", "+target, func(t *testing.T) {
				t.Setenv("ANSIBLE_HOME", t.TempDir())
				vars := map[string]any{}
				if target == "busybox" {
					vars["ansible_shell_executable"] = busyboxTarget(t)
				}
				cache := t.TempDir()
				tasks := "    - name: ping\n      bo.microvm.ping:\n        data: " + trickyData + "\n      register: r_ping\n" +
					"    - name: again\n      bo.microvm.ping:\n        data: " + trickyData + "\n      register: r_check\n"
				r := playbookWith(t, ctrl, cache, vars, tasks)
				want := strings.Trim(strings.ReplaceAll(trickyData, `\n`, "\\n"), "'")
				assert.Equal(t, want, r.results["ping"]["ping"], "the first task's module got its arguments")
				assert.Equal(t, want, r.results["check"]["ping"], "the second task's too")
				assert.Equal(t, 2, ops(section(r.out, "TASK [ping]", "TASK [again]")), "try, then install and run")
				assert.Equal(t, 1, ops(section(r.out, "TASK [again]", "TASK [dump]")), "a hit")
				if target == "busybox" {
					assert.Contains(t, section(r.out, "TASK [ping]", "TASK [again]"), "EXEC "+vars["ansible_shell_executable"].(string)+" -c")
				}
				cacheFile(t, cache)
			})
		}
	}
}
