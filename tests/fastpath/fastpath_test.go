//go:build fastpath

// Package fastpath tests the action plugin's fast path (plugins/plugin_utils/gomodule.py)
// through real ansible-playbook: the content-addressed module cache on the target, its
// refusal rules, become, and parity with ansible-core's plain binary-module path.
package fastpath

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testUser = "bo-fastpath"

type run struct {
	out     string
	results map[string]map[string]any // task name -> registered result
}

// playbook runs tasks on localhost (local connection) and returns the -vvv output and each
// task's registered result, written by a final debug task as JSON.
func playbook(t *testing.T, cache string, vars map[string]any, tasks string) run {
	return playbookWith(t, "2.14", cache, vars, tasks)
}

// controllers are the ansible-core versions to test with: BO_CONTROLLERS, default both; 2.19
// runs through the lab's trixie root (tests/lab/controller), which `tests/lab/lab caches` builds.
func controllers(t *testing.T) []string {
	list := strings.Fields(os.Getenv("BO_CONTROLLERS"))
	if len(list) == 0 {
		list = []string{"2.14", "2.19"}
	}
	for _, c := range list {
		if c != "2.14" {
			if err := exec.Command(filepath.Join(repoDir(), "tests/lab/controller"), c, "true").Run(); err != nil {
				t.Fatalf("controller %s is not available (%v): run tests/lab/lab caches, or set BO_CONTROLLERS", c, err)
			}
		}
	}
	return list
}

func repoDir() string { r, _ := filepath.Abs("../.."); return r }

func playbookWith(t *testing.T, ctrl, cache string, vars map[string]any, tasks string) run {
	t.Helper()
	dir := t.TempDir()
	varsJSON, _ := json.Marshal(vars)
	pb := "- hosts: localhost\n  gather_facts: false\n  vars: " + string(varsJSON) + "\n  tasks:\n" + tasks +
		"    - name: dump\n      ansible.builtin.copy:\n        dest: " + dir + "/results.json\n        content: \"{{ {'ping': r_ping | default({}), 'check': r_check | default({}), 'secret': r_secret | default({}), 'crash': r_crash | default({})} | to_json }}\"\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "pb.yml"), []byte(pb), 0o644))
	cmd := exec.Command(filepath.Join(repoDir(), "tests/lab/controller"), ctrl, "ansible-playbook", "-i", "localhost,", "-c", "local", "-vvv", filepath.Join(dir, "pb.yml"))
	repo, _ := filepath.Abs("../..")
	cmd.Env = append(os.Environ(), "ANSIBLE_COLLECTIONS_PATH="+filepath.Join(repo, "build/collections"),
		"XDG_CACHE_HOME="+cache, "ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3", "ANSIBLE_NOCOLOR=1",
		"ANSIBLE_LOCAL_TEMP="+filepath.Join(dir, "local"))
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	require.NoError(t, err, buf.String())
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	require.NoError(t, err)
	var res map[string]map[string]any
	require.NoError(t, json.Unmarshal(b, &res))
	return run{out: buf.String(), results: res}
}

var execLine = regexp.MustCompile(`(?m)^<localhost> (EXEC|PUT) `)

func ops(out string) int { return len(execLine.FindAllString(out, -1)) }

// cacheFile is the one cached copy of the multi-call binary (every module is in it).
func cacheFile(t *testing.T, cache string) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(cache, "bo-microvm", "bo_microvm-*[0-9a-f]"))
	require.NoError(t, err)
	require.Len(t, m, 1, "one cached copy of the collection's binary")
	return m[0]
}

const pingTask = "    - name: ping\n      bo.microvm.ping:\n      register: r_ping\n"

