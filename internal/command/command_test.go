package command

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExecKeepsExitCodeAndStderrTail(t *testing.T) {
	_, err := Exec{}.Run(context.Background(), Cmd{Name: "sh", Args: []string{"-c", "echo one >&2; echo two >&2; exit 3"}})
	var ce *Error
	require.True(t, errors.As(err, &ce))
	assert.Equal(t, 3, ce.ExitCode)
	assert.Contains(t, ce.Error(), "one\ntwo")
	rc, _, stderr := ce.CommandResult()
	assert.Equal(t, 3, rc)
	assert.Equal(t, "one\ntwo\n", stderr)
}

func TestExecPassesStdinNotArgv(t *testing.T) {
	out, err := Exec{}.Run(context.Background(), Cmd{Name: "cat", Stdin: []byte("secret")})
	require.NoError(t, err)
	assert.Equal(t, "secret", string(out.Stdout))
}

func TestFakeFailsLoudlyOnUnexpectedCommands(t *testing.T) {
	var f Fake
	f.Expect(Expect{Match: "nix build", Prefix: true, Stdout: "ok"})
	out, err := f.Run(context.Background(), Cmd{Name: "nix", Args: []string{"build", "x"}})
	require.NoError(t, err)
	assert.Equal(t, "ok", string(out.Stdout))
	_, err = f.Run(context.Background(), Cmd{Name: "rm", Args: []string{"-rf", "/"}})
	assert.ErrorContains(t, err, `unexpected command "rm -rf /"`)
	assert.Equal(t, []string{"nix build x", "rm -rf /"}, f.Calls())
}

func TestFakeAnswersExitCodesAsErrors(t *testing.T) {
	var f Fake
	f.Expect(Expect{Match: "false", Exit: 1, Stderr: "boom", Times: 1})
	_, err := f.Run(context.Background(), Cmd{Name: "false"})
	var ce *Error
	require.True(t, errors.As(err, &ce))
	assert.Equal(t, 1, ce.ExitCode)
	_, err = f.Run(context.Background(), Cmd{Name: "false"})
	assert.ErrorContains(t, err, "unexpected command", "Times limits how often an expectation matches")
}

func TestTailKeepsTheLastNonEmptyLines(t *testing.T) {
	assert.Equal(t, "c\nd", Tail("a\nb\n\nc\nd\n\n", 2))
	assert.Equal(t, "", Tail("", 3))
}
