package argspec

import (
	"bufio"
	"compress/gzip"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/business-operations/bo.microvm/internal/ansible/pyvalue"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConvertAgreesWithAnsibleCoreOnRandomValues replays testdata/differential/convert-*:
// random strings for the dict, int, float, bool, bytes and bits checkers (Python literals,
// key=value pairs, numbers, sizes), each with what ansible-core's checker made of it. To
// make them again (conv.py in place of validate.py, as for the other files):
//
//	python3 genconv.py 3 5000 > in.jsonl
//	python3 conv.py < in.jsonl | gzip -9 > convert-2.14.jsonl.gz
//
// (40000 values of seed 11 agreed as well.)
func TestConvertAgreesWithAnsibleCoreOnRandomValues(t *testing.T) {
	files := []struct {
		name string
		prof Profile
	}{
		{"convert-2.14.jsonl.gz", Profile{}},
		{"convert-2.19.jsonl.gz", Profile{v219: true}},
	}
	for _, f := range files {
		t.Run(f.name, func(t *testing.T) {
			file, err := os.Open(filepath.Join("testdata", "differential", f.name))
			require.NoError(t, err)
			defer file.Close()
			gz, err := gzip.NewReader(file)
			require.NoError(t, err)
			sc := bufio.NewScanner(gz)
			n, checked := 0, 0
			for sc.Scan() {
				n++
				line, err := pyvalue.DecodeJSON(sc.Bytes())
				require.NoError(t, err)
				c := line.(map[string]any)
				if _, crashed := c["crash"]; crashed {
					continue
				}
				if f, isFloat := c["ok"].(float64); isFloat && c["type"] != "float" && c["type"] != "dict" {
					assert.Greater(t, math.Abs(f), float64(math.MaxInt64), "only ints beyond int64 may differ")
					continue // Python's big ints: this package refuses them
				}
				checked++
				got, err := f.prof.convert(Type(c["type"].(string)), c["in"])
				if want, failed := c["err"]; failed {
					if assert.Error(t, err, "%s from %s", c["type"], pyvalue.Repr(c["in"])) {
						assert.Equal(t, sortedBooleans(want.(string)), sortedBooleans(err.Error()), "%s from %s", c["type"], pyvalue.Repr(c["in"]))
					}
					continue
				}
				if assert.NoError(t, err, "%s from %s", c["type"], pyvalue.Repr(c["in"])) {
					assert.True(t, (pyvalue.Equal(c["ok"], got) || bothNaN(c["ok"], got)) && pyvalue.SameKinds(c["ok"], got), "%s from %s: want %s, got %s", c["type"], pyvalue.Repr(c["in"]), pyvalue.Repr(c["ok"]), pyvalue.Repr(got))
				}
			}
			require.NoError(t, sc.Err())
			require.Greater(t, checked, n/2, "most values must be checked")
		})
	}
}

func bothNaN(a, b any) bool {
	fa, okA := a.(float64)
	fb, okB := b.(float64)
	return okA && okB && math.IsNaN(fa) && math.IsNaN(fb)
}