func TestTheSecondTaskTakesOneRoundTrip(t *testing.T) {
	cache := t.TempDir()
	first := playbook(t, cache, nil, pingTask)
	assert.Equal(t, "pong", first.results["ping"]["ping"])
	second := playbook(t, cache, nil, pingTask)
	assert.Equal(t, "pong", second.results["ping"]["ping"])
	// The dump task (ansible.builtin.copy) adds its own operations; compare the ping task alone.
	assert.Equal(t, 1, ops(section(second.out, "TASK [ping]", "TASK [dump]")), "a cache hit is a single remote command")
	assert.Equal(t, 2, ops(section(first.out, "TASK [ping]", "TASK [dump]")), "a miss: try, then install and run in one command")
	st, err := os.Stat(filepath.Join(cache, "bo-microvm"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), st.Mode().Perm(), "the cache is private")

	// Every module is in the one cached binary: another module's first task is a hit too.
	// (microvm_install without its required name: a result that needs no hypervisor.)
	other := playbook(t, cache, nil, "    - name: other\n      bo.microvm.microvm_install:\n      register: r_check\n      ignore_errors: true\n")
	assert.Equal(t, "missing required arguments: name", other.results["check"]["msg"], "bo.microvm.microvm_install ran")
	assert.Equal(t, 1, ops(section(other.out, "TASK [other]", "TASK [dump]")), "one transfer per host for the whole collection")
	cacheFile(t, cache)
}

func TestATamperedCachedBinaryIsReplacedAndNeverExecuted(t *testing.T) {
	for _, ctrl := range controllers(t) {
		t.Run("ansible-core "+ctrl, func(t *testing.T) { tampered(t, ctrl) })
	}
}

func tampered(t *testing.T, ctrl string) {
	cache := t.TempDir()
	playbookWith(t, ctrl, cache, nil, pingTask)
	f := cacheFile(t, cache)
	marker := filepath.Join(t.TempDir(), "tampered-binary-ran")
	require.NoError(t, os.WriteFile(f, []byte("#!/bin/sh\ntouch "+marker+"\necho '{\"ping\": \"evil\"}'\n"), 0o700))

	r := playbookWith(t, ctrl, cache, nil, pingTask)
	assert.Equal(t, "pong", r.results["ping"]["ping"])
	assert.NoFileExists(t, marker, "the tampered copy must never run")
	b, err := os.ReadFile(f)
	require.NoError(t, err)
	assert.True(t, bytes.HasPrefix(b, []byte("\x7fELF")), "the tampered copy was replaced by the real binary")
}

func TestACacheDirWritableByOthersIsRefused(t *testing.T) {
	cache := t.TempDir()
	playbook(t, cache, nil, pingTask)
	dir := filepath.Join(cache, "bo-microvm")
	require.NoError(t, os.Chmod(dir, 0o777))
	marker := filepath.Join(t.TempDir(), "planted-binary-ran")
	require.NoError(t, os.WriteFile(cacheFile(t, cache), []byte("#!/bin/sh\ntouch "+marker+"\n"), 0o777))

	r := playbook(t, cache, nil, pingTask)
	assert.Equal(t, "pong", r.results["ping"]["ping"], "the task still runs, by plain transfer")
	assert.Contains(t, r.out, "not using the module cache")
	assert.Contains(t, r.out, "PUT ", "plain transfer copies the binary")
	assert.NoFileExists(t, marker)
}

