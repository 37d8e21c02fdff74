//go:build flux

package flux_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// The suite's age key pair, made with Debian's age-keygen once per test binary: the real
// kustomize-controller decrypts with it, so it must be a real key.
var (
	ageOnce          sync.Once
	testAgeKey       string // AGE-SECRET-KEY-1...
	testAgeRecipient string // age1...
	ageErr           error
)

func ensureAgeKey(t *testing.T) {
	t.Helper()
	ageOnce.Do(func() {
		out, err := exec.Command("age-keygen").Output()
		if err != nil {
			ageErr = err
			return
		}
		for _, line := range strings.Split(string(out), "\n") {
			switch {
			case strings.HasPrefix(line, "# public key: "):
				testAgeRecipient = strings.TrimPrefix(line, "# public key: ")
			case strings.HasPrefix(line, "AGE-SECRET-KEY-1"):
				testAgeKey = line
			}
		}
	})
	require.NoError(t, ageErr, "age-keygen (Debian's age)")
	require.NotEmpty(t, testAgeKey)
	require.NotEmpty(t, testAgeRecipient)
}

// testSopsValue is the clear text of the SOPS-encrypted Secret in the site repository.
const testSopsValue = "sops-decrypted-value-91c4e2"

// addEncryptedSecret writes clusters/lab/secret.enc.yaml, a Secret default/sops-test whose data
// is encrypted with the built sops for the suite's age recipient, and returns the ciphertext.
func addEncryptedSecret(t *testing.T, siteDir, sopsBin string) string {
	t.Helper()
	work := t.TempDir() // no .sops.yaml above it
	plain := filepath.Join(work, "secret.yaml")
	require.NoError(t, os.WriteFile(plain, []byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: sops-test\n  namespace: default\ntype: Opaque\nstringData:\n  password: "+testSopsValue+"\n"), 0o600))
	cmd := exec.Command(sopsBin, "--encrypt", "--age", testAgeRecipient, "--encrypted-regex", "^(data|stringData)$", plain)
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "SOPS_AGE_KEY_FILE=/dev/null")
	out, err := cmd.Output()
	require.NoError(t, err, "sops --encrypt")
	require.NotContains(t, string(out), testSopsValue, "sops left the value in clear text")
	require.Contains(t, string(out), "ENC[AES256_GCM")
	require.NoError(t, os.WriteFile(filepath.Join(siteDir, "clusters/lab/secret.enc.yaml"), out, 0o644))
	return string(out)
}
