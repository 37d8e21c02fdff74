//go:build fastpath

package fastpath

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
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

// zst is data compressed by the zstd CLI (Go's standard library has no zstd writer), as the
// action plugin compresses it.
func zst(t *testing.T, data []byte) []byte {
	t.Helper()
	cmd := exec.Command("zstd", "-q", "-c")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	require.NoError(t, err, "zstd (the zstd package, .ci/deps)")
	return out
}

// unzst is what the zstd CLI unpacks from data.
func unzst(t *testing.T, data []byte) []byte {
	t.Helper()
	cmd := exec.Command("zstd", "-dcq")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	require.NoError(t, err)
	return out
}

// codecs are the streams a first task can send: zstd where the target and the controller
// have zstd (this machine has), gzip where the target has only gzip.
var codecs = []struct{ name, suffix, unpack string }{
	{"zstd", ".zst", "zstd -dcq"},
	{"gzip", ".gz", "gzip -dc"},
}

// compress is data as the stream of codec.
func compress(t *testing.T, codec string, data []byte) []byte {
	if codec == "zstd" {
		return zst(t, data)
	}
	return gz(t, data)
}

// streamPath is where the action plugin keeps the controller's compressed copy of the build.
func streamPath(home, sha, suffix string) string {
	return filepath.Join(home, "bo.microvm", "bo_microvm_linux_"+runtime.GOARCH+"-"+sha+suffix)
}

// pathWithout makes PATH a directory of links to the tools the playbooks and the fast path's
// commands use, less the ones named: a target (and, with the local connection, a
// controller) without them.
func pathWithout(t *testing.T, missing ...string) {
	t.Helper()
	bin := t.TempDir()
	for _, tool := range []string{"sh", "bash", "dirname", "readlink", "uname", "stat", "head", "cat", "chmod", "mkdir",
		"mv", "rm", "tee", "sha256sum", "flock", "sleep", "id", "python3", "ansible-playbook", "gzip", "zstd"} {
		if slices.Contains(missing, tool) {
			continue
		}
		p, err := exec.LookPath(tool)
		require.NoError(t, err, tool)
		require.NoError(t, os.Symlink(p, filepath.Join(bin, tool)))
	}
	t.Setenv("PATH", bin)
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
	for _, c := range codecs {
		good := compress(t, c.name, data)
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
			{"another program", "sha256 differs", compress(t, c.name, evil)},
			{"not compressed at all", "did not unpack", evil},
		} {
			t.Run(c.name+", "+tc.name, func(t *testing.T) {
				if c.name == "gzip" {
					pathWithout(t, "zstd")
				}
				home := t.TempDir()
				t.Setenv("ANSIBLE_HOME", home)
				planted := streamPath(home, sha, c.suffix)
				require.NoError(t, os.MkdirAll(filepath.Dir(planted), 0o700))
				require.NoError(t, os.WriteFile(planted, tc.stream, 0o600))
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
				s := section(r.out, "TASK [ping]", "TASK [dump]")
				assert.Equal(t, 3, ops(s), "try, the refused stream, the fresh one")
				assert.Contains(t, s, c.unpack+" ||", "the stream is %s", c.name)
				b, err := os.ReadFile(mvLog)
				require.NoError(t, err)
				assert.Len(t, strings.Split(strings.TrimSpace(string(b)), "\n"), 2, "one install (copy and seal) renamed anything: %s", b)
				assert.Empty(t, cacheLeftovers(t, cache), "no temporary file is left")
				got, err := os.ReadFile(cacheFile(t, cache))
				require.NoError(t, err)
				assert.Equal(t, sha, fmt.Sprintf("%x", sha256.Sum256(got)), "the cache holds the build")

				// The controller's copy was replaced by one that unpacks to the build.
				fresh, err := os.ReadFile(planted)
				require.NoError(t, err)
				var unpacked []byte
				if c.name == "zstd" {
					unpacked = unzst(t, fresh)
				} else {
					zr, err := gzip.NewReader(bytes.NewReader(fresh))
					require.NoError(t, err)
					unpacked, err = io.ReadAll(zr)
					require.NoError(t, err)
				}
				assert.Equal(t, sha, fmt.Sprintf("%x", sha256.Sum256(unpacked)))
			})
		}
	}
}

// TestATeeThatFailsNeverPasses: the stream is unpacked through tee into the cache file and
// into sha256sum at once, so a tee that cannot write the whole file (disk full) still hands
// sha256sum every byte. A tee that writes half the file, passes the stream on and fails
// (as GNU tee does on a write error) must not install or run that half: its failure adds a
// byte to what is hashed. The task then takes the plain path.
func TestATeeThatFailsNeverPasses(t *testing.T) {
	_, sha := built(t)
	t.Setenv("ANSIBLE_HOME", t.TempDir())
	realTee, err := exec.LookPath("tee")
	require.NoError(t, err)
	// The shim passes every byte on, leaves 4 KiB in the file and fails.
	shim(t, "tee", "case \"$1\" in */bo-microvm/.bo_microvm.*) "+realTee+" \"$1.full\"; head -c 4096 \"$1.full\" > \"$1\"; rm -f \"$1.full\"; exit 1;; esac\nexec "+realTee+" \"$@\"\n")
	cache := t.TempDir()
	r := playbook(t, cache, nil, pingTask)
	assert.Equal(t, "pong", r.results["ping"]["ping"], "the plain path ran the module")
	s := section(r.out, "TASK [ping]", "TASK [dump]")
	said(t, s, "sha256 differs")
	said(t, s, "cache install failed")
	m, err := filepath.Glob(filepath.Join(cache, "bo-microvm", "bo_microvm-"+sha+"*"))
	require.NoError(t, err)
	assert.Empty(t, m, "nothing was installed")
	assert.Empty(t, cacheLeftovers(t, cache), "no temporary file is left")
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

// TestATargetWithoutZstdGetsGzipAndOneWithoutEitherTheBinaryAsBuilt: the miss reports which
// unpackers are on the target's PATH; zstd is used where the target (and the controller) has
// it, else gzip, else the stream is the binary itself.
func TestATargetWithoutZstdGetsGzipAndOneWithoutEitherTheBinaryAsBuilt(t *testing.T) {
	built(t) // make build first
	for _, tc := range []struct {
		name, unpack string
		missing      []string
	}{
		{"zstd and gzip", "zstd -dcq", nil},
		{"gzip only", "gzip -dc", []string{"zstd"}},
		{"neither", "cat", []string{"zstd", "gzip"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("ANSIBLE_HOME", t.TempDir())
			pathWithout(t, tc.missing...)
			cache := t.TempDir()
			r := playbook(t, cache, nil, pingTask)
			assert.Equal(t, "pong", r.results["ping"]["ping"])
			s := section(r.out, "TASK [ping]", "TASK [dump]")
			assert.Equal(t, 2, ops(s), "try, then install and run")
			assert.Contains(t, s, "{ { "+tc.unpack+" || echo U", "the stream is unpacked by %s, read to its end", tc.unpack)
			for _, other := range []string{"zstd -dcq", "gzip -dc"} {
				if other != tc.unpack {
					assert.NotContains(t, s, other)
				}
			}
			cacheFile(t, cache)
		})
	}
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