// TestASwapBetweenCheckAndExecRunsTheVerifiedCopy replaces the cached binary after the
// fast path checked it and before it runs: a stat(1) first in PATH does the swap right after
// the last check (the identity of the open file, compared with its seal next). What runs is
// the open, checked file, never the name's new content; the next task finds the new file
// fails its seal and replaces it.
func TestASwapBetweenCheckAndExecRunsTheVerifiedCopy(t *testing.T) {
	cache := t.TempDir()
	playbook(t, cache, nil, pingTask)
	f := cacheFile(t, cache)
	marker := filepath.Join(t.TempDir(), "swapped-binary-ran")
	evil := filepath.Join(t.TempDir(), "evil")
	require.NoError(t, os.WriteFile(evil, []byte("#!/bin/sh\ntouch "+marker+"\necho '{\"ping\": \"evil\"}'\n"), 0o700))
	realStat, err := exec.LookPath("stat")
	require.NoError(t, err)
	bin := t.TempDir()
	swapped := filepath.Join(t.TempDir(), "swapped")
	// Swap once, after the identity stat ('%d:%i:...') has answered: rename a copy of the evil
	// script over the cached name, as an attacker who could write the directory would.
	require.NoError(t, os.WriteFile(filepath.Join(bin, "stat"), []byte("#!/bin/sh\n"+
		"out=$("+realStat+" \"$@\"); rc=$?\n"+
		"case \"$*\" in *%d:%i*) if [ ! -e "+swapped+" ]; then cp "+evil+" "+f+".new && mv -f "+f+".new "+f+" && touch "+swapped+"; fi;; esac\n"+
		"printf '%s\\n' \"$out\"; exit $rc\n"), 0o755))
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))

	r := playbook(t, cache, nil, pingTask)
	require.FileExists(t, swapped, "the swap happened during the task")
	assert.Equal(t, "pong", r.results["ping"]["ping"], "the checked copy ran")
	assert.Equal(t, 1, ops(section(r.out, "TASK [ping]", "TASK [dump]")), "it ran from the cache, in one command")
	assert.NoFileExists(t, marker, "the swapped-in file never runs")

	r = playbook(t, cache, nil, pingTask)
	assert.Equal(t, "pong", r.results["ping"]["ping"])
	assert.NoFileExists(t, marker, "the swapped-in file never runs")
	b, err := os.ReadFile(cacheFile(t, cache))
	require.NoError(t, err)
	assert.True(t, bytes.HasPrefix(b, []byte("\x7fELF")), "the swapped copy fails its seal and is replaced")
}

// TestAWritableAncestorIsRefused puts the cache under a directory others can write (what
// become with -E or doas keepenv makes of a root cache under a user's XDG_CACHE_HOME): the
// cache is refused, the task runs by plain transfer, and a planted binary never runs. A
// sticky world-writable ancestor (/tmp) is fine: nobody else can rename what is in it.
func TestAWritableAncestorIsRefused(t *testing.T) {
	parent := t.TempDir()
	cache := filepath.Join(parent, "user", "cache")
	require.NoError(t, os.MkdirAll(cache, 0o700))
	playbook(t, cache, nil, pingTask)
	f := cacheFile(t, cache)
	marker := filepath.Join(t.TempDir(), "planted-binary-ran")
	require.NoError(t, os.Chmod(filepath.Join(parent, "user"), 0o777))
	require.NoError(t, os.WriteFile(f, []byte("#!/bin/sh\ntouch "+marker+"\n"), 0o700))

	r := playbook(t, cache, nil, pingTask)
	assert.Equal(t, "pong", r.results["ping"]["ping"], "the task still runs, by plain transfer")
	said(t, r.out, "not using the module cache")
	said(t, r.out, filepath.Join(parent, "user")+" (above "+filepath.Join(cache, "bo-microvm")+") is writable by others (mode 777)")
	assert.Contains(t, r.out, "PUT ", "plain transfer copies the binary")
	assert.NoFileExists(t, marker)

	require.NoError(t, os.Chmod(filepath.Join(parent, "user"), 0o777|os.ModeSticky))
	r = playbook(t, cache, nil, pingTask)
	assert.Equal(t, "pong", r.results["ping"]["ping"])
	assert.NotContains(t, r.out, "not using the module cache", "a sticky ancestor is accepted")
	assert.NoFileExists(t, marker, "the planted copy fails its seal and is replaced, never run")
}

// TestAnAncestorOwnedByAnotherUserIsRefused: that user could rename the cache away.
func TestAnAncestorOwnedByAnotherUserIsRefused(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("this test runs as root (CI does): it chowns a directory to another user")
	}
	parent := t.TempDir()
	cache := filepath.Join(parent, "user", "cache")
	require.NoError(t, os.MkdirAll(cache, 0o700))
	require.NoError(t, os.Chown(filepath.Join(parent, "user"), 65534, 65534))
	r := playbook(t, cache, nil, pingTask)
	assert.Equal(t, "pong", r.results["ping"]["ping"])
	said(t, r.out, filepath.Join(parent, "user")+" (above "+filepath.Join(cache, "bo-microvm")+") is owned by uid 65534, neither root nor uid 0")
	m, _ := filepath.Glob(filepath.Join(cache, "bo-microvm", "bo_microvm-*"))
	assert.Empty(t, m, "nothing is installed into a cache another user can move")
}

