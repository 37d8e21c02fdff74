package nix

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/business-operations/bo.microvm/internal/command"
)

func TestParseVersionReadsWhatEachNixPrints(t *testing.T) {
	for _, tc := range []struct {
		name, out, want string
	}{
		{"Debian's nix 2.8", "nix (Nix) 2.8.0\n", "2.8.0"},
		{"a current nix", "nix (Nix) 2.24.10\n", "2.24.10"},
		{"Lix", "nix (Lix, like Nix) 2.91.1\nSystem type: x86_64-linux\n", "2.91.1"},
		{"a version without patch level", "nix (Nix) 2.4\n", "2.4.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := ParseVersion(tc.out)
			require.NoError(t, err)
			assert.Equal(t, tc.want, v.String())
		})
	}
	_, err := ParseVersion("command not found")
	assert.ErrorContains(t, err, "cannot read a version")
}

func TestVersionRefusesANixWithoutFlakes(t *testing.T) {
	f := &command.Fake{}
	f.Expect(command.Expect{Match: "nix --version", Stdout: "nix (Nix) 2.3.16\n"})
	_, err := Nix{Runner: f, Bin: "nix"}.Version(context.Background())
	assert.ErrorContains(t, err, "nix 2.3.16 is too old")
}

func TestAttrPathQuotesOnlyWhatNeedsIt(t *testing.T) {
	assert.Equal(t, `path:/srv/site#nixosConfigurations.k0s-cp1.config.microvm.declaredRunner`,
		RunnerInstallable("path:/srv/site", "k0s-cp1"))
	assert.Equal(t, `path:/srv/site#nixosConfigurations."db.1".config.microvm.declaredRunner`,
		RunnerInstallable("path:/srv/site", "db.1"))
	assert.Equal(t, `nixosConfigurations."1vm"`, AttrPath("nixosConfigurations", "1vm"))
}

func TestValidateFlakeRefNamesTheRule(t *testing.T) {
	for _, tc := range []struct{ ref, want string }{
		{"", "must not be empty"},
		{"path:/srv/site#x", "#fragment"},
		{"path:site", "relative local path"},
		{"./site", "relative local path"},
		{"git+file:site?ref=main", "relative local path"},
		{"path:/srv/my site", "whitespace"},
	} {
		assert.ErrorContains(t, ValidateFlakeRef(tc.ref), tc.want, tc.ref)
	}
	for _, ok := range []string{"path:/srv/site", "/srv/site", "git+file:///srv/site?ref=main", "github:org/site", "git+https://git.example/site"} {
		assert.NoError(t, ValidateFlakeRef(ok), ok)
	}
}

func TestBuildReadsTheOutLinkAndPassesTheOptions(t *testing.T) {
	link := filepath.Join(t.TempDir(), "result")
	f := &command.Fake{}
	f.Expect(command.Expect{Match: "nix --extra-experimental-features nix-command flakes build", Prefix: true,
		Do: func(c command.Cmd) (command.Output, error) {
			return command.Output{}, os.Symlink("/nix/store/aaa-runner", link)
		}})
	n := Nix{Runner: f, Bin: "nix", Options: []string{"--option", "substituters", ""}}
	got, err := n.Build(context.Background(), "path:/s#x", link)
	require.NoError(t, err)
	assert.Equal(t, "/nix/store/aaa-runner", got)
	assert.Equal(t, []string{"--extra-experimental-features", "nix-command flakes", "build", "-L", "--out-link", link,
		"--no-write-lock-file", "--option", "substituters", "", "path:/s#x"}, f.Cmds()[0].Args)
}

func TestABuildFailureKeepsTheLogTailButNotTheOptions(t *testing.T) {
	var log strings.Builder
	for i := 0; i < 40; i++ {
		log.WriteString("runner> line\n")
	}
	log.WriteString("error: builder for '/nix/store/x.drv' failed with exit code 1\n")
	f := &command.Fake{}
	f.Expect(command.Expect{Match: "nix", Prefix: true, Exit: 1, Stderr: log.String()})
	n := Nix{Runner: f, Bin: "nix", Options: []string{"--option", "access-tokens", "github.com=SECRET"}}
	_, err := n.Build(context.Background(), "path:/s#x", filepath.Join(t.TempDir(), "result"))
	var ne *Error
	require.ErrorAs(t, err, &ne)
	assert.Equal(t, 1, ne.ExitCode)
	assert.Len(t, strings.Split(ne.Tail, "\n"), TailLines)
	assert.Contains(t, err.Error(), "error: builder for '/nix/store/x.drv' failed")
	assert.NotContains(t, err.Error(), "SECRET")
	assert.NotContains(t, ne.Tail, "SECRET")
}

func TestABuildWithoutOutLinkIsAnError(t *testing.T) {
	f := &command.Fake{}
	f.Expect(command.Expect{Match: "nix", Prefix: true})
	_, err := Nix{Runner: f, Bin: "nix"}.Build(context.Background(), "path:/s#x", filepath.Join(t.TempDir(), "result"))
	assert.ErrorContains(t, err, "left no out-link")
}

