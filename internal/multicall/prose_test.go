package multicall

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/business-operations/bo.microvm/internal/ansible"
)

func spec() ansible.Module {
	return ansible.Module{Name: "x", Spec: ansible.Spec{Options: []ansible.Option{
		{Name: "a"},
		{Name: "d", Type: ansible.Dict, Options: []ansible.Option{{Name: "b"}}},
	}}}
}

const head = "short_description: X\ndescription: [Does x.]\nexamples: |\n  - x:\n"

func TestADocFileMustDescribeExactlyTheSpecsOptions(t *testing.T) {
	m := spec()
	require.NoError(t, applyProse(&m, []byte(head+"options:\n  a: [One, Two]\n  d:\n    description: D.\n    suboptions:\n      b: B.\n"+
		"returns:\n  r: {description: R., returned: always, type: str, sample: s}\n")))
	assert.Equal(t, []string{"One", "Two"}, m.Spec.Options[0].Description)
	assert.Equal(t, []string{"B."}, m.Spec.Options[1].Options[0].Description)
	assert.Equal(t, "r", m.Returns[0].Name)
	assert.Equal(t, "s", m.Returns[0].Sample)

	for doc, want := range map[string]string{
		head + "options:\n  a: A.\n": "options: option d has no description",
		head + "options:\n  a: A.\n  d: {description: D., suboptions: {b: B.}}\n  c: C.\n":                    "options: [c] are not options of the spec",
		head + "options:\n  a: A.\n  d: {description: D., suboptions: {}}\n":                                  "options.d.suboptions: option b has no description",
		head + "options:\n  a: A.\n  d: {description: D., suboptions: {b: B.}}\nreturns:\n  r: {type: str}\n": "returns.r: description, returned and type are required",
		head + "notez: [x]\noptions: {a: A., d: {description: D., suboptions: {b: B.}}}\n":                    "unknown keys [notez]",
	} {
		m := spec()
		assert.EqualError(t, applyProse(&m, []byte(doc)), want)
	}
}