func TestBecomeToRootAndToAnUnprivilegedUser(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("this test runs as root (CI does): it creates a user and becomes it")
	}
	if _, err := user.Lookup(testUser); err != nil {
		out, err := exec.Command("useradd", "--create-home", "--shell", "/bin/sh", testUser).CombinedOutput()
		require.NoError(t, err, string(out))
	}
	u, err := user.Lookup(testUser)
	require.NoError(t, err)
	for _, fast := range []bool{true, false} {
		tasks := "    - name: ping\n      bo.microvm.ping:\n      become: true\n      become_user: " + testUser + "\n      register: r_ping\n" +
			"    - name: as root\n      bo.microvm.ping:\n      become: true\n      register: r_check\n"
		r := playbook(t, t.TempDir(), map[string]any{"bo_microvm_fast_path": fast}, tasks)
		assert.Equal(t, testUser, r.results["ping"]["user"], "fast=%v", fast)
		assert.Equal(t, "root", r.results["check"]["user"], "fast=%v", fast)
	}
	if _, err := os.Stat(filepath.Join(u.HomeDir, ".cache", "bo-microvm")); err == nil {
		st, _ := os.Stat(filepath.Join(u.HomeDir, ".cache", "bo-microvm"))
		assert.Equal(t, os.FileMode(0o700), st.Mode().Perm(), "the unprivileged user's cache is private to it")
	} else {
		t.Errorf("the unprivileged user has no module cache in its home: %v", err)
	}
}

func TestCheckModeNoLogAndFailuresMatchThePlainPath(t *testing.T) {
	for _, ctrl := range controllers(t) {
		t.Run("ansible-core "+ctrl, func(t *testing.T) { parity(t, ctrl) })
	}
}

func parity(t *testing.T, ctrl string) {
	tasks := pingTask +
		"    - name: check\n      bo.microvm.ping:\n        data: checked\n      check_mode: true\n      register: r_check\n" +
		"    - name: secret\n      bo.microvm.ping:\n        data: s3cr3t-value-42\n      no_log: true\n      register: r_secret\n" +
		"    - name: crash\n      bo.microvm.ping:\n        data: crash\n      register: r_crash\n      ignore_errors: true\n"
	fast := playbookWith(t, ctrl, t.TempDir(), map[string]any{"bo_microvm_fast_path": true}, tasks)
	plain := playbookWith(t, ctrl, t.TempDir(), map[string]any{"bo_microvm_fast_path": false}, tasks)
	assert.Contains(t, plain.out, "PUT ", "the plain path transfers the binary")
	for _, task := range []string{"ping", "check", "secret", "crash"} {
		// The plain path remembers the probed architecture as a fact; that is path metadata.
		delete(plain.results[task], "ansible_facts")
		assert.Equal(t, plain.results[task], fast.results[task], "task %s: fast and plain path give the same result", task)
	}
	assert.Equal(t, true, fast.results["crash"]["failed"])
	for name, r := range map[string]run{"fast": fast, "plain": plain} {
		assert.NotContains(t, strings.ReplaceAll(r.out, "s3cr3t-value-42 }}", ""), "s3cr3t-value-42", "%s path: a no_log value stays out of -vvv output", name)
		assert.Contains(t, r.out, "the output has been hidden due to the fact that 'no_log: true' was specified", name)
	}
}

// said asserts the output holds want, whitespace ignored (ansible wraps warnings at the
// terminal width, also at hyphens).
func said(t *testing.T, out, want string) {
	t.Helper()
	squash := func(s string) string { return strings.Join(strings.Fields(s), "") }
	assert.True(t, strings.Contains(squash(out), squash(want)), "the output does not say %q", want)
}

// section returns the text between two markers of the output.
func section(out, from, to string) string {
	i := strings.Index(out, from)
	if i < 0 {
		return ""
	}
	rest := out[i:]
	if j := strings.Index(rest, to); j >= 0 {
		return rest[:j]
	}
	return rest
}
