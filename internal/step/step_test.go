package step

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func needed(b bool) func(context.Context) (bool, string, error) {
	return func(context.Context) (bool, string, error) { return b, "because", nil }
}

func TestRun(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name     string
		kind     Kind
		need     bool
		check    bool
		doErr    error
		status   Status
		changed  bool
		doCalled bool
	}{
		{"a needed change runs and counts", Change, true, false, nil, Changed, true, true},
		{"a change that is not needed is ok and does not run", Change, false, false, nil, OK, false, false},
		{"check mode never runs a change and predicts it", Change, true, true, nil, WouldChange, true, false},
		{"a wait runs and never counts as a change", Wait, true, false, nil, Waited, false, true},
		{"check mode never runs a wait", Wait, true, true, nil, WouldWait, false, false},
		{"a read runs in check mode too", Read, true, true, nil, OK, false, true},
		{"a failed action is reported failed", Change, true, false, boom, Failed, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			called := false
			s := Step{Title: "t", Kind: tt.kind, Check: needed(tt.need), Do: func(context.Context) error { called = true; return tt.doErr }}
			var rep Report
			err := Run(context.Background(), []Step{s}, tt.check, &rep)
			if tt.doErr != nil {
				var se *Error
				require.ErrorAs(t, err, &se)
				assert.Equal(t, "t", se.Step)
				assert.ErrorIs(t, err, boom)
			} else {
				require.NoError(t, err)
			}
			require.Len(t, rep.Steps, 1)
			assert.Equal(t, tt.status, rep.Steps[0].Status)
			assert.Equal(t, tt.changed, rep.Changed)
			assert.Equal(t, tt.doCalled, called)
		})
	}
}

func TestRunStopsAtFailureAndUndoesWhatRanLatestFirst(t *testing.T) {
	var undone []string
	mk := func(title string, err error) Step {
		return Step{Title: title, Do: func(context.Context) error { return err },
			Cleanup: func(context.Context) error { undone = append(undone, title); return nil }}
	}
	var rep Report
	err := Run(context.Background(), []Step{mk("a", nil), mk("b", nil), mk("c", errors.New("no")), mk("d", nil)}, false, &rep)
	require.Error(t, err)
	assert.Equal(t, "c: no", err.Error())
	assert.Equal(t, []string{"b", "a"}, undone)
	assert.Len(t, rep.Steps, 3, "the step after the failure is not reported")
}

func TestRunCheckErrorFailsTheStep(t *testing.T) {
	var rep Report
	err := Run(context.Background(), []Step{{Title: "read", Check: func(context.Context) (bool, string, error) {
		return false, "", errors.New("unreadable")
	}}}, true, &rep)
	require.EqualError(t, err, "read: unreadable")
	assert.Equal(t, Failed, rep.Steps[0].Status)
}

func TestRunStopsWhenTheContextIsCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ran := false
	steps := []Step{{Title: "first", Do: func(context.Context) error { cancel(); return nil }},
		{Title: "second", Do: func(context.Context) error { ran = true; return nil }}}
	var rep Report
	require.ErrorIs(t, Run(ctx, steps, false, &rep), context.Canceled)
	assert.False(t, ran)
}
