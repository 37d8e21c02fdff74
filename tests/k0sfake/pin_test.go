package main_test

import (
	"bytes"
	"compress/gzip"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// captureVersions are the directories under testdata, one per k0s version, each holding what a
// real k0s of that version printed (README.md there: version, commit, command, how).
func captureVersions(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir("testdata")
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	require.NotEmpty(t, out)
	return out
}

func readCapture(t *testing.T, version, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", version, name))
	require.NoError(t, err)
	return string(b)
}

// fakeRun runs the fake, speaking k0s version, with its state in dir and returns stdout,
// stderr and the exit code.
func fakeRun(t *testing.T, bin, version, dir string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "K0S_FAKE_VERSION="+version, "K0S_FAKE_STATE="+filepath.Join(dir, "state"), "K0S_FAKE_ROOT="+filepath.Join(dir, "root"),
		"K0S_FAKE_KUBECONFIG=/nonexistent", "K0S_FAKE_NODE_NAME=k0s-cp1", "K0S_FAKE_API_URL=https://127.0.0.1:6443")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return out.String(), errb.String(), code
}

var (
	tokenIDs = regexp.MustCompile(`(?m)^[a-z0-9]{6}\b`)
	rfc3339  = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`)
)

// sameTable compares token tables with the IDs and times (random, clock) made equal; their
// widths stay, so the tabwriter layout is compared too.
func sameTable(t *testing.T, want, got string) {
	t.Helper()
	norm := func(s string) string {
		return rfc3339.ReplaceAllString(tokenIDs.ReplaceAllString(s, "abcdef"), "2026-01-02T03:04:05Z")
	}
	assert.Equal(t, norm(want), norm(got))
}

func decodeToken(t *testing.T, tok string) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(tok))
	require.NoError(t, err)
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	require.NoError(t, err)
	b, err := io.ReadAll(zr)
	require.NoError(t, err)
	return string(b)
}

// TestTheFakeAnswersAsItsCaptures pins every answer of the contract fake to what a real k0s
// printed, for every k0s version captured (testdata/<version>): a fake answer that differs
// from its capture (or a capture that changes) fails.
func TestTheFakeAnswersAsItsCaptures(t *testing.T) {
	bin := build(t)
	for _, version := range captureVersions(t) {
		t.Run(version, func(t *testing.T) { pinVersion(t, bin, version) })
	}
	t.Run("unknown version", func(t *testing.T) {
		_, errOut, code := fakeRun(t, bin, "v1.0.0", t.TempDir(), "version")
		assert.Equal(t, 2, code)
		assert.Contains(t, errOut, `k0s contract fake: unknown K0S_FAKE_VERSION "v1.0.0"`)
	})
}

func pinVersion(t *testing.T, bin, version string) {
	capture := func(t *testing.T, name string) string { t.Helper(); return readCapture(t, version, name) }
	dir := t.TempDir()
	run := func(args ...string) (string, string, int) { return fakeRun(t, bin, version, dir, args...) }
	write := func(name, content string) string {
		p := filepath.Join(dir, "root", name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return name
	}

	t.Run("version", func(t *testing.T) {
		out, _, code := run("version")
		assert.Equal(t, 0, code)
		assert.Equal(t, capture(t, "version.stdout"), out)
	})
	t.Run("status when k0s does not run", func(t *testing.T) {
		out, errOut, code := run("status", "-o", "json")
		assert.Equal(t, 1, code)
		assert.Empty(t, out)
		assert.Equal(t, capture(t, "status-not-running.stderr"), errOut)
	})
	t.Run("config validate", func(t *testing.T) {
		for _, c := range []struct{ config, stderr string }{
			{"config-validate-valid.yaml", ""},
			{"config-validate-lenient.yaml", ""},
			{"config-validate-module.yaml", ""},
			{"config-validate-unknown-field.yaml", "config-validate-unknown-field.stderr"},
			{"config-validate-provider.yaml", "config-validate-provider.stderr"},
			{"config-validate-address.yaml", "config-validate-address.stderr"},
			{"config-validate-targetns.yaml", "config-validate-targetns.stderr"},
			{"config-validate-release.yaml", "config-validate-release.stderr"},
		} {
			cfg := write(c.config, capture(t, c.config))
			out, errOut, code := run("config", "validate", "--config="+cfg)
			assert.Empty(t, out, c.config)
			if c.stderr == "" {
				assert.Equal(t, 0, code, c.config)
				assert.Empty(t, errOut, c.config)
				continue
			}
			assert.Equal(t, 1, code, c.config)
			assert.Equal(t, capture(t, c.stderr), errOut, c.config)
		}
	})

	// A running controller, as far as the fake keeps one.
	data := filepath.Join(dir, "root", "var/lib/k0s")
	require.NoError(t, os.MkdirAll(filepath.Join(data, "pki"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(data, "pki/ca.crt"), newCAPEM(t), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "state"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "state", "state.json"),
		[]byte(`{"installed":"controller","args":["/usr/local/bin/k0s","controller","--config=/etc/k0s/k0s.yaml","--data-dir=/var/lib/k0s"],"running":true,"pid":4242}`), 0o600))

	t.Run("status of a running controller", func(t *testing.T) {
		out, _, code := run("status", "-o", "json")
		require.Equal(t, 0, code)
		var want, got map[string]any
		require.NoError(t, json.Unmarshal([]byte(capture(t, "status-controller.json")), &want))
		require.NoError(t, json.Unmarshal([]byte(out), &got))
		assert.Equal(t, keys(want), keys(got), "the fields of k0s status -o json")
		for k, v := range want {
			switch k {
			case "Pid", "Args":
				// The process: the fake's own (PPid: k0s never sets it, 0).
				assert.IsType(t, v, got[k], k)
			default:
				assert.Equal(t, v, got[k], k)
			}
		}
	})
	t.Run("a controller k0s install wrote and k0s start started", func(t *testing.T) {
		// Captured for v1.35.3 (hK's by-hand run under systemd): the unit, status, and the
		// answers of install, start and stop around it.
		captured := map[string]bool{"v1.35.3": true}[version]
		want, err := os.ReadFile(filepath.Join("testdata", version, "status-controller-generic.json"))
		require.Equal(t, captured, err == nil, "status-controller-generic.json is captured for %s", version)
		if !captured {
			return
		}
		var capStatus map[string]any
		require.NoError(t, json.Unmarshal(want, &capStatus))
		args := capStatus["Args"].([]any)
		gdir := t.TempDir()
		grun := func(args ...string) (string, string, int) { return fakeRun(t, bin, version, gdir, args...) }
		// refused: the command exits 1 with exactly the captured stderr.
		refused := func(stderr string, args ...string) {
			t.Helper()
			_, errOut, code := grun(args...)
			assert.Equal(t, 1, code, "%v", args)
			assert.Equal(t, capture(t, stderr), errOut, "%v", args)
		}
		cfg := filepath.Join(gdir, "root", "etc/k0s/k0s.yaml")
		require.NoError(t, os.MkdirAll(filepath.Dir(cfg), 0o755))
		require.NoError(t, os.WriteFile(cfg, []byte(capture(t, "config-validate-role-default.yaml")), 0o600))
		var flags []string
		for _, a := range args[2:] {
			flags = append(flags, a.(string))
		}
		// The module's order (installArgs); k0s writes the unit's flags sorted by name.
		out, errOut, code := grun(append([]string{"install", "controller", "--data-dir=/var/lib/k0s", "--config=/etc/k0s/k0s.yaml"}, flags[2:]...)...)
		require.Equal(t, 0, code, errOut)
		assert.Empty(t, out)
		refused("install-installed.stderr", "install", "controller", "--data-dir=/var/lib/k0s", "--config=/etc/k0s/k0s.yaml")
		out, errOut, code = grun("start")
		require.Equal(t, 0, code, errOut)
		assert.Empty(t, out+errOut, "k0s start prints nothing")
		refused("start-running.stderr", "start")

		out, _, code = grun("status", "-o", "json")
		require.Equal(t, 0, code)
		var got map[string]any
		require.NoError(t, json.Unmarshal([]byte(out), &got))
		assert.Equal(t, keys(capStatus), keys(got), "the fields of k0s status -o json")
		for _, k := range []string{"Version", "PPid", "Role", "SysInit", "StubFile", "Output", "Workloads", "SingleNode", "WorkerToAPIConnectionStatus", "Args"} {
			assert.Equal(t, capStatus[k], got[k], k)
		}
		out, errOut, code = grun("stop")
		require.Equal(t, 0, code, errOut)
		assert.Empty(t, out+errOut, "k0s stop prints nothing")
		refused("stop-stopped.stderr", "stop")
	})
	t.Run("status of a running controller+worker", func(t *testing.T) {
		// Captured for v1.34.10 only (the v1.35.3 captures predate this one).
		captured := map[string]bool{"v1.34.10": true}[version]
		_, err := os.Stat(filepath.Join("testdata", version, "status-controller-worker.json"))
		require.Equal(t, captured, err == nil, "status-controller-worker.json is captured for %s", version)
		if !captured {
			return
		}
		state := filepath.Join(dir, "state", "state.json")
		saved, err := os.ReadFile(state)
		require.NoError(t, err)
		defer func() { require.NoError(t, os.WriteFile(state, saved, 0o600)) }()
		require.NoError(t, os.WriteFile(state,
			[]byte(`{"installed":"controller","args":["/usr/local/bin/k0s","controller","--config=/etc/k0s/k0s.yaml","--data-dir=/var/lib/k0s","--enable-worker=true"],"running":true,"pid":4242}`), 0o600))
		out, _, code := run("status", "-o", "json")
		require.Equal(t, 0, code)
		var want, got map[string]any
		require.NoError(t, json.Unmarshal([]byte(capture(t, "status-controller-worker.json")), &want))
		require.NoError(t, json.Unmarshal([]byte(out), &got))
		assert.Equal(t, keys(want), keys(got), "the fields of k0s status -o json")
		for _, k := range []string{"Role", "Workloads", "SingleNode", "WorkerToAPIConnectionStatus", "Version", "SysInit", "StubFile"} {
			assert.Equal(t, want[k], got[k], k)
		}
	})
	t.Run("token list", func(t *testing.T) {
		out, _, code := run("token", "list", "--role=worker")
		assert.Equal(t, 0, code)
		assert.Equal(t, capture(t, "token-list-empty.stdout"), out, "no tokens at all")
		_, errOut, code := run("token", "list")
		assert.Equal(t, 1, code)
		assert.Equal(t, capture(t, "token-list-norole.stderr"), errOut)

		tok, _, code := run("token", "create", "--role=worker", "--expiry=10m")
		require.Equal(t, 0, code)
		out, _, _ = run("token", "list", "--role=worker")
		sameTable(t, capture(t, "token-list-worker.stdout"), out)
		out, _, _ = run("token", "list", "--role=controller")
		assert.Equal(t, capture(t, "token-list-role-none.stdout"), out, "tokens, none of the role")

		id := tokenIDs.FindString(out + capture(t, "token-list-worker.stdout"))
		_ = id
		kc := decodeToken(t, tok)
		wantKC := capture(t, "token-create-worker.kubeconfig")
		norm := func(s string) string {
			s = regexp.MustCompile(`certificate-authority-data: \S+`).ReplaceAllString(s, "certificate-authority-data: CA")
			s = regexp.MustCompile(`server: \S+`).ReplaceAllString(s, "server: URL")
			// The capture's secret is redacted: compare the token's shape, then mask it.
			return regexp.MustCompile(`token: [a-z0-9]{6}\.\S+`).ReplaceAllString(s, "token: abcdef.SECRET")
		}
		assert.Equal(t, norm(wantKC), norm(kc), "the kubeconfig inside a join token")
		assert.Regexp(t, `^[A-Za-z0-9+/=]+\n$`, tok, "one line of standard base64")
		assert.Regexp(t, `(?m)^    token: [a-z0-9]{6}\.[a-z0-9]{16}$`, kc, "a bootstrap token: 6 and 16 of [a-z0-9]")

		never, _, code := run("token", "create", "--role=worker", "--expiry=-1h")
		require.Equal(t, 0, code, "k0s accepts a negative expiry")
		require.NotEmpty(t, never)
		out, _, _ = run("token", "list", "--role=worker")
		lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
		require.Len(t, lines, 3)
		neverID := strings.Fields(decodeToken(t, never)[strings.Index(decodeToken(t, never), "token: ")+7:])[0][:6]
		found := false
		for _, l := range lines[1:] {
			if strings.HasPrefix(l, neverID) {
				found = true
				sameTable(t, strings.Split(strings.TrimRight(capture(t, "token-list-never.stdout"), "\n"), "\n")[1], l)
			}
		}
		assert.True(t, found, "the never-expiring token is listed")
		_, errOut, code = run("token", "create", "--role=worker", "--expiry=bogus")
		assert.Equal(t, 1, code)
		assert.Equal(t, capture(t, "token-create-bad-expiry.stderr"), errOut)
	})
	t.Run("token invalidate", func(t *testing.T) {
		want := capture(t, "token-invalidate-unknown.stdout")
		id := strings.Fields(want)[1]
		out, _, code := run("token", "invalidate", id)
		assert.Equal(t, 0, code)
		assert.Equal(t, want, out, "the same answer for an ID that never existed")
	})
	t.Run("etcd", func(t *testing.T) {
		out, _, code := run("etcd", "member-list")
		require.Equal(t, 0, code)
		var want, got struct{ Members map[string]string }
		require.NoError(t, json.Unmarshal([]byte(capture(t, "etcd-member-list.json")), &want))
		require.NoError(t, json.Unmarshal([]byte(out), &got))
		assert.Equal(t, len(want.Members), len(got.Members), "one member: this controller")
		for _, u := range got.Members {
			assert.Regexp(t, `^https://[0-9.]+:2380$`, u)
		}
		for _, u := range want.Members {
			assert.Regexp(t, `^https://[0-9.]+:2380$`, u)
		}
		_, errOut, code := run("etcd", "leave")
		assert.Equal(t, 1, code)
		lines := strings.Split(strings.TrimRight(capture(t, "etcd-leave-last.stderr"), "\n"), "\n")
		assert.Equal(t, lines[len(lines)-1]+"\n", errOut, "the error line (the log lines before it are left out)")
	})
	t.Run("reset while running", func(t *testing.T) {
		_, errOut, code := run("reset")
		assert.Equal(t, 1, code)
		assert.Equal(t, capture(t, "reset-running.stderr"), errOut)
	})
	t.Run("kubeconfig admin without the admin kubeconfig", func(t *testing.T) {
		want := capture(t, "kubeconfig-admin-missing.stderr")
		dd := regexp.MustCompile(`admin config "(.*)/pki/admin.conf"`).FindStringSubmatch(want)
		require.Len(t, dd, 2)
		_, errOut, code := run("kubeconfig", "admin", "--data-dir="+dd[1])
		assert.Equal(t, 1, code)
		assert.Equal(t, want, errOut)
	})
}

func newCAPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kubernetes-ca"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
