package sshkey

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ssh-keygen is the oracle: OpenSSH must read what GenerateEd25519 writes, and PublicOf and
// Fingerprint must agree with what ssh-keygen says of a key it made itself. openssh-client
// is one of the machine's listed packages (tests/lab/README.md), so a missing ssh-keygen
// fails the test.
func sshKeygen(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ssh-keygen", args...).CombinedOutput()
	require.NoError(t, err, "ssh-keygen %v: %s", args, out)
	return string(out)
}

func TestGeneratedKeyIsReadByOpenSSH(t *testing.T) {
	priv, pub, err := GenerateEd25519(nil, "root@vm")
	require.NoError(t, err)
	assert.NotContains(t, pub.Line(), "PRIVATE")
	p := filepath.Join(t.TempDir(), "ssh_host_ed25519_key")
	require.NoError(t, os.WriteFile(p, priv, 0o600))

	// ssh-keygen -y derives the public key from the private file: it reads the whole file,
	// checkints, padding and all.
	y := strings.Fields(sshKeygen(t, "-y", "-f", p))
	assert.Equal(t, pub.Line(), y[0]+" "+y[1])
	f := strings.Fields(sshKeygen(t, "-l", "-E", "sha256", "-f", p))
	assert.Equal(t, pub.Fingerprint(), f[1], "fingerprint as ssh-keygen -l prints it")
	assert.Equal(t, "(ED25519)", f[len(f)-1])

	got, err := PublicOf(priv)
	require.NoError(t, err)
	assert.Equal(t, pub, got)
}

func TestPublicOfKeysOpenSSHMade(t *testing.T) {
	for _, tc := range []struct{ name, typ, pass string }{
		{"an ed25519 key", "ed25519", ""},
		{"an rsa key", "rsa", ""},
		{"an ecdsa key", "ecdsa", ""},
		{"a passphrase-protected key (the public half is in the clear)", "ed25519", "secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "k")
			sshKeygen(t, "-q", "-t", tc.typ, "-N", tc.pass, "-f", p)
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			got, err := PublicOf(b)
			require.NoError(t, err)
			pubFile, err := os.ReadFile(p + ".pub")
			require.NoError(t, err)
			want, err := ParseLine(string(pubFile))
			require.NoError(t, err)
			assert.Equal(t, want, got)
			f := strings.Fields(sshKeygen(t, "-l", "-E", "sha256", "-f", p+".pub"))
			assert.Equal(t, f[1], got.Fingerprint())
		})
	}
}

func TestPublicOfRejects(t *testing.T) {
	for _, tc := range []struct{ name, file, err string }{
		{"an empty file", "", "not an OpenSSH private key file"},
		{"a PEM RSA key", "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n", "not an OpenSSH private key file"},
		{"a truncated key", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\n-----END OPENSSH PRIVATE KEY-----\n", "read kdf name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := PublicOf([]byte(tc.file))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.err)
		})
	}
}

func TestParseLine(t *testing.T) {
	_, pub, err := GenerateEd25519(nil, "")
	require.NoError(t, err)
	got, err := ParseLine(pub.Line() + " root@vm\n")
	require.NoError(t, err)
	assert.Equal(t, pub, got)
	_, err = ParseLine("ssh-rsa " + strings.Fields(pub.Line())[1])
	assert.ErrorContains(t, err, "not of type ssh-rsa")
	_, err = ParseLine("ssh-ed25519")
	assert.ErrorContains(t, err, "not a public key line")
}