func TestOutPathEvaluatesWithoutBuilding(t *testing.T) {
	f := &command.Fake{}
	f.Expect(command.Expect{Match: "nix --extra-experimental-features nix-command flakes eval --raw --no-write-lock-file path:/s#x.outPath",
		Stdout: "/nix/store/bbb-runner"})
	got, err := Nix{Runner: f, Bin: "nix"}.OutPath(context.Background(), "path:/s#x")
	require.NoError(t, err)
	assert.Equal(t, "/nix/store/bbb-runner", got)
}

func TestValidTellsAnUnknownPathFromAFailure(t *testing.T) {
	f := &command.Fake{}
	f.Expect(command.Expect{Match: "nix --extra-experimental-features nix-command flakes path-info /nix/store/good", Stdout: "/nix/store/good\n"})
	f.Expect(command.Expect{Match: "nix --extra-experimental-features nix-command flakes path-info /nix/store/bad", Exit: 1,
		Stderr: "error: path '/nix/store/bad' is not valid"})
	n := Nix{Runner: f, Bin: "nix"}
	ok, err := n.Valid(context.Background(), "/nix/store/good")
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = n.Valid(context.Background(), "/nix/store/bad")
	require.NoError(t, err)
	assert.False(t, ok)
}

func TestABuildStoppedByTheDeadlineSaysSo(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	f := &command.Fake{}
	f.Expect(command.Expect{Match: "nix", Prefix: true, Do: func(c command.Cmd) (command.Output, error) {
		cancel() // as if the deadline passed while nix ran
		return command.Output{Stderr: []byte("building...\n")}, &command.Error{Cmd: c.String(), ExitCode: -1}
	}})
	_, err := Nix{Runner: f, Bin: "nix"}.Build(ctx, "path:/s#x", filepath.Join(t.TempDir(), "result"))
	assert.ErrorContains(t, err, "nix build path:/s#x: stopped: context canceled")
}

func TestDrvInstallableFollowsTheSyntaxOfEachNix(t *testing.T) {
	drv := "/nix/store/ddd-microvm-qemu-a.drv"
	assert.Equal(t, drv, DrvInstallable(drv, Version{Major: 2, Minor: 8}), "2.8: a .drv path means its outputs")
	assert.Equal(t, drv+"^out", DrvInstallable(drv, Version{Major: 2, Minor: 13}))
	assert.Equal(t, drv+"^out", DrvInstallable(drv, Version{Major: 2, Minor: 24, Patch: 10}), "from 2.15 a plain .drv path is the file itself")
}

func TestEvalRunnersKeepsOnlyTheVMsThatEvaluated(t *testing.T) {
	capture, err := os.ReadFile(filepath.Join("testdata", "eval-runners-2.8.json"))
	require.NoError(t, err)
	names := []string{"a", "b.1", "zz"}
	f := &command.Fake{}
	f.Expect(command.Expect{Match: "nix --extra-experimental-features nix-command flakes eval --json --apply " + RunnersExpr(names) + " --no-write-lock-file path:/srv/site#nixosConfigurations",
		Stdout: string(capture)})
	got, err := Nix{Runner: f, Bin: "nix"}.EvalRunners(context.Background(), "path:/srv/site", names)
	require.NoError(t, err)
	assert.Equal(t, map[string]Runner{
		"a":   {DrvPath: "/nix/store/7hwjbmyi0b6hc4imcaxpzy5rwz7ylbx8-microvm-qemu-a.drv", OutPath: "/nix/store/54abig8rplgcivjiikjhnvc7a0nkpg59-microvm-qemu-a"},
		"b.1": {DrvPath: "/nix/store/0cyra1kqxabklpcrjkyc960813jnl4cq-microvm-qemu-b.1.drv", OutPath: "/nix/store/64dndmjz9f1a3q1ml1kdhnrzkhz778ga-microvm-qemu-b.1"},
	}, got, "zz is no VM of the flake: null, left out")
}

func TestFingerprintFollowsTheLockedSource(t *testing.T) {
	capture, err := os.ReadFile(filepath.Join("testdata", "flake-metadata-2.8.json"))
	require.NoError(t, err)
	f := &command.Fake{}
	f.Expect(command.Expect{Match: "nix --extra-experimental-features nix-command flakes flake metadata --json path:/tmp/h16t/site --no-write-lock-file", Stdout: string(capture), Times: 1})
	changed := strings.Replace(string(capture), "i598jaa0dbw19syybkb8ml9ls1ppspgi-source", "00000000000000000000000000000000-source", 1)
	f.Expect(command.Expect{Match: "nix --extra-experimental-features nix-command flakes flake metadata --json path:/tmp/h16t/site --no-write-lock-file", Stdout: changed, Times: 1})
	f.Expect(command.Expect{Match: "nix --extra-experimental-features nix-command flakes flake metadata --json path:/tmp/h16t/site --no-write-lock-file", Stdout: "{}"})
	n := Nix{Runner: f, Bin: "nix"}
	a, err := n.Fingerprint(context.Background(), "path:/tmp/h16t/site")
	require.NoError(t, err)
	b, err := n.Fingerprint(context.Background(), "path:/tmp/h16t/site")
	require.NoError(t, err)
	assert.NotEqual(t, a, b, "another source, another fingerprint")
	_, err = n.Fingerprint(context.Background(), "path:/tmp/h16t/site")
	assert.ErrorContains(t, err, "no source path and lock")
}
