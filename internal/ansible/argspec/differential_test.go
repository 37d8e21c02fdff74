package argspec

import (
	"bufio"
	"compress/gzip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/business-operations/bo.microvm/internal/ansible/pyvalue"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestValidateAgreesWithAnsibleCoreOnRandomInputs replays testdata/differential: random
// parameters for richSpec (2000 per file), each with what ansible-core's
// ModuleArgumentSpecValidator made of it (errors, parameters, warnings, no_log values).
// Inputs on which ansible-core itself crashed are skipped. To make them again:
//
//	python3 gen.py 1 2000 > in.jsonl
//	python3 validate.py < in.jsonl | gzip -9 > rich-2.14.jsonl.gz
//	tests/lab/controller 2.19 sh -c 'python3 validate.py < in.jsonl' | gzip -9 > rich-2.19.jsonl.gz
//
// (20000 inputs of seed 7 agreed as well.)
func TestValidateAgreesWithAnsibleCoreOnRandomInputs(t *testing.T) {
	files := []struct {
		name string
		prof Profile
	}{
		{"rich-2.14.jsonl.gz", Profile{}},
		{"rich-2.19.jsonl.gz", Profile{v219: true}},
	}
	for _, f := range files {
		t.Run(f.name, func(t *testing.T) {
			file, err := os.Open(filepath.Join("testdata", "differential", f.name))
			require.NoError(t, err)
			defer file.Close()
			gz, err := gzip.NewReader(file)
			require.NoError(t, err)
			sc := bufio.NewScanner(gz)
			sc.Buffer(nil, 1<<20)
			n, checked := 0, 0
			for sc.Scan() {
				n++
				line, err := pyvalue.DecodeJSON(sc.Bytes())
				require.NoError(t, err)
				c := line.(map[string]any)
				if _, crashed := c["crash"]; crashed {
					continue
				}
				checked++
				in := c["in"].(map[string]any)
				v := validate(f.prof, richSpec, in)
				want := c["errors"].([]any)
				got := make([]any, len(v.Errors))
				for i, e := range v.Errors {
					got[i] = sortedBooleans(randomSupported(e))
				}
				for i, e := range want {
					want[i] = sortedBooleans(randomSupported(e.(string)))
				}
				if !assert.Equal(t, want, got, "errors for %s", pyvalue.Repr(in)) {
					continue
				}
				assert.True(t, pyvalue.Equal(c["params"], map[string]any(v.Params)) && pyvalue.SameKinds(c["params"], map[string]any(v.Params)),
					"parameters for %s:\nwant %s\ngot  %s", pyvalue.Repr(in), pyvalue.Repr(c["params"]), pyvalue.Repr(map[string]any(v.Params)))
				warnings := make([]any, len(v.Warnings))
				for i, w := range v.Warnings {
					warnings[i] = w
				}
				assert.Equal(t, c["warnings"], warnings, "warnings for %s", pyvalue.Repr(in))
				noLog := make([]any, 0)
				for _, s := range v.NoLogValues() {
					noLog = append(noLog, s)
				}
				if len(want) > 0 && noLogFailed.MatchString(want[0].(string)) {
					continue // ansible-core then loses every no_log value; this package keeps them
				}
				assert.Equal(t, c["nolog"], noLog, "no_log values for %s", pyvalue.Repr(in))
			}
			require.NoError(t, sc.Err())
			require.Greater(t, checked, n/2, "most inputs must be checked")
		})
	}
}

// noLogFailed matches the errors of _list_no_log_values, after which ansible-core has no
// no_log values at all.
var noLogFailed = regexp.MustCompile(`^(dictionary requested|unable to evaluate|Value '.*' in the sub parameter field)`)

// randomSupported drops the supported-parameters list from an unsupported-parameters error
// that names options of several levels: ansible-core then lists those of a random one.
func randomSupported(msg string) string {
	names, _, ok := strings.Cut(msg, ". Supported parameters include: ")
	if !ok {
		return msg
	}
	parents := map[string]bool{}
	for _, n := range strings.Split(names, ", ") {
		parents[n[:max(strings.LastIndex(n, "."), 0)]] = true
	}
	if len(parents) > 1 {
		return names + ". Supported parameters include: (one level's)"
	}
	return msg
}
