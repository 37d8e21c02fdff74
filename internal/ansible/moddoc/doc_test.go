package moddoc

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/business-operations/bo.microvm/internal/ansible/argspec"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// sampleModule uses every documented feature of a spec.
var sampleModule = Doc{
	Name:             "sample",
	ShortDescription: "Manage a sample thing",
	Description:      []string{"Creates or removes a sample thing.", `Says "why" with quotes: and a colon.`},
	Notes:            []string{"Runs on the hypervisor as root."},
	CheckMode:        Full,
	DiffMode:         Partial,
	Options: []argspec.Option{
		{Name: "name", Required: true, Aliases: []string{"vm"}, Type: argspec.List, Elements: argspec.Str, Description: []string{"One VM or a list."}},
		{Name: "state", Choices: []any{"present", "absent"}, Default: "present", Description: []string{"What to do."}},
		{Name: "size", Type: argspec.Int, Default: int64(512), VersionAdded: "0.2.0"},
		{Name: "force", Type: argspec.Bool, Default: false},
		{Name: "token", NoLog: true, Description: []string{"A secret."}},
		{Name: "volumes", Type: argspec.List, Elements: argspec.Dict, Description: []string{"Disks."}, Options: []argspec.Option{
			{Name: "path", Type: argspec.Path, Required: true, Description: []string{"Relative to the VM directory."}},
			{Name: "fs_type", Choices: []any{"ext4", "none"}, Default: "ext4"},
		}},
	},
	Examples: `
- name: Create the thing
  bo.microvm.sample:
    name: k0s-cp1

- name: Remove it
  bo.microvm.sample:
    name: k0s-cp1
    state: absent
`,
	Returns: []Return{
		{Name: "vms", Description: "Per VM.", Returned: "always", Type: "list", Elements: "dict", Contains: []Return{
			{Name: "name", Description: "The VM.", Returned: "always", Type: "str", Sample: "k0s-cp1"},
			{Name: "changed", Description: "Whether it changed.", Returned: "always", Type: "bool", Sample: true},
		}},
	},
}

func TestWriteDocRendersTheGoldenSidecar(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, Write(&b, sampleModule))
	golden := filepath.Join("testdata", "sample.yml")
	if *update {
		require.NoError(t, os.WriteFile(golden, b.Bytes(), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err, "run go test ./internal/ansible/moddoc -run TestWriteDoc -update to create it")
	assert.Equal(t, string(want), b.String(), "run go test ./internal/ansible/moddoc -run TestWriteDoc -update after a deliberate change")
}

func TestWriteDocWithoutReturnsOrOptions(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, Write(&b, Doc{Name: "bare", ShortDescription: "Bare"}))
	assert.Contains(t, b.String(), "\n  options: {}\n")
	assert.Contains(t, b.String(), "\n  description: []\n", "an empty list is a list, not null")
	assert.Contains(t, b.String(), "\nRETURN: {}\n")
	assert.Contains(t, b.String(), "\n      support: \"none\"\n", "check mode support defaults to none")
}
